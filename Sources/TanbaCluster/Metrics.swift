import Synchronization

/// Request counts and latency histograms per operation, rendered in the Prometheus text
/// exposition format by `prometheusText` (the ops endpoint adds gauges: gallery size, shard
/// map, queue depth). Kept dependency-free so cluster logic and tests need no metrics stack.
public final class ClusterMetrics: Sendable {
    public static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Series {
        var count = 0
        var failures = 0
        var sum = 0.0
        var buckets = [Int](repeating: 0, count: ClusterMetrics.buckets.count)
    }

    private let series = Mutex<[String: Series]>([:])
    private let counters = Mutex<[String: Int]>([:])

    public init() {}

    public func observe(operation: String, seconds: Double, failed: Bool) {
        series.withLock { all in
            var s = all[operation] ?? Series()
            s.count += 1
            if failed { s.failures += 1 }
            s.sum += seconds
            for (i, b) in Self.buckets.enumerated() where seconds <= b { s.buckets[i] += 1 }
            all[operation] = s
        }
    }

    /// Named event counters (replica retries, partial answers, reloads, …).
    public func increment(_ name: String, by n: Int = 1) {
        counters.withLock { $0[name, default: 0] += n }
    }

    public func counter(_ name: String) -> Int { counters.withLock { $0[name] ?? 0 } }

    public func requests(_ operation: String) -> Int { series.withLock { $0[operation]?.count ?? 0 } }

    /// Prometheus text format for the histograms and counters, names prefixed `tanba_`.
    public func prometheusText(role: String) -> String {
        var out = "# HELP tanba_requests_total Requests handled, by operation and outcome.\n# TYPE tanba_requests_total counter\n"
        let all = series.withLock { $0 }.sorted { $0.key < $1.key }
        for (op, s) in all {
            out += "tanba_requests_total{role=\"\(role)\",operation=\"\(op)\",outcome=\"ok\"} \(s.count - s.failures)\n"
            out += "tanba_requests_total{role=\"\(role)\",operation=\"\(op)\",outcome=\"error\"} \(s.failures)\n"
        }
        out += "# HELP tanba_request_duration_seconds Request latency, by operation.\n# TYPE tanba_request_duration_seconds histogram\n"
        for (op, s) in all {
            for (i, b) in Self.buckets.enumerated() {
                out += "tanba_request_duration_seconds_bucket{role=\"\(role)\",operation=\"\(op)\",le=\"\(b)\"} \(s.buckets[i])\n"
            }
            out += "tanba_request_duration_seconds_bucket{role=\"\(role)\",operation=\"\(op)\",le=\"+Inf\"} \(s.count)\n"
            out += "tanba_request_duration_seconds_sum{role=\"\(role)\",operation=\"\(op)\"} \(s.sum)\n"
            out += "tanba_request_duration_seconds_count{role=\"\(role)\",operation=\"\(op)\"} \(s.count)\n"
        }
        out += "# HELP tanba_events_total Cluster events (replica retries, partial answers, shard loads, …).\n# TYPE tanba_events_total counter\n"
        for (name, n) in counters.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out += "tanba_events_total{role=\"\(role)\",event=\"\(name)\"} \(n)\n"
        }
        return out
    }
}

extension Coordinator {
    /// Counters and histograms plus gauges: gallery size, shard map, serving replicas, queue depth.
    public func prometheusText() -> String {
        let s = status()
        var out = metrics.prometheusText(role: "coordinator")
        out += "# HELP tanba_gallery_persons Persons enrolled (current enrollments).\n# TYPE tanba_gallery_persons gauge\n"
        out += "tanba_gallery_persons \(s.persons)\n"
        out += "# HELP tanba_gallery_fingers Finger records enrolled.\n# TYPE tanba_gallery_fingers gauge\n"
        out += "tanba_gallery_fingers \(s.fingers)\n"
        out += "# HELP tanba_shard_map_version Version of the shard placement.\n# TYPE tanba_shard_map_version gauge\n"
        out += "tanba_shard_map_version \(s.mapVersion)\n"
        out += "# HELP tanba_shards Shards in the map.\n# TYPE tanba_shards gauge\ntanba_shards \(s.shardCount)\n"
        out += "# HELP tanba_shards_unserved Shards with no serving replica (answers are partial).\n# TYPE tanba_shards_unserved gauge\n"
        out += "tanba_shards_unserved \(s.unservedShards.count)\n"
        out += "# HELP tanba_worker_shards Shards placed on and served by each worker.\n# TYPE tanba_worker_shards gauge\n"
        for w in s.workers {
            out += "tanba_worker_shards{worker=\"\(w.name)\",kind=\"placed\"} \(w.placed.count)\n"
            out += "tanba_worker_shards{worker=\"\(w.name)\",kind=\"serving\"} \(w.serving.count)\n"
        }
        out += "# HELP tanba_worker_reachable Whether the worker answered the coordinator's last status call.\n# TYPE tanba_worker_reachable gauge\n"
        for w in s.workers { out += "tanba_worker_reachable{worker=\"\(w.name)\"} \(w.reachable ? 1 : 0)\n" }
        out += "# HELP tanba_queue_depth Requests in progress plus enrollments held for adjudication.\n# TYPE tanba_queue_depth gauge\n"
        out += "tanba_queue_depth \(pendingJobs)\n"
        out += "# HELP tanba_held_enrollments Enrollments held for adjudication.\n# TYPE tanba_held_enrollments gauge\n"
        out += "tanba_held_enrollments \(s.heldEnrollments)\n"
        return out
    }
}

extension ClusterWorker {
    public func prometheusText() -> String {
        var out = metrics.prometheusText(role: "worker")
        out += "# HELP tanba_gallery_persons Persons held in this worker's shards.\n# TYPE tanba_gallery_persons gauge\n"
        out += "tanba_gallery_persons \(persons)\n"
        out += "# HELP tanba_gallery_fingers Finger records held.\n# TYPE tanba_gallery_fingers gauge\ntanba_gallery_fingers \(fingers)\n"
        out += "# HELP tanba_worker_shards Shards held here, by state.\n# TYPE tanba_worker_shards gauge\n"
        out += "tanba_worker_shards{kind=\"held\"} \(heldShards.count)\ntanba_worker_shards{kind=\"serving\"} \(servedShards.count)\n"
        out += "# HELP tanba_queue_depth Requests in progress.\n# TYPE tanba_queue_depth gauge\ntanba_queue_depth \(pendingJobs)\n"
        return out
    }

    /// JSON status for the ops endpoint.
    public func statusDocument() -> String {
        "{\"node\": \"\(name)\", \"held\": \(heldShards), \"serving\": \(servedShards), \"persons\": \(persons), \"fingers\": \(fingers)}"
    }
}
