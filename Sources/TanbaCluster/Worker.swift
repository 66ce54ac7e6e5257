import Foundation
import Logging
import Synchronization
import TanbaCore
import TanbaMatch
import TanbaWire

/// A matching worker: holds the gallery shards the coordinator placed on it and answers
/// per-shard search, verify, upsert, remove, load and drop requests.
///
/// A shard is *served* only once its load completed (`ShardLoad.complete`); until then a
/// search names it as missing, so the coordinator asks another replica — a half-loaded
/// shard never answers "no match". Only the coordinator(s) named in `coordinators` may send
/// shard operations.
public final class ClusterWorker: Sendable {
    public struct Options: Sendable {
        /// Penetration used when a search does not say (share of each shard's fingers given to
        /// the full comparator after the prefilter).
        public var penetration: Double = 0.01
        /// Persons shortlisted at least per shard (fused strategy) / shortlist floor per probe
        /// finger and shard (per-finger strategy).
        public var minimumShortlist: Int = 24
        /// log2 of the prefilter buckets per table of each (shard, finger) gallery: 8 tables ×
        /// 2^bits × 8 B (14: 1 MiB per gallery, 10 MiB per ten-print shard).
        public var bucketBits: Int = 14
        /// How a multi-finger probe is searched (`TenPrintSearchOptions.Strategy`).
        public var strategy: TenPrintSearchOptions.Strategy = .fusedPrefilter
        public init() {}
    }

    /// One shard: one gallery per finger position (a probe's right thumb is compared with
    /// enrolled right thumbs only), and who is in it.
    final class Shard: Sendable {
        struct State {
            var persons: [UInt64: [FingerPosition]] = [:]
            var complete = false
            var galleries: [FingerPosition: GalleryShard] = [:]
        }
        let state = Mutex(State())
        let encoder: CylinderEncoder
        let hasher: CylinderHasher
        let comparator: TemplateComparator
        init(encoder: CylinderEncoder, hasher: CylinderHasher, comparator: TemplateComparator) {
            self.encoder = encoder
            self.hasher = hasher
            self.comparator = comparator
        }
        var persons: Int { state.withLock { $0.persons.count } }
        var complete: Bool { state.withLock { $0.complete } }
        var fingers: Int { state.withLock { $0.galleries.values.reduce(0) { $0 + $1.count } } }

        func gallery(_ position: FingerPosition, create: Bool = false) -> GalleryShard? {
            state.withLock { s in
                if let g = s.galleries[position] { return g }
                guard create else { return nil }
                let g = GalleryShard(encoder: encoder, hasher: hasher, comparator: comparator)
                s.galleries[position] = g
                return g
            }
        }

        func upsert(_ entry: ShardEntry) {
            remove(entry.subject)
            for view in entry.record.views {
                gallery(view.position, create: true)!.add(GalleryKey(subject: entry.subject, position: view.position), template: view)
            }
            state.withLock { $0.persons[entry.subject] = entry.record.views.map(\.position) }
        }

        /// Adds a load batch. Preparing each finger (cylinders, MinHash keys) is most of a
        /// load's cost and takes no lock, so it runs on every core; the prepared fingers then
        /// go into their galleries one after another.
        func load(_ entries: [ShardEntry]) {
            let fingers = entries.indices.flatMap { e in entries[e].record.views.indices.map { (entry: e, view: $0) } }
            guard !fingers.isEmpty else { return }
            let galleries = Dictionary(uniqueKeysWithValues: Set(fingers.map { entries[$0.entry].record.views[$0.view].position })
                .map { ($0, gallery($0, create: true)!) })
            let prepared = ResultSlots<GalleryShard.PreparedFinger>(count: fingers.count)
            let threads = min(ProcessInfo.processInfo.activeProcessorCount, fingers.count)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for i in stride(from: t, to: fingers.count, by: threads) {
                    let view = entries[fingers[i].entry].record.views[fingers[i].view]
                    prepared.set(i, galleries[view.position]!.prepare(view))
                }
            }
            let ready = prepared.values
            var i = 0
            for entry in entries {
                remove(entry.subject)
                for view in entry.record.views {
                    galleries[view.position]!.add(GalleryKey(subject: entry.subject, position: view.position), finger: ready[i])
                    i += 1
                }
                state.withLock { $0.persons[entry.subject] = entry.record.views.map(\.position) }
            }
        }

        @discardableResult
        func remove(_ subject: UInt64) -> Bool {
            let positions = state.withLock { $0.persons.removeValue(forKey: subject) }
            for position in positions ?? [] { gallery(position)?.remove(subject: subject) }
            return positions != nil
        }

        func compact() {
            for g in state.withLock({ Array($0.galleries.values) }) { g.compact() }
        }
    }

    public let name: String
    public let coordinators: Set<String>
    public let options: Options
    private let encoder = CylinderEncoder()
    private let comparator = TemplateComparator()
    private let hasher: CylinderHasher
    private let shards = Mutex<[UInt16: Shard]>([:])
    private let started = ContinuousClock.now
    private let inFlight = Atomic<Int>(0)
    public let metrics = ClusterMetrics()
    private let logger: Logger

    public init(name: String, coordinators: Set<String>, options: Options = .init(),
                logger: Logger = Logger(label: "tanba.worker")) {
        self.name = name
        self.coordinators = coordinators
        self.options = options
        hasher = CylinderHasher(geometry: encoder.geometry, bucketBits: options.bucketBits)
        var logger = logger
        logger[metadataKey: "node"] = .string(name)
        self.logger = logger
    }

    /// Shards loaded and served here.
    public var servedShards: [UInt16] { shards.withLock { $0.filter { $0.value.complete }.map(\.key).sorted() } }
    /// Every shard present (served or loading).
    public var heldShards: [UInt16] { shards.withLock { $0.keys.sorted() } }
    public var persons: Int { shards.withLock { $0.values.reduce(0) { $0 + $1.persons } } }
    public var fingers: Int { shards.withLock { Array($0.values) }.reduce(0) { $0 + $1.fingers } }
    public var pendingJobs: Int { inFlight.load(ordering: .relaxed) }

    /// The shards here (served or loading) in which `subject` is listed or has any finger
    /// in a gallery: a deletion must leave none, on every replica (tests, diagnostics).
    public func shards(holding subject: UInt64) -> [UInt16] {
        shards.withLock { Array($0) }.filter { _, shard in
            let (listed, galleries) = shard.state.withLock { ($0.persons[subject] != nil, Array($0.galleries)) }
            return listed || galleries.contains { position, gallery in
                gallery.template(GalleryKey(subject: subject, position: position)) != nil
            }
        }.map(\.key).sorted()
    }

    private func shard(_ id: UInt16, create: Bool = false) -> Shard? {
        shards.withLock { map in
            if let s = map[id] { return s }
            guard create else { return nil }
            let s = Shard(encoder: encoder, hasher: hasher, comparator: comparator)
            map[id] = s
            return s
        }
    }

    private func served(_ id: UInt16) -> Shard? {
        guard let s = shard(id), s.complete else { return nil }
        return s
    }

    /// The handler for `SignedService`.
    public func handle(sender: String, message: WireMessage) async -> WireMessage {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        let start = ContinuousClock.now
        let answer = await Offload.run { self.respond(sender: sender, message: message) }
        metrics.observe(operation: message.type.metricName, seconds: (ContinuousClock.now - start).seconds,
                        failed: { if case .error = answer { return true } else { return false } }())
        return answer
    }

    func respond(sender: String, message: WireMessage) -> WireMessage {
        switch message {
        case .ping(let nonce):
            return .pong(nonce: nonce, uptimeMilliseconds: uptime)
        case .status:
            return .statusAnswer(StatusAnswer(role: .worker, ready: true, uptimeMilliseconds: uptime, shards: servedShards,
                                              persons: UInt64(persons), pendingJobs: UInt32(max(0, pendingJobs - 1))))
        case .pendingJobs:
            return .pendingJobsAnswer(count: UInt32(max(0, pendingJobs - 1)))
        case .referenceCount:
            return .referenceCountAnswer(persons: UInt64(persons), fingers: UInt64(fingers),
                                         coverage: ShardCoverage(contributed: servedShards))
        case .cluster(let m):
            guard coordinators.contains(sender) else {
                logger.warning("shard operation refused", metadata: ["sender": .string(sender), "type": .string("\(m.type)")])
                return .error(code: .unauthenticated, message: "\(sender) may not send shard operations to \(name)")
            }
            return shardOperation(m)
        default:
            return .error(code: .unsupported, message: "a worker does not serve \(message.type); ask the coordinator")
        }
    }

    private var uptime: UInt64 { UInt64((ContinuousClock.now - started).milliseconds) }

    private func shardOperation(_ m: ClusterMessage) -> WireMessage {
        switch m {
        case .shardLoad(let load):
            let s = shard(load.shard, create: true)!
            if load.reset {
                let subjects = s.state.withLock { st -> [UInt64] in st.complete = false; return Array(st.persons.keys) }
                for subject in subjects { s.remove(subject) }
            }
            s.load(load.entries)
            if load.complete {
                s.compact()
                s.state.withLock { $0.complete = true }
                logger.info("shard loaded", metadata: ["shard": "\(load.shard)", "persons": "\(s.persons)",
                                                       "map_version": "\(load.mapVersion)"])
            }
            return .cluster(.shardLoadAnswer(ack(load.shard, s, changed: true)))
        case .shardUpsert(let id, let entry):
            // Upserts reach loading shards too: an enrollment during a move must not be lost.
            guard let s = shard(id) else {
                return .error(code: .notFound, message: "shard \(id) is not held by \(name)")
            }
            s.upsert(entry)
            return .cluster(.shardUpsertAnswer(ack(id, s, changed: true)))
        case .shardRemove(let id, let subject):
            guard let s = shard(id) else {
                return .error(code: .notFound, message: "shard \(id) is not held by \(name)")
            }
            let changed = s.remove(subject)
            return .cluster(.shardRemoveAnswer(ack(id, s, changed: changed)))
        case .shardDrop(let id):
            let removed = shards.withLock { $0.removeValue(forKey: id) }
            logger.info("shard dropped", metadata: ["shard": "\(id)", "held": "\(removed != nil)"])
            return .cluster(.shardDropAnswer(ShardAck(shard: id, persons: 0, serving: false, changed: removed != nil)))
        case .shardSearch(let request):
            return .cluster(.shardSearchAnswer(search(request)))
        case .shardVerify(let request):
            guard let s = served(request.shard) else {
                return .cluster(.shardVerifyAnswer(ShardVerifyAnswer(found: false, fusedScore: 0, fingerScores: [],
                                                                     coverage: ShardCoverage(missing: [request.shard]))))
            }
            guard s.state.withLock({ $0.persons[request.subject] != nil }) else {
                return .cluster(.shardVerifyAnswer(ShardVerifyAnswer(found: false, fusedScore: 0, fingerScores: [],
                                                                     coverage: ShardCoverage(contributed: [request.shard]))))
            }
            let probes = request.probe.views.map { ($0.position, encoder.encode($0)) }
            let (fused, scores) = score(subject: request.subject, probes: probes, in: s, known: [:])
            return .cluster(.shardVerifyAnswer(ShardVerifyAnswer(found: true, fusedScore: fused, fingerScores: scores,
                                                                 coverage: ShardCoverage(contributed: [request.shard]))))
        case .admin:
            return .error(code: .unsupported, message: "admin requests go to the coordinator")
        default:
            return .error(code: .unsupported, message: "\(m.type) is not a request")
        }
    }

    private func ack(_ id: UInt16, _ s: Shard, changed: Bool) -> ShardAck {
        ShardAck(shard: id, persons: UInt64(s.persons), serving: s.complete, changed: changed)
    }

    /// Per shard: one multi-finger search (`TenPrintSearch`: prefilter scores fused per
    /// person, a short person list, every probe finger of those persons through the full
    /// comparator). Fused score = mean of the per-finger scores over the probe's fingers (a
    /// finger the person lacks scores 0).
    func search(_ request: ShardSearch) -> ShardSearchAnswer {
        let probes = request.probe.views.map { (position: $0.position, template: encoder.encode($0)) }
        let penetration = request.penetration > 0 ? request.penetration : options.penetration
        let searchOptions = TenPrintSearchOptions(limit: request.limit, penetration: penetration,
                                                  minimumPersons: options.minimumShortlist, strategy: options.strategy)
        var contributed: [UInt16] = [], missing: [UInt16] = [], hits: [ShardHit] = []
        for id in request.shards {
            guard let s = served(id) else { missing.append(id); continue }
            contributed.append(id)
            let (galleries, persons) = s.state.withLock { ($0.galleries, $0.persons.count) }
            for c in TenPrintSearch.search(probes, in: galleries, persons: persons, options: searchOptions) {
                hits.append(ShardHit(subject: c.subject, fusedScore: c.fusedScore,
                                     fingerScores: zip(probes, c.fingerScores).map { FingerScore(position: $0.position, score: $1) }))
            }
        }
        hits.sort { $0.fusedScore != $1.fusedScore ? $0.fusedScore > $1.fusedScore : $0.subject < $1.subject }
        return ShardSearchAnswer(hits: Array(hits.prefix(request.limit)), coverage: ShardCoverage(contributed: contributed, missing: missing))
    }

    private func score(subject: UInt64, probes: [(FingerPosition, MatchTemplate)], in s: Shard,
                       known: [FingerPosition: Float]) -> (Float, [FingerScore]) {
        var scores: [FingerScore] = []
        for (position, probe) in probes {
            var value: Float = 0
            if let k = known[position] {
                value = k
            } else if let enrolled = s.gallery(position)?.template(GalleryKey(subject: subject, position: position)) {
                value = comparator.score(probe, enrolled)
            }
            scores.append(FingerScore(position: position, score: value))
        }
        let fused = scores.reduce(0) { $0 + $1.score } / Float(max(1, scores.count))
        return (fused, scores)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

extension MessageType {
    /// Label for metrics and logs.
    public var metricName: String { String(describing: self) }
}
