import Foundation
import TanbaCore
import TanbaImaging
import TanbaMatch
import TanbaSynth

/// 1:N search over a gallery of real fingers hidden among synthetic background fingers.
public enum SearchBenchmark {
    public struct Result: Codable, Sendable {
        public var gallery: Int
        public var probes: Int
        public var penetration: Double
        public var probe_ms_p50: Double
        public var probe_ms_p95: Double
        /// The two stages separately (p50 / p95 of each over the probes).
        public var prefilter_ms_p50: Double
        public var prefilter_ms_p95: Double
        public var comparison_ms_p50: Double
        public var comparison_ms_p95: Double
        public var effective_comparisons_per_s: Double
        public var hit_rate_prefilter: Double
        public var hit_rate_exhaustive: Double
        /// Probes the exhaustive figure is based on, and the prefilter hit rate on those same probes.
        public var exhaustive_probes: Int
        public var hit_rate_prefilter_same_probes: Double
        public var bytes_per_finger: Int
        /// Growth of the process's resident set while the gallery was built, per finger.
        public var rss_bytes_per_finger: Int
        public var source: String
        public var build_seconds: Double
        /// Share of probes whose mate the prefilter keeps, by penetration.
        public var prefilter_recall: [String: Double]
        /// The same gallery and probes searched again at other penetrations.
        public var other_penetrations: [PenetrationPoint] = []

        public var summary: String {
            String(format: """
                gallery %d fingers (%@), %d probes, penetration %.3f
                probe time p50 %.1f ms, p95 %.1f ms (prefilter %.1f / %.1f, comparison %.1f / %.1f); %.0f effective comparisons/s
                rank-1 hit rate: prefilter %.2f%%; exhaustive %.2f%% vs prefilter %.2f%% on the same %d probes
                %d bytes payload per finger (%d by process RSS growth); gallery built in %.1f s
                prefilter keeps the mate: %@
                """, gallery, source, probes, penetration, probe_ms_p50, probe_ms_p95, prefilter_ms_p50, prefilter_ms_p95, comparison_ms_p50, comparison_ms_p95, effective_comparisons_per_s,
                   hit_rate_prefilter * 100, hit_rate_exhaustive * 100, hit_rate_prefilter_same_probes * 100,
                   exhaustive_probes, bytes_per_finger, rss_bytes_per_finger, build_seconds,
                   prefilter_recall.sorted { $0.key < $1.key }.map { "\($0.key): \(String(format: "%.1f%%", $0.value * 100))" }.joined(separator: ", "))
            + other_penetrations.map {
                String(format: "\npenetration %.4f: rank-1 %.2f%%, probe time p50 %.1f ms, p95 %.1f ms",
                       $0.penetration, $0.hit_rate_prefilter * 100, $0.probe_ms_p50, $0.probe_ms_p95)
            }.joined()
        }
    }

    struct Probe { let template: MatchTemplate; let subject: UInt64 }

    /// One more penetration on the same gallery: rank-1 hit rate and probe time.
    public struct PenetrationPoint: Codable, Sendable {
        public var penetration: Double
        public var hit_rate_prefilter: Double
        public var probe_ms_p50: Double
        public var probe_ms_p95: Double
    }

    /// - Parameter residentExhaustive: for the exhaustive figure, re-encode every gallery
    ///   finger once and keep the cylinders resident (~3.5 KiB per finger — a bench-only
    ///   luxury) instead of re-encoding the whole gallery for every probe. Makes exhaustive
    ///   search over all probes affordable at 1M (about 2 s per probe on 2 cores).
    public static func run(gallerySize: Int, penetration: Double, exhaustiveProbes: Int,
                           residentExhaustive: Bool = false, budgetByCylinders: Bool = SearchOptions().budgetByCylinders,
                           voteWeighting: VoteWeighting = SearchOptions().voteWeighting,
                           multiProbe: Bool = SearchOptions().multiProbe, exhaustiveCache: String? = nil,
                           otherPenetrations: [Double] = [],
                           realSets: [FingerprintSet], seed: UInt64 = 42) throws -> Result {
        let encoder = CylinderEncoder()
        let rssBefore = residentSetBytes()
        let shard = GalleryShard(encoder: encoder)
        var probes = [Probe]()
        var keys = [GalleryKey]()
        var source: String
        let buildStart = Date()

        // Mated fingers: real ones when available.
        if !realSets.isEmpty {
            source = "\(realSets.count) FVC sets + synthetic background"
            for (s, set) in realSets.enumerated() {
                let e = ExtractedSet(set, extractor: MinutiaeExtractor(), progress: Progress("extracting \(set.name)", total: set.images.count))
                for (k, image) in set.images.enumerated() {
                    guard let t = e.templates[k], let finger = UInt64(image.finger) else { continue }
                    let subject = UInt64(s + 1) << 40 | finger
                    if image.impression == 1 {
                        keys.append(GalleryKey(subject: subject, position: .unknown))
                        shard.add(keys[keys.count - 1], template: t)
                    } else {
                        probes.append(Probe(template: encoder.encode(t), subject: subject))
                    }
                }
            }
        } else {
            source = "synthetic only"
            let g = SyntheticTemplateGenerator(seed: seed &+ 1)
            for f in 0..<100 {
                let master = g.master(finger: UInt64(f))
                let subject = UInt64(1) << 40 | UInt64(f)
                keys.append(GalleryKey(subject: subject, position: .unknown))
                shard.add(keys[keys.count - 1], template: g.impression(of: master, index: 0))
                for i in 1...3 { probes.append(Probe(template: encoder.encode(g.impression(of: master, index: i)), subject: subject)) }
            }
        }

        // Background: distinct synthetic fingers, built in parallel, added in order.
        let background = max(0, gallerySize - shard.count)
        let generator = SyntheticTemplateGenerator(seed: seed)
        let chunk = 4096
        let chunks = (background + chunk - 1) / chunk
        let progress = Progress("building background gallery", total: background)
        var next = 0
        while next < chunks {
            let batch = min(chunks - next, 8)
            let built = ResultSlots<[MatchTemplate]>(count: batch)
            let base = next
            DispatchQueue.concurrentPerform(iterations: batch) { b in
                let c = base + b
                let lo = c * chunk, hi = min(background, lo + chunk)
                var out = [MatchTemplate]()
                out.reserveCapacity(hi - lo)
                for k in lo..<hi {
                    out.append(encoder.encode(generator.impression(of: generator.master(finger: UInt64(10_000_000 + k)), index: 0)))
                }
                built.set(b, out)
                progress.advance(by: hi - lo)
            }
            for (b, templates) in built.values.enumerated() {
                for (k, t) in templates.enumerated() {
                    keys.append(GalleryKey(subject: UInt64((base + b) * chunk + k), position: .unknown))
                    shard.add(keys[keys.count - 1], prepared: t)
                }
            }
            next += batch
        }
        shard.compact()
        let buildSeconds = Date().timeIntervalSince(buildStart)
        let rssPerFinger = Double(residentSetBytes() - rssBefore) / Double(max(1, shard.count))

        // How deep into the prefilter ranking each probe's mate sits.
        var ranks = [Double]()
        let options = SearchOptions(limit: 1, penetration: penetration, budgetByCylinders: budgetByCylinders,
                                    voteWeighting: voteWeighting, multiProbe: multiProbe)
        for p in probes { ranks.append(shard.prefilterRank(p.template, subject: p.subject, options: options) ?? 1) }
        var recall = [String: Double]()
        for depth in [0.001, 0.005, 0.01, 0.05, 0.1] {
            recall[String(format: "%.3f", depth)] = Double(ranks.filter { $0 < depth }.count) / Double(max(1, ranks.count))
        }

        // Two-stage search for every probe.
        var times = [Double](), hits = [Bool](), stageOne = [Double](), stageTwo = [Double]()
        let searchProgress = Progress("searching", total: probes.count)
        for p in probes {
            let start = DispatchTime.now().uptimeNanoseconds
            var trace = SearchTrace()
            let c = shard.search(p.template, options: options, trace: &trace)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            stageOne.append(Double(trace.prefilterNanoseconds) / 1e6)
            stageTwo.append(Double(trace.comparisonNanoseconds) / 1e6)
            hits.append(c.first?.key.subject == p.subject)
            searchProgress.advance()
        }
        var others = [PenetrationPoint]()
        for other in otherPenetrations {
            var o = options
            o.penetration = other
            var otherTimes = [Double](), otherHits = 0
            let progress = Progress("searching at penetration \(other)", total: probes.count)
            for p in probes {
                let start = DispatchTime.now().uptimeNanoseconds
                if shard.search(p.template, options: o).first?.key.subject == p.subject { otherHits += 1 }
                otherTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                progress.advance()
            }
            otherTimes.sort()
            others.append(PenetrationPoint(penetration: other, hit_rate_prefilter: Double(otherHits) / Double(max(1, probes.count)),
                                           probe_ms_p50: otherTimes.isEmpty ? 0 : otherTimes[otherTimes.count / 2],
                                           probe_ms_p95: otherTimes.isEmpty ? 0 : otherTimes[min(otherTimes.count - 1, Int(0.95 * Double(otherTimes.count)))]))
        }
        // Exhaustive search on an evenly spread subset of the probes.
        let m = min(exhaustiveProbes, probes.count)
        var exhaustiveHits = 0, prefilterHitsSame = 0
        if m > 0 {
            // Exhaustive answers do not depend on the prefilter, so they can be cached between
            // runs that vary only the prefilter's settings (same gallery size, seed and probes).
            let cacheTag = "gallery \(shard.count) seed \(seed) probes \(probes.count) exhaustive \(m) \(source)"
            var best = exhaustiveCache.flatMap { ExhaustiveCache.load(path: $0, tag: cacheTag) } ?? []
            if best.count != m {
                best = []
                let resident = residentExhaustive ? residentTemplates(shard, keys: keys) : []
                let exhaustiveProgress = Progress("exhaustive search", total: m)
                for k in 0..<m {
                    let idx = k * probes.count / m
                    let subject = residentExhaustive
                        ? bestCandidate(probes[idx].template, resident: resident, keys: keys)
                        : shard.search(probes[idx].template, options: SearchOptions(limit: 1, penetration: 1)).first?.key.subject
                    best.append(subject ?? .max)
                    exhaustiveProgress.advance()
                }
                if let path = exhaustiveCache { try ExhaustiveCache.save(best, path: path, tag: cacheTag) }
            }
            for k in 0..<m {
                let idx = k * probes.count / m
                if best[k] == probes[idx].subject { exhaustiveHits += 1 }
                if hits[idx] { prefilterHitsSame += 1 }
            }
        }
        func pct(_ values: [Double], _ q: Double) -> Double {
            let sorted = values.sorted()
            return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]
        }
        func pct(_ q: Double) -> Double { pct(times, q) }
        let mean = times.reduce(0, +) / Double(max(1, times.count))
        return Result(gallery: shard.count, probes: probes.count, penetration: penetration,
                      probe_ms_p50: pct(0.5), probe_ms_p95: pct(0.95),
                      prefilter_ms_p50: pct(stageOne, 0.5), prefilter_ms_p95: pct(stageOne, 0.95),
                      comparison_ms_p50: pct(stageTwo, 0.5), comparison_ms_p95: pct(stageTwo, 0.95),
                      effective_comparisons_per_s: mean > 0 ? Double(shard.count) / (mean / 1000) : 0,
                      hit_rate_prefilter: Double(hits.filter { $0 }.count) / Double(max(1, hits.count)),
                      hit_rate_exhaustive: m > 0 ? Double(exhaustiveHits) / Double(m) : 0,
                      exhaustive_probes: m,
                      hit_rate_prefilter_same_probes: m > 0 ? Double(prefilterHitsSame) / Double(m) : 0,
                      bytes_per_finger: Int(shard.residentBytesPerFinger.rounded()),
                      rss_bytes_per_finger: Int(rssPerFinger.rounded()),
                      source: source, build_seconds: buildSeconds, prefilter_recall: recall, other_penetrations: others)
    }
}

extension SearchBenchmark {
    /// Every gallery finger's prepared template, as stage two would rebuild it.
    static func residentTemplates(_ shard: GalleryShard, keys: [GalleryKey]) -> [MatchTemplate] {
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let out = ResultSlots<[MatchTemplate]>(count: threads)
        let progress = Progress("re-encoding the gallery for exhaustive search", total: keys.count)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var mine = [MatchTemplate]()
            for k in Swift.stride(from: t, to: keys.count, by: threads) {
                mine.append(shard.template(keys[k])!)
                if mine.count % 1024 == 0 { progress.advance(by: 1024) }
            }
            out.set(t, mine)
        }
        let parts = out.values
        return (0..<keys.count).map { parts[$0 % threads][$0 / threads] }
    }

    /// Subject of the best-scoring gallery finger (ties: the smaller subject, as `GalleryShard`).
    static func bestCandidate(_ probe: MatchTemplate, resident: [MatchTemplate], keys: [GalleryKey]) -> UInt64? {
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let comparator = TemplateComparator()
        let out = ResultSlots<(Float, UInt64)>(count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var scratch = TemplateComparator.Scratch()
            var best: (Float, UInt64) = (-1, .max)
            for k in Swift.stride(from: t, to: resident.count, by: threads) {
                let s = comparator.score(probe, resident[k], scratch: &scratch)
                if s > best.0 || (s == best.0 && keys[k].subject < best.1) { best = (s, keys[k].subject) }
            }
            out.set(t, best)
        }
        return out.values.max { a, b in a.0 != b.0 ? a.0 < b.0 : a.1 > b.1 }?.1
    }
}

/// Best subjects of an exhaustive run, kept in a small text file: a tag line naming the
/// gallery, then one subject per probe.
enum ExhaustiveCache {
    static func load(path: String, tag: String) -> [UInt64]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var lines = text.split(separator: "\n").map(String.init)
        guard lines.first == tag else { return nil }
        lines.removeFirst()
        let values = lines.compactMap { UInt64($0) }
        return values.count == lines.count ? values : nil
    }

    static func save(_ best: [UInt64], path: String, tag: String) throws {
        try ([tag] + best.map(String.init)).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// Resident set size of this process (Linux /proc/self/statm), 0 where unavailable.
public func residentSetBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
