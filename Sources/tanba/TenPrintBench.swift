import ArgumentParser
import Foundation
import TanbaCore
import TanbaEvaluation
import TanbaMatch

/// `tanba bench tenprint`: one worker shard's multi-finger search in one process, without
/// the network: the cost per shard request that the cluster burst multiplies by the shard
/// count. Gallery: impression 0 of the synthetic persons the cluster's load tests use
/// (`Synthetic`, the same generator and seed as `tanba cluster seed`); probes: impressions
/// 1–3 of persons spread over the gallery (fresh impressions, never copies of the gallery).
struct TenPrintBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenprint",
        abstract: "Multi-finger 1:N search over one shard: fused prefilter vs one search per finger.",
        discussion: "Use --persons 12500 for the per-shard size of the issue-3 burst (100,000 persons over 8 shards).")

    @Option(help: "Persons in the shard (ten fingers each).") var persons: Int = 12_500
    @Option(help: "Probes (mated, impressions 1-3).") var probes: Int = 200
    @Option(help: "Fingers per probe (1-10).") var fingers: Int = 10
    @Option(help: "Penetration (comparator budget; see TenPrintSearchOptions).") var penetration: Double = 0.01
    @Option(help: "Persons shortlisted at least (per-finger: shortlist floor per finger).") var minimumPersons: Int = 24
    @Option(help: "Strategies to run: fused, per-finger (comma-separated).") var strategies: String = "fused,per-finger"
    @Option(help: "Searches run at once (a worker answers several shard requests at a time).") var parallel: Int = 1
    @Flag(help: "Print one JSON object.") var json = false

    struct Row: Encodable {
        var strategy: String
        var probes: Int
        var rank1: Double
        var p50_ms: Double, p95_ms: Double, mean_ms: Double
        var searches_per_s: Double
        var mean_comparisons: Double
        var mean_prefilter_ms: Double, mean_comparison_ms: Double
    }
    struct Report: Encodable {
        var persons: Int, fingers: Int, penetration: Double, minimum_persons: Int, parallel: Int
        var build_seconds: Double, rss_bytes_per_finger: Int
        var rows: [Row]
    }

    func run() throws {
        let chosen = try strategies.split(separator: ",").map { name in
            guard let s = TenPrintSearchOptions.Strategy(rawValue: String(name)) else { throw ValidationError("unknown strategy \(name)") }
            return s
        }
        let positions = Array(FingerPosition.tenPrint.prefix(fingers))
        let encoder = CylinderEncoder(), comparator = TemplateComparator()
        let hasher = CylinderHasher(geometry: encoder.geometry, bucketBits: 14)   // the worker's default
        var galleries: [FingerPosition: GalleryShard] = [:]
        for p in FingerPosition.tenPrint { galleries[p] = GalleryShard(encoder: encoder, hasher: hasher, comparator: comparator) }
        let rssBefore = residentSetBytes()
        let buildStart = ContinuousClock.now
        let progress = Progress("gallery", total: persons)
        let frozen = galleries
        DispatchQueue.concurrentPerform(iterations: ProcessInfo.processInfo.activeProcessorCount) { t in
            var p = t
            while p < persons {
                for view in Synthetic.record(person: p, impression: 0).views {
                    frozen[view.position]!.add(GalleryKey(subject: UInt64(p), position: view.position), template: view)
                }
                progress.advance()
                p += ProcessInfo.processInfo.activeProcessorCount
            }
        }
        for g in galleries.values { g.compact() }
        let buildSeconds = (ContinuousClock.now - buildStart).milliseconds / 1000
        let rss = Double(residentSetBytes() - rssBefore) / Double(persons * 10)
        let probeSet: [(person: Int, probe: [(position: FingerPosition, template: MatchTemplate)])] = (0..<probes).map { i in
            let person = (i &* 7919) % persons
            let record = Synthetic.record(person: person, impression: 1 + i % 3, fingers: fingers)
            return (person, record.views.map { (position: $0.position, template: encoder.encode($0)) })
        }
        _ = positions
        var rows: [Row] = []
        for strategy in chosen {
            let options = TenPrintSearchOptions(limit: 10, penetration: penetration, minimumPersons: minimumPersons, strategy: strategy)
            let times = ResultSlots<[(Double, Bool, TenPrintTrace)]>(count: parallel)
            let runProgress = Progress(strategy.rawValue, total: probes)
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: parallel) { t in
                var out: [(Double, Bool, TenPrintTrace)] = []
                var i = t
                while i < probeSet.count {
                    var trace = TenPrintTrace()
                    let t0 = ContinuousClock.now
                    let found = TenPrintSearch.search(probeSet[i].probe, in: frozen, persons: persons, options: options, trace: &trace)
                    out.append(((ContinuousClock.now - t0).milliseconds, found.first?.subject == UInt64(probeSet[i].person), trace))
                    runProgress.advance()
                    i += parallel
                }
                times.set(t, out)
            }
            let wall = (ContinuousClock.now - start).milliseconds / 1000
            let all = times.values.flatMap { $0 }
            let ms = all.map(\.0).sorted()
            func pct(_ q: Double) -> Double { ms[min(ms.count - 1, Int((q * Double(ms.count)).rounded(.up)) - 1)] }
            let n = Double(all.count)
            rows.append(Row(strategy: strategy.rawValue, probes: all.count,
                            rank1: (Double(all.filter(\.1).count) / n * 10000).rounded() / 10000,
                            p50_ms: r2(pct(0.5)), p95_ms: r2(pct(0.95)), mean_ms: r2(ms.reduce(0, +) / n),
                            searches_per_s: r2(n / wall),
                            mean_comparisons: r2(Double(all.reduce(0) { $0 + $1.2.comparisons }) / n),
                            mean_prefilter_ms: r2(Double(all.reduce(0) { $0 + $1.2.prefilterNanoseconds }) / n / 1e6),
                            mean_comparison_ms: r2(Double(all.reduce(0) { $0 + $1.2.comparisonNanoseconds }) / n / 1e6)))
        }
        let report = Report(persons: persons, fingers: fingers, penetration: penetration, minimum_persons: minimumPersons,
                            parallel: parallel, build_seconds: r2(buildSeconds), rss_bytes_per_finger: Int(rss.rounded()), rows: rows)
        if json { print(try Output.json(report)); return }
        print(String(format: "%d persons × 10 fingers built in %.1f s (%d B/finger by RSS growth); %d-finger probes, penetration %.4g, minimum %d persons, %d at once",
                     persons, buildSeconds, Int(rss.rounded()), fingers, penetration, minimumPersons, parallel))
        for r in rows {
            print("  \(r.strategy): rank-1 \(r.rank1 * 100)%, p50 \(r.p50_ms) ms, p95 \(r.p95_ms) ms, \(r.searches_per_s) searches/s, \(r.mean_comparisons) comparisons (prefilter \(r.mean_prefilter_ms) ms, comparator \(r.mean_comparison_ms) ms)")
        }
    }

    private func r2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
}
