import Foundation
import TanbaCore
import TanbaImaging
import TanbaMatch
import TanbaSynth

/// Research bench for the 1:N prefilter (`tanba bench prefilter-study`): how deep in the
/// gallery ranking each probe's mate lands under candidate whole-gallery scores, next to
/// the full comparator. Gallery cylinders are kept resident, which a production shard
/// cannot afford (about 3 KiB per finger) — this is for choosing a design, not for speed.
///
/// Scores compared:
/// - `full`: the comparator itself (exhaustive search; defines which probes are rank-1 hits);
/// - `minhash`: the shard's MinHash index (what `GalleryShard` ships today);
/// - `lss-top12`: mean of the 12 best column maxima of the exact cylinder similarity
///   matrix (LSS without relaxation): an upper bound for any cylinder-based prefilter;
/// - `pq8-k256`, `pq8-k1024`: the same score on product-quantised gallery cylinders
///   (8 angular sectors, 256 or 1,024 centroids each, codebooks trained on synthetic
///   templates only) with per-probe asymmetric tables — a cost a SIMD scan could afford;
/// - `union`: a mate is kept when either `minhash` or `pq8-k1024` keeps it (the shortlist
///   then costs up to twice the penetration).
public enum PrefilterStudy {
    public struct Result: Codable, Sendable {
        public var gallery: Int
        public var probes: Int
        public var exhaustive_rank1: Double
        /// variant → depth (share of the gallery) → share of all probes whose mate is kept.
        public var kept: [String: [String: Double]]
        /// The same, among the probes the exhaustive search ranks first.
        public var kept_among_hits: [String: [String: Double]]

        public var summary: String {
            var lines = [String(format: "gallery %d, %d probes, exhaustive rank-1 %.1f%%", gallery, probes, exhaustive_rank1 * 100),
                         "mate kept at depth: all probes (rank-1 hits of exhaustive search)"]
            for v in PrefilterStudy.variants {
                guard let all = kept[v], let hits = kept_among_hits[v] else { continue }
                let cells = PrefilterStudy.depths.map { d -> String in
                    let k = String(format: "%.3f", d)
                    return String(format: "%@: %.1f%% (%.1f%%)", k, (all[k] ?? 0) * 100, (hits[k] ?? 0) * 100)
                }
                lines.append(v.padding(toLength: 10, withPad: " ", startingAt: 0) + cells.joined(separator: "  "))
            }
            return lines.joined(separator: "\n")
        }
    }

    static let variants = ["full", "minhash", "lss-top12", "pq8-k256", "pq8-k1024", "union"]
    static let depths = [0.0, 0.001, 0.003, 0.005, 0.01, 0.02, 0.05]

    public static func run(gallerySize: Int, realSets: [FingerprintSet], probeStride: Int, seed: UInt64 = 42) -> Result {
        let encoder = CylinderEncoder()
        var gallery = [MatchTemplate](), subjects = [UInt64]()
        var probes = [(template: MatchTemplate, subject: UInt64)]()
        if realSets.isEmpty {
            let g = SyntheticTemplateGenerator(seed: seed &+ 1)
            for f in 0..<100 {
                let master = g.master(finger: UInt64(f))
                gallery.append(encoder.encode(g.impression(of: master, index: 0))); subjects.append(UInt64(1) << 40 | UInt64(f))
                for i in 1...3 { probes.append((encoder.encode(g.impression(of: master, index: i)), UInt64(1) << 40 | UInt64(f))) }
            }
        }
        for (s, set) in realSets.enumerated() {
            let e = ExtractedSet(set, extractor: MinutiaeExtractor(), progress: Progress("extracting \(set.name)", total: set.images.count))
            for (k, image) in set.images.enumerated() {
                guard let t = e.templates[k], let finger = UInt64(image.finger) else { continue }
                let subject = UInt64(s + 1) << 40 | finger
                if image.impression == 1 { gallery.append(encoder.encode(t)); subjects.append(subject) }
                else { probes.append((encoder.encode(t), subject)) }
            }
        }
        let generator = SyntheticTemplateGenerator(seed: seed)
        let background = max(0, gallerySize - gallery.count)
        let built = ResultSlots<[MatchTemplate]>(count: 64)
        let progress = Progress("background", total: background)
        DispatchQueue.concurrentPerform(iterations: 64) { c in
            var out = [MatchTemplate]()
            for k in Swift.stride(from: c, to: background, by: 64) {
                out.append(encoder.encode(generator.impression(of: generator.master(finger: UInt64(10_000_000 + k)), index: 0)))
                progress.advance()
            }
            built.set(c, out)
        }
        let chunks = built.values
        for k in 0..<background { gallery.append(chunks[k % 64][k / 64]); subjects.append(UInt64(k)) }
        probes = Swift.stride(from: 0, to: probes.count, by: max(1, probeStride)).map { probes[$0] }

        // Codebooks from synthetic templates only (never from the FVC images reported on).
        let trainer = SyntheticTemplateGenerator(seed: 7)
        let training = (0..<2000).map { encoder.encode(trainer.impression(of: trainer.master(finger: UInt64(30_000_000 + $0)), index: 0)) }
        let quantisers = [PQStudy(geometry: encoder.geometry, sectors: 8, k: 256, training: training),
                          PQStudy(geometry: encoder.geometry, sectors: 8, k: 1024, training: training)]
        let codes = quantisers.map { q in gallery.map { q.encode($0) } }
        let shard = GalleryShard(encoder: encoder)
        for (g, t) in gallery.enumerated() { shard.add(GalleryKey(subject: subjects[g], position: .unknown), prepared: t) }
        shard.compact()

        let comparator = TemplateComparator()
        let n = gallery.count
        let computed = ["full", "lss-top12", "pq8-k256", "pq8-k1024"]
        var ranks = [String: [Double]]()
        let probeProgress = Progress("probes", total: probes.count)
        for (probe, subject) in probes {
            let tables = quantisers.map { $0.table(probe, stride: probe.count) }
            let threads = 2
            let out = ResultSlots<[[Float]]>(count: threads)
            let galleryAll = gallery
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                var scratch = TemplateComparator.Scratch()
                var matrix = [Float](), best = [Float]()
                var scores = [[Float]](repeating: [Float](repeating: 0, count: n), count: computed.count)
                for g in Swift.stride(from: t, to: n, by: threads) {
                    let b = galleryAll[g]
                    scores[0][g] = comparator.score(probe, b, scratch: &scratch)
                    comparator.kernel.matrix(probe, b, maximumDirectionDifference: comparator.parameters.maximumDirectionDifference, into: &matrix)
                    best = [Float](repeating: 0, count: b.count)
                    for i in 0..<probe.count { for j in 0..<b.count { best[j] = max(best[j], matrix[i * b.paddedCount + j]) } }
                    scores[1][g] = topMean(&best)
                    for (q, quantiser) in quantisers.enumerated() {
                        quantiser.columnMaxima(probe, b, codes: codes[q][g], table: tables[q], into: &best)
                        scores[2 + q][g] = topMean(&best)
                    }
                }
                out.set(t, scores)
            }
            let parts = out.values
            for (v, name) in computed.enumerated() {
                var mate: Float = -.infinity
                for g in 0..<n where subjects[g] == subject { mate = max(mate, parts[g % threads][v][g]) }
                var above = 0
                for g in 0..<n where subjects[g] != subject && parts[g % threads][v][g] > mate { above += 1 }
                ranks[name, default: []].append(Double(above) / Double(n))
            }
            ranks["minhash", default: []].append(shard.prefilterRank(probe, subject: subject) ?? 1)
            ranks["union", default: []].append(min(ranks["minhash"]!.last!, ranks["pq8-k1024"]!.last!))
            probeProgress.advance()
        }
        let hit = ranks["full"]!.map { $0 == 0 }
        let hits = max(1, hit.filter { $0 }.count)
        var kept = [String: [String: Double]](), keptHits = [String: [String: Double]]()
        for (name, r) in ranks {
            for d in depths {
                let key = String(format: "%.3f", d)
                kept[name, default: [:]][key] = Double(r.filter { $0 <= d }.count) / Double(max(1, r.count))
                keptHits[name, default: [:]][key] = Double(zip(r, hit).filter { $0.1 && $0.0 <= d }.count) / Double(hits)
            }
        }
        return Result(gallery: n, probes: probes.count, exhaustive_rank1: Double(hit.filter { $0 }.count) / Double(max(1, hit.count)),
                      kept: kept, kept_among_hits: keptHits)
    }

    /// Mean of the twelve largest values (LSS's pair budget at typical template sizes).
    static func topMean(_ v: inout [Float]) -> Float {
        v.sort(by: >)
        let top = v.prefix(12)
        return top.isEmpty ? 0 : top.reduce(0, +) / Float(top.count)
    }
}

/// Product quantisation of bit cylinders: the cells of a cylinder are cut into angular
/// sectors, each sector's bits are replaced by the nearest of `k` centroids (k-means on
/// bit vectors, centroids = per-bit probabilities). A probe cylinder a against a coded
/// gallery cylinder b: Σ over sectors of E|a ∧ centroid| / √(|a|·|b|) — a cosine, from
/// per-probe tables of sectors × k × probe cylinders.
struct PQStudy: Sendable {
    let groups: [[Int]]
    let k: Int
    /// rows[m][b * k + c] = probability of bit b (local index in group m) in centroid c.
    var rows: [[Float]] = []
    var sq: [[Float]] = []

    init(geometry: CylinderGeometry, sectors: Int, rings: Int = 1, k: Int = 256, training: [MatchTemplate]) {
        self.k = k
        var groups = [[Int]](repeating: [], count: sectors * rings)
        for (cell, c) in geometry.cells.enumerated() {
            var a = atan2(Double(c.dy), Double(c.dx)) + .pi + 1e-3
            a = a.truncatingRemainder(dividingBy: 2 * .pi)
            var s = min(sectors - 1, Int(a / (2 * .pi / Double(sectors))))
            if rings == 2 && (c.dx * c.dx + c.dy * c.dy).squareRoot() > geometry.radius * 0.62 { s += sectors }
            for b in 0..<geometry.directionBins { groups[s].append(cell * geometry.directionBins + b) }
        }
        self.groups = groups
        for g in 0..<groups.count {
            // Points: set local bits of each training cylinder's sub-vector.
            var points = [[Int]]()
            for t in training {
                for i in 0..<t.count {
                    var set = [Int]()
                    for (l, bit) in groups[g].enumerated() where t.word(i, bit >> 6) >> UInt64(bit & 63) & 1 == 1 { set.append(l) }
                    points.append(set)
                }
            }
            let dim = groups[g].count
            var rng = SplitMix(state: 99 &+ UInt64(g))
            var cent = [Float](repeating: 0, count: dim * k)   // [b * k + c]
            let nonEmpty = points.filter { !$0.isEmpty }
            for c in 0..<k {
                let p = nonEmpty[Int(rng.next() % UInt64(nonEmpty.count))]
                for b in p { cent[b * k + c] = 1 }
            }

            for _ in 0..<8 {
                var norm = [Float](repeating: 0, count: k)
                for b in 0..<dim { for c in 0..<k { norm[c] += cent[b * k + c] * cent[b * k + c] } }
                let assign = ResultSlots<[Int32]>(count: 2)
                let pts = points, cc = cent, nn = norm, kk = k
                DispatchQueue.concurrentPerform(iterations: 2) { t in
                    var out = [Int32]()
                    var dot = [Float](repeating: 0, count: kk)
                    var p = t
                    while p < pts.count {
                        for c in 0..<kk { dot[c] = 0 }
                        for b in pts[p] { for c in 0..<kk { dot[c] += cc[b * kk + c] } }
                        var best = 0, bd = Float.infinity
                        for c in 0..<kk { let d = nn[c] - 2 * dot[c]; if d < bd { bd = d; best = c } }
                        out.append(Int32(best))
                        p += 2
                    }
                    assign.set(t, out)
                }
                let parts = assign.values
                var sums = [Float](repeating: 0, count: dim * k), counts = [Float](repeating: 0, count: k)
                for p in 0..<points.count {
                    let c = Int(parts[p & 1][p >> 1])
                    counts[c] += 1
                    for b in points[p] { sums[b * k + c] += 1 }
                }
                for c in 0..<k where counts[c] > 0 { for b in 0..<dim { cent[b * k + c] = sums[b * k + c] / counts[c] } }
            }
            var norm = [Float](repeating: 0, count: k)
            for b in 0..<dim { for c in 0..<k { norm[c] += cent[b * k + c] * cent[b * k + c] } }
            rows.append(cent)
            sq.append(norm)
        }
    }

    func encode(_ t: MatchTemplate) -> [UInt16] {
        var codes = [UInt16](repeating: 0, count: t.count * groups.count)
        var dot = [Float](repeating: 0, count: k)
        for i in 0..<t.count {
            for (g, group) in groups.enumerated() {
                for c in 0..<k { dot[c] = 0 }
                for (l, bit) in group.enumerated() where t.word(i, bit >> 6) >> UInt64(bit & 63) & 1 == 1 {
                    for c in 0..<k { dot[c] += rows[g][l * k + c] }
                }
                var best = 0, bd = Float.infinity
                for c in 0..<k { let d = sq[g][c] - 2 * dot[c]; if d < bd { bd = d; best = c } }
                codes[i * groups.count + g] = UInt16(best)
            }
        }
        return codes
    }

    /// table[(g * k + c) * stride + i] = E|a_i ∧ centroid| / sqrt|a_i|.
    func table(_ probe: MatchTemplate, stride: Int) -> [Float] {
        var table = [Float](repeating: 0, count: groups.count * k * stride)
        for i in 0..<probe.count {
            let scale = probe.norms[i] > 0 ? 1 / probe.rootNorms[i] : 0
            for (g, group) in groups.enumerated() {
                for (l, bit) in group.enumerated() where probe.word(i, bit >> 6) >> UInt64(bit & 63) & 1 == 1 {
                    for c in 0..<k { table[(g * k + c) * stride + i] += rows[g][l * k + c] * scale }
                }
            }
        }
        return table
    }
}

extension PQStudy {
    /// Best gated estimate per gallery cylinder (direction gap ≤ 90°, as the comparator).
    func columnMaxima(_ probe: MatchTemplate, _ b: MatchTemplate, codes: [UInt16], table: [Float], into best: inout [Float]) {
        let sectors = groups.count, stride = probe.count
        best = [Float](repeating: 0, count: b.count)
        for j in 0..<b.count where b.norms[j] > 0 {
            var top: Float = 0
            for i in 0..<probe.count {
                var gap = (Int(probe.angle[i]) - Int(b.angle[j])) & 255
                if gap > 128 { gap = 256 - gap }
                if gap > 64 { continue }
                var v: Float = 0
                for m in 0..<sectors { v += table[(m * k + Int(codes[j * sectors + m])) * stride + i] }
                top = max(top, v)
            }
            best[j] = top / b.rootNorms[j]
        }
    }
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
