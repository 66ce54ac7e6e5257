import CTanbaKernels
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
///
/// A score never depends on the CPU it ran on. The fixed-formula loops — local
/// similarities, candidate collection, the compatibility ρ — run in C kernels chosen by
/// `kernel.level`, each bit-identical to a plain Swift reference (the `.scalarReference`
/// level; `Tests/TanbaMatchTests`); the rest is one Swift path whose SIMD types lower to
/// baseline SSE on x86-64 (NEON on arm64) with the same IEEE operations everywhere. The hot
/// loops avoid branches that depend on the data — a comparison is a few thousand such
/// decisions, each a coin toss for the branch predictor — and work in one arena of scratch
/// memory (`Scratch`, `Layout`).
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
        /// Below this many cylinders in the smaller template the score is scaled down in
        /// proportion. LSS-R averages the best few relaxed pairs, so a template with three or
        /// four cylinders can score like a true mate by chance; in a million-finger gallery
        /// such tiny templates outranked most real mates (docs/BENCHMARKS.md, 1:N).
        public var fullEvidenceCylinders = 12
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
    ///
    /// One arena per element type rather than one array per buffer: a comparison takes a
    /// single unsafe pointer to each arena for its whole duration and carves its buffers
    /// out of it (`Layout`), so the hot loops see neither uniqueness checks nor bounds
    /// checks nor retain/release.
    public struct Scratch: Sendable {
        var floats = [Float]()
        var integers = [Int32]()
        var keys = [UInt64]()
        public init() {}
    }

    /// Comparison score in 0…1.
    public func score(_ a: MatchTemplate, _ b: MatchTemplate) -> Float {
        var scratch = Scratch()
        return score(a, b, scratch: &scratch)
    }

    public func score(_ a: MatchTemplate, _ b: MatchTemplate, scratch: inout Scratch) -> Float {
        // A canonical orientation makes the score exactly symmetric: the tie-breaks below
        // depend on which template is first. It also puts the smaller template in the
        // rows, which `selectTopPairs` relies on (nR ≤ rows).
        if MatchTemplate.precedes(b, a) { return score(b, a, scratch: &scratch) }
        guard a.count > 0, b.count > 0 else { return 0 }
        let layout = Layout(rows: a.count, stride: b.paddedCount,
                            pairs: min(a.count, b.count, parameters.maximumRelaxationPairs))
        // Taken out of `scratch` for the call so that the three arenas can be held at once
        // without overlapping accesses to `scratch`; swapping arrays copies nothing.
        var floats = [Float](), integers = [Int32](), keys = [UInt64]()
        swap(&floats, &scratch.floats); swap(&integers, &scratch.integers); swap(&keys, &scratch.keys)
        defer { swap(&floats, &scratch.floats); swap(&integers, &scratch.integers); swap(&keys, &scratch.keys) }
        if floats.count < layout.floatCount { floats = [Float](repeating: 0, count: layout.floatCount) }
        if integers.count < layout.integerCount { integers = [Int32](repeating: 0, count: layout.integerCount) }
        if keys.count < layout.keyCount { keys = [UInt64](repeating: 0, count: layout.keyCount) }
        return floats.withUnsafeMutableBufferPointer { f in
            integers.withUnsafeMutableBufferPointer { i in
                keys.withUnsafeMutableBufferPointer { k in
                    compare(a, b, layout, Arena(f: f.baseAddress!, i: i.baseAddress!, k: k.baseAddress!))
                }
            }
        }
    }

    /// Where each buffer of one comparison lives in the arenas (offsets in elements).
    ///
    /// Per-pair arrays hold `pairCapacity` = nR rounded up to 8, plus 8, so that the
    /// eight-wide loops over pairs (relaxation, efficiency) read whole groups of eight.
    struct Layout {
        let rows: Int, stride: Int, pairs: Int
        let pairCapacity: Int
        /// Candidate pairs: at most every entry of the matrix, plus the sixteen lanes that
        /// a vector store may write past the last (later +∞ padding for the drop search).
        let candidateCapacity: Int

        init(rows: Int, stride: Int, pairs: Int) {
            self.rows = rows; self.stride = stride; self.pairs = pairs
            pairCapacity = ((pairs + 7) & ~7) + 8
            candidateCapacity = rows * stride + 16
        }

        // Floats.
        var matrix: Int { 0 }
        /// Eight per row: the maximum over each column class j mod 8.
        var rowMaxima: Int { rows * stride }
        var candidates: Int { rowMaxima + 8 * rows }
        var ax: Int { candidates + candidateCapacity }
        var ay: Int { ax + pairCapacity }
        var bx: Int { ay + pairCapacity }
        var by: Int { bx + pairCapacity }
        var ac: Int { by + pairCapacity }
        var as_: Int { ac + pairCapacity }
        var bc: Int { as_ + pairCapacity }
        var bs: Int { bc + pairCapacity }
        var initial: Int { bs + pairCapacity }
        var lambda: Int { initial + pairCapacity }
        var next: Int { lambda + pairCapacity }
        /// Dense symmetric ρ: nR rows of `rhoStride` (nR rounded up to 8) floats.
        var rhoStride: Int { (pairs + 7) & ~7 }
        var rho: Int { next + pairCapacity }
        var floatCount: Int { rho + pairs * rhoStride }
        // Integers.
        var pairA: Int { 0 }
        var pairB: Int { pairCapacity }
        var delta: Int { 2 * pairCapacity }
        /// Matrix positions (row << 16 | column) of the candidates.
        var positions: Int { 3 * pairCapacity }
        var histogram: Int { positions + candidateCapacity }
        /// Work space of `tanba_compatibility_matrix`.
        var compatibilityScratch: Int { histogram + TemplateComparator.histogramBuckets }
        var integerCount: Int { compatibilityScratch + pairs * pairs + 32 }
        // Keys, for the rare selection that needs a full sort.
        var keyCount: Int { candidateCapacity }
    }

    struct Arena {
        let f: UnsafeMutablePointer<Float>
        let i: UnsafeMutablePointer<Int32>
        let k: UnsafeMutablePointer<UInt64>
    }

    private func compare(_ a: MatchTemplate, _ b: MatchTemplate, _ l: Layout, _ m: Arena) -> Float {
        let p = parameters
        kernel.matrix(a, b, maximumDirectionDifference: p.maximumDirectionDifference, into: m.f + l.matrix)
        let n = selectTopPairs(l, m)
        guard n > 0 else { return 0 }
        pairGeometry(a, b, n, l, m)
        relax(n, l, m)

        // The nP most efficient pairs (relaxed ÷ initial similarity) give the score.
        let minCount = Float(min(a.count, b.count))
        let z = 1 / (1 + exp(-p.pairsTau * (minCount - p.pairsMu)))
        let nP = min(n, p.minPairs + Int((z * Float(p.maxPairs - p.minPairs)).rounded()))
        let evidence = min(1, minCount / Float(max(1, p.fullEvidenceCylinders)))
        return efficientMean(n, nP, l, m) * evidence
    }

    // MARK: Top local pairs

    static let histogramBuckets = 641

    /// Entries below 2⁻¹⁰ are never selected: such a λ carries no usable similarity. (The
    /// first implementation's 1,024-bucket histogram left them in its bucket 0; the same
    /// floor keeps the same pairs.)
    static let similarityFloor: Float = 1.0 / 1024

    /// Keeps the nR best eligible entries of the matrix in the order (similarity
    /// descending, then row, then column) — a total order, so the kept set never depends on
    /// how it is found. They are stored by row and column: nothing downstream depends on
    /// their order beyond the rounding of sums, and where the original order decided
    /// something (ρ's frame, ties in efficiency) it is consulted explicitly. Writes pairA,
    /// pairB and the initial λ; returns how many were kept.
    ///
    /// A threshold T first: the summary of each row is its maximum over each of the eight
    /// column classes j mod 8 — eight distinct entries per row, one `max` per eight
    /// entries. Any value reached by nR distinct entries is reached by the nR-th best entry
    /// of the matrix, so every entry we want is ≥ T, the nR-th largest summary value (nR ≤
    /// rows < 8·rows, the smaller template being in the rows). On FVC templates about
    /// nR + 4 entries reach T (the plain row maxima would let in most of the matrix); the
    /// few surplus ones are dropped, worst first.
    private func selectTopPairs(_ l: Layout, _ m: Arena) -> Int {
        let matrix = m.f + l.matrix, maxima = m.f + l.rowMaxima
        let rows = l.rows, stride = l.stride, limit = l.pairs
        for i in 0..<rows {
            let row = matrix + i * stride
            var best = SIMD8<Float>.load(row)
            var j = 8
            while j < stride { best = vmax(best, .load(row + j)); j += 8 }
            best.store(maxima + 8 * i)
        }
        let threshold = Self.threshold(maxima, count: 8 * rows, rank: limit, histogram: m.i + l.histogram)

        // Candidates in row-major order (the C kernels at the fast levels).
        let similarity = m.f + l.candidates, position = m.i + l.positions
        let count = kernel.level == .scalarReference
            ? Self.collect(matrix, rows: rows, stride: stride, maxima: maxima, threshold: threshold,
                           similarity: similarity, position: position)
            : Int(tanba_collect_candidates(kernel.level.cLevel, matrix, Int32(rows), Int32(stride), maxima, threshold,
                                           similarity, position))

        var surplus = count - limit
        if surplus > 16 {
            // Rare (a threshold stuck at the floor): find the cut with a full sort.
            Self.cutBySorting(similarity, position, count: count, keep: limit, keys: m.k)
        } else {
            // Drop the worst: the lowest similarity, and of equals the last position.
            // Dropped entries become +∞, which no later search picks again.
            for c in count..<((count + 7) & ~7) { similarity[c] = .infinity }
            while surplus > 0 {
                var low = SIMD8<Float>.load(similarity)
                var c = 8
                while c < count { low = vmin(low, .load(similarity + c)); c += 8 }
                let worst = hmin(low)
                c = (count - 1) & ~7
                while true {
                    let bits = bitmask(SIMD8<Float>.load(similarity + c) .== SIMD8(repeating: worst))
                    if bits != 0 { similarity[c + 31 - bits.leadingZeroBitCount] = .infinity; break }
                    c -= 8
                }
                surplus -= 1
            }
        }

        let pairA = m.i + l.pairA, pairB = m.i + l.pairB, initial = m.f + l.initial
        var n = 0
        for c in 0..<count where similarity[c] < .infinity {
            pairA[n] = position[c] >> 16
            pairB[n] = position[c] & 0xFFFF
            initial[n] = similarity[c]
            n += 1
        }
        return n
    }

    /// The candidates ≥ T, row by row: the reference for `tanba_collect_candidates`. A
    /// group of eight with a hit appends all eight lanes, advancing by each lane's bit.
    static func collect(_ matrix: UnsafeMutablePointer<Float>, rows: Int, stride: Int, maxima: UnsafeMutablePointer<Float>,
                        threshold: Float, similarity: UnsafeMutablePointer<Float>, position: UnsafeMutablePointer<Int32>) -> Int {
        var count = 0
        let t = SIMD8<Float>(repeating: threshold)
        for i in 0..<rows where bitmask(SIMD8<Float>.load(maxima + 8 * i) .>= t) != 0 {
            let row = matrix + i * stride
            var j = 0
            while j < stride {
                let values = SIMD8<Float>.load(row + j)
                let bits = bitmask(values .>= t)
                if bits != 0 {
                    // Padding columns hold 0 < T, so every hit is a real column.
                    let base = Int32(truncatingIfNeeded: i << 16 | j)
                    for lane in 0..<8 {
                        similarity[count] = values[lane]
                        position[count] = base &+ Int32(truncatingIfNeeded: lane)
                        count &+= Int((bits >> UInt32(lane)) & 1)
                    }
                }
                j += 8
            }
        }
        return count
    }

    /// A value reached by at least `rank` of the `count` values, as large as a histogram
    /// can tell: the lower edge of the bucket holding the rank-th largest value, or the
    /// floor when fewer values reach it. Buckets are 1/64 octave wide (the top bits of the
    /// float above the floor's), so the threshold is at most 1.1 % below the exact value
    /// and lets in only a few extra candidates. One increment per value and a short scan
    /// from the top: nothing for the branch predictor to miss, unlike a quickselect.
    static func threshold(_ values: UnsafePointer<Float>, count: Int, rank: Int,
                          histogram: UnsafeMutablePointer<Int32>) -> Float {
        let floorBits = similarityFloor.bitPattern, shift: UInt32 = 17
        let buckets = Int(((1 as Float).bitPattern - floorBits) >> shift) + 1
        histogram.update(repeating: 0, count: buckets)
        for i in 0..<count {
            // Values below the floor (and padding zeros) land in bucket 0, never selected;
            // no similarity exceeds 1.
            let v = values[i]
            let bucket = v >= similarityFloor ? Int((v.bitPattern &- floorBits) >> shift) : 0
            histogram[bucket] &+= 1
        }
        var seen: Int32 = 0
        var bucket = buckets - 1
        while bucket > 0 {
            seen &+= histogram[bucket]
            if seen >= Int32(rank) { break }
            bucket -= 1
        }
        return Float(bitPattern: floorBits + UInt32(max(bucket, 0)) << shift)
    }

    /// Marks all but the best `keep` candidates with +∞ by sorting 64-bit keys (similarity
    /// bits, then the inverted position: positive floats order like their bit patterns).
    static func cutBySorting(_ similarity: UnsafeMutablePointer<Float>, _ position: UnsafeMutablePointer<Int32>,
                             count: Int, keep: Int, keys: UnsafeMutablePointer<UInt64>) {
        for c in 0..<count {
            keys[c] = UInt64(similarity[c].bitPattern) << 32 | UInt64(~UInt32(bitPattern: position[c]))
        }
        sortDescending(keys, count: count)
        let cut = keys[keep - 1]
        for c in 0..<count
        where UInt64(similarity[c].bitPattern) << 32 | UInt64(~UInt32(bitPattern: position[c])) < cut {
            similarity[c] = .infinity
        }
    }

    /// In-place descending sort of distinct keys: quicksort, insertion sort below 16.
    /// (The standard library's sort is stable and may allocate; keys are distinct, so
    /// stability is moot and any correct sort gives the same order.)
    static func sortDescending(_ v: UnsafeMutablePointer<UInt64>, count: Int) {
        // Pending ranges: the smaller side is always sorted first, so at most log₂(count)
        // ranges wait, far fewer than 64 for any matrix.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 128) { s in
            var top = 0
            var lo = 0, hi = count - 1
            while true {
                if hi - lo < 16 {
                    if lo < hi {
                        for i in (lo + 1)...hi {
                            let x = v[i]
                            var j = i - 1
                            while j >= lo && v[j] < x { v[j + 1] = v[j]; j -= 1 }
                            v[j + 1] = x
                        }
                    }
                    if top == 0 { return }
                    top -= 2; lo = s[top]; hi = s[top + 1]
                    continue
                }
                // Median of three as pivot, then Hoare partition (keys are distinct).
                let mid = (lo + hi) >> 1
                var x = v[lo], y = v[mid], z = v[hi]
                if x < y { swap(&x, &y) }
                if y < z { swap(&y, &z); if x < y { swap(&x, &y) } }
                let pivot = y
                var i = lo, j = hi
                while i <= j {
                    while v[i] > pivot { i += 1 }
                    while v[j] < pivot { j -= 1 }
                    if i <= j { let t = v[i]; v[i] = v[j]; v[j] = t; i += 1; j -= 1 }
                }
                if j - lo < hi - i {
                    s[top] = i; s[top + 1] = hi; top += 2; hi = j
                } else {
                    s[top] = lo; s[top + 1] = j; top += 2; lo = i
                }
            }
        }
    }

    // MARK: Relaxation

    /// Structure-of-arrays geometry of the selected pairs, as the ρ kernels read it.
    private func pairGeometry(_ a: MatchTemplate, _ b: MatchTemplate, _ n: Int, _ l: Layout, _ m: Arena) {
        let pairA = m.i + l.pairA, pairB = m.i + l.pairB
        let g = PairGeometry(l, m), t = compatibility
        a.x.withUnsafeBufferPointer { ax in a.y.withUnsafeBufferPointer { ay in a.angle.withUnsafeBufferPointer { aa in
        b.x.withUnsafeBufferPointer { bx in b.y.withUnsafeBufferPointer { by in b.angle.withUnsafeBufferPointer { ba in
            for r in 0..<n {
                let i = Int(pairA[r]), j = Int(pairB[r])
                let ai = Int(aa[i]), bj = Int(ba[j])
                g.ax[r] = ax[i]; g.ay[r] = ay[i]
                g.bx[r] = bx[j]; g.by[r] = by[j]
                g.ac[r] = t.cosine[ai]; g.as_[r] = t.sine[ai]
                g.bc[r] = t.cosine[bj]; g.bs[r] = t.sine[bj]
                g.delta[r] = Int32(ai - bj)
            }
        }}}}}}
    }

    /// Relaxation (Cappelli et al., eq. 19–23): λʳ ← w·λʳ + (1−w)/(n−1) · Σₖ ρ(r,k)·λᵏ.
    ///
    /// ρ is symmetric, so the sums for every r at once are Σₖ λᵏ · (row k of ρ): a
    /// broadcast and a multiply-add per eight entries, with the running sums of up to 32
    /// pairs held in registers — no horizontal sums, no tails (rows and λ are zero-padded
    /// to a multiple of eight). Each sum adds its terms in order of k.
    private func relax(_ n: Int, _ l: Layout, _ m: Arena) {
        let p = parameters
        let rs = l.rhoStride
        let rho = m.f + l.rho
        var lam = m.f + l.lambda, next = m.f + l.next
        lam.update(from: m.f + l.initial, count: n)
        guard n > 1 else { return }
        kernel.compatibility(PairGeometry(l, m), count: n, tables: compatibility, into: rho, stride: rs,
                             scratch: m.i + l.compatibilityScratch)

        // Zero padding: ρ's columns and λ past n take part in the eight-wide sums.
        let padded = (n + 7) & ~7
        for r in 0..<n { for c in n..<padded { rho[r &* rs &+ c] = 0 } }
        for r in n..<padded { lam[r] = 0; next[r] = 0 }
        let w = p.relaxationWeight, spread = (1 - w) / Float(n - 1)
        for _ in 0..<p.relaxationRounds {
            var c = 0
            while c < padded {
                let width = padded - c
                let blocks = width >= 32 ? 4 : width >= 16 ? 2 : 1
                Self.relaxColumns(rho + c, stride: rs, count: n, blocks: blocks, lam, c, next, w, spread)
                c += 8 * blocks
            }
            swap(&lam, &next)
        }
        // The final λ must be where `efficientMean` reads it.
        if lam != m.f + l.lambda { (m.f + l.lambda).update(from: lam, count: n) }
    }

    /// next[c + i] = w·λ[c + i] + spread · Σₖ λ[k]·ρ[k][c + i] for i < 8 · blocks (1, 2 or 4).
    @inline(__always)
    private static func relaxColumns(_ rho: UnsafeMutablePointer<Float>, stride rs: Int, count n: Int, blocks: Int,
                                     _ lam: UnsafeMutablePointer<Float>, _ c: Int, _ next: UnsafeMutablePointer<Float>,
                                     _ w: Float, _ spread: Float) {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        var row = rho
        switch blocks {
        case 4:
            for k in 0..<n {
                let v = SIMD8<Float>(repeating: lam[k])
                s0 += v * .load(row); s1 += v * .load(row + 8); s2 += v * .load(row + 16); s3 += v * .load(row + 24)
                row += rs
            }
        case 2:
            for k in 0..<n {
                let v = SIMD8<Float>(repeating: lam[k])
                s0 += v * .load(row); s1 += v * .load(row + 8)
                row += rs
            }
        default:
            for k in 0..<n {
                s0 += SIMD8<Float>(repeating: lam[k]) * .load(row)
                row += rs
            }
        }
        @inline(__always) func finish(_ b: Int, _ sum: SIMD8<Float>) {
            let i = c + 8 * b
            (w * SIMD8<Float>.load(lam + i) + spread * sum).store(next + i)
        }
        finish(0, s0)
        if blocks > 1 { finish(1, s1) }
        if blocks > 2 { finish(2, s2); finish(3, s3) }
    }

    /// Mean relaxed λ of the nP pairs with the best efficiency λ / λ₀, taken in order of
    /// efficiency (descending; ties to the pair with the higher λ₀, then the lower
    /// position — the selection order). nP passes of an eight-wide arg-max, which has no
    /// branch to mispredict, instead of a sort.
    private func efficientMean(_ n: Int, _ nP: Int, _ l: Layout, _ m: Arena) -> Float {
        guard nP > 0 else { return 0 }
        let lam = m.f + l.lambda, initial = m.f + l.initial
        let efficiency = m.f + l.next   // free again after the relaxation
        let padded = (n + 7) & ~7
        var c = 0
        while c < padded {
            (SIMD8<Float>.load(lam + c) / .load(initial + c)).store(efficiency + c)
            c += 8
        }
        for r in n..<padded { efficiency[r] = -.infinity }
        var total: Float = 0
        for _ in 0..<nP {
            var high = SIMD8<Float>.load(efficiency)
            c = 8
            while c < padded { high = vmax(high, .load(efficiency + c)); c += 8 }
            let best = SIMD8<Float>(repeating: hmax(high))
            var ties: UInt64 = 0
            c = 0
            while c < padded {
                ties |= UInt64(bitmask(SIMD8<Float>.load(efficiency + c) .== best)) << UInt64(c)
                c += 8
            }
            var r = ties.trailingZeroBitCount
            ties &= ties - 1
            while ties != 0 {   // an exact tie: almost never
                let k = ties.trailingZeroBitCount
                if initial[k] > initial[r] { r = k }
                ties &= ties - 1
            }
            total += lam[r]
            efficiency[r] = -.infinity
        }
        return max(0, min(1, total / Float(nP)))
    }
}

// MARK: SIMD helpers
//
// Written with comparisons and `replacing(with:where:)`, which lower to single SSE/NEON
// instructions; the generic `pointwiseMax` and `max()` of the standard library are
// out-of-line calls in this position.

extension SIMD8 where Scalar == Float {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Float>.self)
    }
}

@inline(__always) func vmax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }
@inline(__always) func vmin(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .< a) }

@inline(__always) func hmax(_ v: SIMD8<Float>) -> Float {
    let h = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let q = h.lowHalf.replacing(with: h.highHalf, where: h.highHalf .> h.lowHalf)
    return q[1] > q[0] ? q[1] : q[0]
}

@inline(__always) func hmin(_ v: SIMD8<Float>) -> Float {
    let h = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .< v.lowHalf)
    let q = h.lowHalf.replacing(with: h.highHalf, where: h.highHalf .< h.lowHalf)
    return q[1] < q[0] ? q[1] : q[0]
}

/// |v|, by clearing the sign bits (exact, like `abs`).
@inline(__always) func vabs(_ v: SIMD8<Float>) -> SIMD8<Float> {
    unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & 0x7fff_ffff, to: SIMD8<Float>.self)
}

/// Lane l of the mask → bit l (SSE's movemask, which Swift does not expose): lanes to
/// bytes, then one multiply gathers the eight low bits into the top byte. Relies on
/// little-endian lane order, as on x86-64 and arm64.
@inline(__always) func bitmask(_ m: SIMDMask<SIMD8<Int32>>) -> UInt32 {
    let lanes = SIMD8<Int32>(repeating: 0).replacing(with: 1, where: m)
    let word = unsafeBitCast(SIMD8<UInt8>(truncatingIfNeeded: lanes), to: UInt64.self)
    return UInt32(truncatingIfNeeded: (word &* 0x0102_0408_1020_4080) >> 56)
}

/// ρ(r, k) of LSS-R as a product of three sigmoids, tabulated:
/// Z(d1; 5, −8/5) of the difference of the two segment lengths,
/// Z(d2; π/12, −30) of the difference of the relative directions,
/// Z(d3; π/12, −30) of the difference of the angles between each minutia and its segment.
struct CompatibilityTables: @unchecked Sendable {
    static let shared = CompatibilityTables()

    let cosine: UnsafeMutablePointer<Float>, sine: UnsafeMutablePointer<Float>
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
        cosine = Self.table((0..<256).map { Float(cos(Double($0) * .pi / 128)) })
        sine = Self.table((0..<256).map { Float(sin(Double($0) * .pi / 128)) })
        lengthTable = Self.table((0...Int(Self.lengthLimit * Self.lengthSteps) + 1).map { z(Double($0) / Double(Self.lengthSteps), 5, -8.0 / 5) })
        directionTable = Self.table((0...128).map { z(Double($0) * .pi / 128, .pi / 12, -30) })
        segmentTable = Self.table((0...Int(2 * Self.segmentSteps) + 1).map { k in
            let c = max(-1, min(1, Double(k) / Double(Self.segmentSteps) - 1))
            return z(acos(c), .pi / 12, -30)
        })
    }

    /// Values of ρ below 2⁻²⁴ are taken as 0, like Z1 past 16 px (< 3e-8): such a pair
    /// adds less than one part in 16 million to a relaxed λ, and the cut keeps the
    /// relaxation out of subnormal numbers, which cost this kind of CPU dearly. (Half the
    /// pairs that pass the length test fall under it.)
    static let rhoFloor: Float = 0x1p-24

    /// The symmetric ρ matrix of the selected pairs, zero on the diagonal: the reference
    /// the C kernels (`tanba_compatibility_matrix`) are held to, bit for bit.
    ///
    /// d3 depends on the frame it is measured in, so ρ(r, k) and ρ(k, r) would differ;
    /// LSS-R as first implemented here measured it in the frame of the better pair (higher
    /// initial λ, then lower index — the order of selection) and mirrored it, and so does
    /// this.
    func referenceMatrix(_ g: PairGeometry, count n: Int, into out: UnsafeMutablePointer<Float>, stride rs: Int) {
        for r in 0..<n {
            out[r * rs + r] = 0
            for k in (r + 1)..<max(n, r + 1) {
                let v = g.initial[k] > g.initial[r] ? rho(g, k, r) : rho(g, r, k)
                out[r * rs + k] = v
                out[k * rs + r] = v
            }
        }
    }

    /// ρ(r, k) in r's frame, written as plainly as possible: the definition.
    func rho(_ g: PairGeometry, _ r: Int, _ k: Int) -> Float {
        let dxA = g.ax[k] - g.ax[r], dyA = g.ay[k] - g.ay[r]
        let dxB = g.bx[k] - g.bx[r], dyB = g.by[k] - g.by[r]
        let lenA2 = dxA * dxA + dyA * dyA, lenB2 = dxB * dxB + dyB * dyB
        let lenA = lenA2.squareRoot(), lenB = lenB2.squareRoot()
        let d1 = abs(lenA - lenB)
        if d1 >= CompatibilityTables.lengthLimit { return 0 }
        let z1 = lengthTable[Int(d1 * CompatibilityTables.lengthSteps)]
        var d2 = Int((g.delta[r] &- g.delta[k]) & 255)
        if d2 > 128 { d2 = 256 - d2 }
        let z2 = directionTable[d2]
        // Segment r→k in each minutia r's own frame; the angle between the two frames'
        // segments is d3, obtained through its cosine.
        let ac = g.ac[r], as_ = g.as_[r], bc = g.bc[r], bs = g.bs[r]
        let uA = ac * dxA + as_ * dyA, vA = -as_ * dxA + ac * dyA
        let uB = bc * dxB + bs * dyB, vB = -bs * dxB + bc * dyB
        let denom = lenA * lenB
        let cosine: Float = denom > 0 ? max(-1, min(1, (uA * uB + vA * vB) / denom)) : 1
        let z3 = segmentTable[Int((cosine + 1) * CompatibilityTables.segmentSteps)]
        let v = z1 * z2 * z3
        return v < CompatibilityTables.rhoFloor ? 0 : v
    }
}

/// The selected pairs' geometry, structure of arrays (see `TemplateComparator.pairGeometry`).
struct PairGeometry {
    let ax, ay, bx, by: UnsafeMutablePointer<Float>
    /// cos and sin of each pair's A and B minutia directions.
    let ac, as_, bc, bs: UnsafeMutablePointer<Float>
    /// A direction − B direction, ISO units (not reduced).
    let delta: UnsafeMutablePointer<Int32>
    /// Each pair's local similarity λ₀, which decides the frame of ρ.
    let initial: UnsafeMutablePointer<Float>

    init(_ l: TemplateComparator.Layout, _ m: TemplateComparator.Arena) {
        ax = m.f + l.ax; ay = m.f + l.ay; bx = m.f + l.bx; by = m.f + l.by
        ac = m.f + l.ac; as_ = m.f + l.as_; bc = m.f + l.bc; bs = m.f + l.bs
        delta = m.i + l.delta
        initial = m.f + l.initial
    }
}

extension MatchTemplate {
    /// Total order used to orient a comparison canonically (count, then content hash).
    static func precedes(_ a: MatchTemplate, _ b: MatchTemplate) -> Bool {
        if a.count != b.count { return a.count < b.count }
        return a.contentHash < b.contentHash
    }
}
