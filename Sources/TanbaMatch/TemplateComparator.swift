import Foundation

/// Scores how likely two finger templates come from the same finger.
///
/// Local stage: every pair of cylinders gets a similarity λ from popcounts of their bit
/// vectors (`SimilarityKernel`, SIMD with run-time CPU dispatch).
/// Global stage: Local Similarity Sort with Relaxation (LSS-R, Cappelli, Ferrara, Maltoni,
/// TPAMI 2010): the nR best local pairs are kept; over a few rounds each pair's similarity
/// is reinforced by pairs geometrically compatible with it (distance, relative direction,
/// relative position) and weakened otherwise; the score is the mean relaxed similarity of
/// the nP pairs whose similarity held up best ("efficiency").
///
/// The score is in 0…1, exactly symmetric (score(a, b) == score(b, a) bit for bit) and
/// invariant to rotation and translation. docs/matching.md maps thresholds to FMR.
public struct TemplateComparator: Sendable {
    public struct Parameters: Sendable, Hashable {
        /// Pairs whose directions differ by more than this (ISO units; 64 = 90°) are not compared.
        public var maximumDirectionDifference = 64
        /// nP = minPairs + round(Z(min(nA, nB); pairsMu, pairsTau) · (maxPairs − minPairs)).
        public var minPairs = 4, maxPairs = 12
        public var pairsMu: Float = 20, pairsTau: Float = 0.4
        public var relaxationRounds = 5
        public var relaxationWeight: Float = 0.5
        /// At most this many top local pairs enter the relaxation (nR = min(nA, nB, this)).
        public var maximumRelaxationPairs = 64
        public init() {}
    }

    public let parameters: Parameters
    public let kernel: SimilarityKernel
    let compatibility: CompatibilityTables

    public init(parameters: Parameters = .init(), kernel: SimilarityKernel = .best) {
        self.parameters = parameters
        self.kernel = kernel
        self.compatibility = CompatibilityTables.shared
    }

    /// Reusable buffers: a comparison allocates nothing once these have grown.
    public struct Scratch: Sendable {
        var matrix = [Float]()
        var top = [LocalPair]()
        var pairGeometry = [PairGeometry]()
        var rho = [Float]()
        var lambda = [Float](), next = [Float]()
        var efficiency = [(Float, Int32)]()
        var histogram = [Int32]()
        public init() {}
    }

    struct LocalPair { var similarity: Float; var a: Int32; var b: Int32 }

    /// Comparison score in 0…1.
    public func score(_ a: MatchTemplate, _ b: MatchTemplate) -> Float {
        var scratch = Scratch()
        return score(a, b, scratch: &scratch)
    }

    public func score(_ a: MatchTemplate, _ b: MatchTemplate, scratch: inout Scratch) -> Float {
        // A canonical orientation makes the score exactly symmetric: the tie-breaks below
        // depend on which template is first.
        if MatchTemplate.precedes(b, a) { return score(b, a, scratch: &scratch) }
        let nA = a.count, nB = b.count
        guard nA > 0, nB > 0 else { return 0 }
        let p = parameters

        kernel.matrix(a, b, maximumDirectionDifference: p.maximumDirectionDifference, into: &scratch.matrix)
        let nR = min(min(nA, nB), p.maximumRelaxationPairs)
        selectTopPairs(scratch.matrix, rows: nA, columns: nB, stride: b.paddedCount, limit: nR,
                       into: &scratch.top, histogram: &scratch.histogram)
        let n = scratch.top.count
        guard n > 0 else { return 0 }

        relax(a, b, scratch: &scratch)

        // The nP most efficient pairs (relaxed ÷ initial similarity) give the score.
        let minCount = Float(min(nA, nB))
        let z = 1 / (1 + exp(-p.pairsTau * (minCount - p.pairsMu)))
        let nP = min(n, p.minPairs + Int((z * Float(p.maxPairs - p.minPairs)).rounded()))
        scratch.efficiency.removeAll(keepingCapacity: true)
        for r in 0..<n { scratch.efficiency.append((scratch.lambda[r] / scratch.top[r].similarity, Int32(r))) }
        scratch.efficiency.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        var total: Float = 0
        for e in scratch.efficiency.prefix(nP) { total += scratch.lambda[Int(e.1)] }
        return max(0, min(1, total / Float(nP)))
    }

    /// Keeps the `limit` largest positive entries, ordered by similarity (descending), then
    /// by row and column — a total order, so the result never depends on sort stability.
    ///
    /// Two passes instead of a heap: a histogram over the similarity (λ ∈ (0, 1]) finds the
    /// bucket that holds the limit-th largest value, then only entries from that bucket up
    /// are collected and sorted. Both passes are branch-light streams over the matrix.
    private func selectTopPairs(_ matrix: [Float], rows: Int, columns: Int, stride: Int, limit: Int,
                                into top: inout [LocalPair], histogram: inout [Int32]) {
        top.removeAll(keepingCapacity: true)
        let buckets = TemplateComparator.histogramBuckets
        if histogram.count != buckets + 1 { histogram = [Int32](repeating: 0, count: buckets + 1) }
        let scale = Float(buckets)
        var cutBucket = 1
        matrix.withUnsafeBufferPointer { m in
        histogram.withUnsafeMutableBufferPointer { h in
            for k in 0...buckets { h[k] = 0 }
            for i in 0..<rows {
                let row = i * stride
                for j in 0..<columns {
                    // λ ≤ 0 lands in bucket 0, which is never selected.
                    h[Int(max(0, m[row + j]) * scale)] += 1
                }
            }
            var seen: Int32 = 0
            var k = buckets
            while k >= 1 {
                seen += h[k]
                if seen >= Int32(limit) { break }
                k -= 1
            }
            cutBucket = max(1, k)
            let cut = Float(cutBucket) / scale
            for i in 0..<rows {
                let row = i * stride
                for j in 0..<columns where m[row + j] >= cut && m[row + j] > 0 {
                    // Recompute the bucket exactly as the histogram did, so that the two passes agree.
                    if Int(m[row + j] * scale) >= cutBucket {
                        top.append(LocalPair(similarity: m[row + j], a: Int32(i), b: Int32(j)))
                    }
                }
            }
        }}
        top.sort { $0.similarity != $1.similarity ? $0.similarity > $1.similarity : ($0.a, $0.b) < ($1.a, $1.b) }
        if top.count > limit { top.removeLast(top.count - limit) }
    }

    static let histogramBuckets = 1024

    /// Per selected pair: the two minutiae's positions and direction vectors.
    struct PairGeometry {
        var ax, ay, ac, as_: Float
        var bx, by, bc, bs: Float
        var aAngle, bAngle: UInt8
    }

    /// Relaxation (Cappelli et al., eq. 19–23): λʳ ← w·λʳ + (1−w)/(n−1) · Σₖ ρ(r,k)·λᵏ.
    private func relax(_ a: MatchTemplate, _ b: MatchTemplate, scratch: inout Scratch) {
        let n = scratch.top.count
        let p = parameters
        let t = compatibility
        scratch.pairGeometry.removeAll(keepingCapacity: true)
        for pair in scratch.top {
            let i = Int(pair.a), j = Int(pair.b)
            let aa = a.angle[i], ba = b.angle[j]
            scratch.pairGeometry.append(PairGeometry(ax: a.x[i], ay: a.y[i], ac: t.cosine[Int(aa)], as_: t.sine[Int(aa)],
                                                     bx: b.x[j], by: b.y[j], bc: t.cosine[Int(ba)], bs: t.sine[Int(ba)],
                                                     aAngle: aa, bAngle: ba))
        }
        if scratch.rho.count < n * n { scratch.rho = [Float](repeating: 0, count: n * n) }
        scratch.pairGeometry.withUnsafeBufferPointer { g in
        scratch.rho.withUnsafeMutableBufferPointer { rho in
            for r in 0..<n {
                rho[r * n + r] = 0
                let gr = g[r]
                for k in (r + 1)..<max(n, r + 1) {
                    let gk = g[k]
                    let v = t.rho(gr, gk)
                    rho[r * n + k] = v
                    rho[k * n + r] = v
                }
            }
        }}

        scratch.lambda.removeAll(keepingCapacity: true)
        for pair in scratch.top { scratch.lambda.append(pair.similarity) }
        guard n > 1 else { return }
        if scratch.next.count < n { scratch.next = [Float](repeating: 0, count: n) }
        let w = p.relaxationWeight, spread = (1 - w) / Float(n - 1)
        for _ in 0..<p.relaxationRounds {
            scratch.rho.withUnsafeBufferPointer { rho in
            scratch.lambda.withUnsafeBufferPointer { lam in
            scratch.next.withUnsafeMutableBufferPointer { next in
                for r in 0..<n {
                    // Eight partial sums in a fixed order: vectorisable and still deterministic.
                    var acc = SIMD8<Float>()
                    var k = 0
                    let row = r * n
                    while k + 8 <= n {
                        let rv = UnsafeRawPointer(rho.baseAddress! + row + k).loadUnaligned(as: SIMD8<Float>.self)
                        let lv = UnsafeRawPointer(lam.baseAddress! + k).loadUnaligned(as: SIMD8<Float>.self)
                        acc += rv * lv
                        k += 8
                    }
                    var sum = acc.sum()
                    while k < n { sum += rho[row + k] * lam[k]; k += 1 }
                    next[r] = w * lam[r] + spread * sum
                }
            }}}
            for r in 0..<n { scratch.lambda[r] = scratch.next[r] }
        }
    }
}

/// ρ(r, k) of LSS-R as a product of three sigmoids, tabulated:
/// Z(d1; 5, −8/5) of the difference of the two segment lengths,
/// Z(d2; π/12, −30) of the difference of the relative directions,
/// Z(d3; π/12, −30) of the difference of the angles between each minutia and its segment.
struct CompatibilityTables: @unchecked Sendable {
    static let shared = CompatibilityTables()

    let cosine: [Float], sine: [Float]
    /// Z1 over length difference in 1/16 px, up to 16 px (beyond it Z1 < 3e-8: treated as 0).
    let lengthTable: UnsafeMutablePointer<Float>
    static let lengthSteps: Float = 16
    static let lengthLimit: Float = 16
    /// Z2 over |Δ relative direction| in ISO units (0…128).
    let directionTable: UnsafeMutablePointer<Float>
    /// Z3 over the cosine of the angle between the segments seen from each minutia.
    let segmentTable: UnsafeMutablePointer<Float>
    static let segmentSteps: Float = 4096

    /// Process-lifetime tables (one shared instance), kept as raw pointers so the hot loop
    /// has neither bounds checks nor reference counting.
    private static func table(_ values: [Float]) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
        p.initialize(from: values, count: values.count)
        return p
    }

    init() {
        func z(_ v: Double, _ mu: Double, _ tau: Double) -> Float { Float(1 / (1 + exp(-tau * (v - mu)))) }
        cosine = (0..<256).map { Float(cos(Double($0) * .pi / 128)) }
        sine = (0..<256).map { Float(sin(Double($0) * .pi / 128)) }
        lengthTable = Self.table((0...Int(Self.lengthLimit * Self.lengthSteps) + 1).map { z(Double($0) / Double(Self.lengthSteps), 5, -8.0 / 5) })
        directionTable = Self.table((0...128).map { z(Double($0) * .pi / 128, .pi / 12, -30) })
        segmentTable = Self.table((0...Int(2 * Self.segmentSteps) + 1).map { k in
            let c = max(-1, min(1, Double(k) / Double(Self.segmentSteps) - 1))
            return z(acos(c), .pi / 12, -30)
        })
    }

    @inline(__always)
    func rho(_ r: TemplateComparator.PairGeometry, _ k: TemplateComparator.PairGeometry) -> Float {
        let dxA = k.ax - r.ax, dyA = k.ay - r.ay
        let dxB = k.bx - r.bx, dyB = k.by - r.by
        let lenA2 = dxA * dxA + dyA * dyA, lenB2 = dxB * dxB + dyB * dyB
        let lenA = lenA2.squareRoot(), lenB = lenB2.squareRoot()
        let d1 = abs(lenA - lenB)
        if d1 >= CompatibilityTables.lengthLimit { return 0 }
        let z1 = lengthTable[Int(d1 * CompatibilityTables.lengthSteps)]
        var d2 = (Int(r.aAngle) - Int(k.aAngle) - Int(r.bAngle) + Int(k.bAngle)) & 255
        if d2 > 128 { d2 = 256 - d2 }
        let z2 = directionTable[d2]
        // Segment r→k in each minutia r's own frame; the angle between the two frames'
        // segments is d3, obtained through its cosine.
        let uA = r.ac * dxA + r.as_ * dyA, vA = -r.as_ * dxA + r.ac * dyA
        let uB = r.bc * dxB + r.bs * dyB, vB = -r.bs * dxB + r.bc * dyB
        let denom = lenA * lenB
        let cosine: Float = denom > 0 ? max(-1, min(1, (uA * uB + vA * vB) / denom)) : 1
        let z3 = segmentTable[Int((cosine + 1) * CompatibilityTables.segmentSteps)]
        return z1 * z2 * z3
    }
}

extension MatchTemplate {
    /// Total order used to orient a comparison canonically (count, then content hash).
    static func precedes(_ a: MatchTemplate, _ b: MatchTemplate) -> Bool {
        if a.count != b.count { return a.count < b.count }
        return a.contentHash < b.contentHash
    }
}
