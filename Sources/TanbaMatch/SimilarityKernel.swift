import CTanbaKernels

/// Computes the local similarity of every cylinder pair of two templates (bit MCC):
///   λ(i, j) = 1 − √|a_i ⊕ b_j| / (√|a_i| + √|b_j|),
/// or 0 when the minutiae directions differ by more than the comparator allows.
///
/// The fast levels run C kernels chosen at run time from CPUID; the scalar reference is
/// plain Swift. All levels produce bit-identical matrices (integer popcounts, then the
/// same correctly rounded float operations in the same order), so a score never depends
/// on the CPU it was computed on. `Tests/TanbaMatchTests` holds them to that.
///
/// The level also selects the implementation of the comparator's other fixed-formula
/// loops (candidate collection, LSS-R's ρ) and of the cylinder encoder, under the same
/// rule: the C kernels at the fast levels, the Swift definitions at the reference level.
public struct SimilarityKernel: Sendable, Hashable {
    public enum Level: String, Sendable, CaseIterable, Codable {
        /// Plain Swift loops: the reference the fast paths are tested against.
        case scalarReference = "scalar"
        case portable, avx2, avx512

        var cLevel: tanba_kernel_level {
            switch self {
            case .avx512: return TANBA_KERNEL_AVX512
            case .avx2: return TANBA_KERNEL_AVX2
            case .portable, .scalarReference: return TANBA_KERNEL_PORTABLE
            }
        }
    }

    public let level: Level

    /// Uses `level`, or the best supported level if this CPU lacks it.
    public init(level: Level) {
        self.level = SimilarityKernel.supported(level) ? level : SimilarityKernel.detectedLevel
    }

    /// The fastest level this CPU supports.
    public static let best = SimilarityKernel(level: detectedLevel)

    public static let detectedLevel: Level = {
        switch tanba_kernel_detect() {
        case TANBA_KERNEL_AVX512: return .avx512
        case TANBA_KERNEL_AVX2: return .avx2
        default: return .portable
        }
    }()

    /// Levels this CPU can run, slowest first.
    public static var supportedLevels: [Level] { Level.allCases.filter(supported) }

    static func supported(_ level: Level) -> Bool {
        switch level {
        case .scalarReference, .portable: return true
        case .avx2: return detectedLevel == .avx2 || detectedLevel == .avx512
        case .avx512: return detectedLevel == .avx512
        }
    }

    /// Fills `out` with `a.count` rows of `b.paddedCount` similarities.
    public func matrix(_ a: MatchTemplate, _ b: MatchTemplate, maximumDirectionDifference: Int, into out: inout [Float]) {
        let needed = a.count * b.paddedCount
        if out.count < needed { out = [Float](repeating: 0, count: needed) }
        out.withUnsafeMutableBufferPointer { o in
            matrix(a, b, maximumDirectionDifference: maximumDirectionDifference, into: o.baseAddress!)
        }
    }

    /// Same, into caller-owned memory of at least `a.count × b.paddedCount` floats.
    func matrix(_ a: MatchTemplate, _ b: MatchTemplate, maximumDirectionDifference: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(a.wordCount == b.wordCount, "templates built with different cylinder geometries")
        if level == .scalarReference {
            scalarMatrix(a, b, maximumDirectionDifference: maximumDirectionDifference, into: out)
            return
        }
        a.bits.withUnsafeBufferPointer { ab in a.norms.withUnsafeBufferPointer { an in
        a.rootNorms.withUnsafeBufferPointer { ar in a.angle.withUnsafeBufferPointer { aa in
        b.bits.withUnsafeBufferPointer { bb in b.norms.withUnsafeBufferPointer { bn in
        b.rootNorms.withUnsafeBufferPointer { br in b.angle.withUnsafeBufferPointer { ba in
            var ca = tanba_cylinders(bits: ab.baseAddress, norms: an.baseAddress, root_norms: ar.baseAddress,
                                     angles: aa.baseAddress, count: Int32(a.count), words: Int32(a.wordCount))
            var cb = tanba_cylinders(bits: bb.baseAddress, norms: bn.baseAddress, root_norms: br.baseAddress,
                                     angles: ba.baseAddress, count: Int32(b.count), words: Int32(b.wordCount))
            tanba_similarity_matrix(level.cLevel, &ca, &cb, Int32(maximumDirectionDifference), out, Int32(b.paddedCount))
        }}}}}}}}
    }

    /// ρ of LSS-R for every two selected pairs (see `tanba_compatibility_matrix`): the C
    /// kernels at the fast levels, the Swift definition at the reference level.
    func compatibility(_ g: PairGeometry, count n: Int, tables t: CompatibilityTables,
                       into out: UnsafeMutablePointer<Float>, stride: Int, scratch: UnsafeMutablePointer<Int32>) {
        if level == .scalarReference {
            t.referenceMatrix(g, count: n, into: out, stride: stride)
            return
        }
        var pairs = tanba_pairs(ax: g.ax, ay: g.ay, bx: g.bx, by: g.by, a_cos: g.ac, a_sin: g.as_,
                                b_cos: g.bc, b_sin: g.bs, initial: g.initial, delta: g.delta, count: Int32(n))
        var tables = tanba_compatibility_tables(length: t.lengthTable, direction: t.directionTable, segment: t.segmentTable)
        tanba_compatibility_matrix(level.cLevel, &pairs, &tables, out, Int32(stride), scratch)
    }

    /// The reference: the definition, written as plainly as possible.
    func scalarMatrix(_ a: MatchTemplate, _ b: MatchTemplate, maximumDirectionDifference: Int, into out: UnsafeMutablePointer<Float>) {
        let stride = b.paddedCount
        for i in 0..<a.count {
            for j in 0..<stride {
                var value: Float = 0
                if j < b.count {
                    var both = 0
                    for k in 0..<a.wordCount { both += (a.word(i, k) & b.word(j, k)).nonzeroBitCount }
                    var gap = (Int(a.angle[i]) - Int(b.angle[j])) & 255
                    if gap > 128 { gap = 256 - gap }
                    let denominator = a.rootNorms[i] + b.rootNorms[j]
                    if gap <= maximumDirectionDifference && denominator != 0 {
                        let difference = a.norms[i] + b.norms[j] - 2 * Float(both)
                        value = 1 - difference.squareRoot() / denominator
                    }
                }
                out[i * stride + j] = value
            }
        }
    }
}
