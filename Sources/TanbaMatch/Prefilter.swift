import CTanbaKernels
import TanbaCore

/// A fixed-length binary summary of a finger for the first stage of 1:N search.
///
/// Locality-sensitive hashing of the cylinders, in the spirit of Cappelli, Ferrara & Maltoni's
/// MCC indexing (IEEE TPAMI 2011), folded into one vector per finger so that the whole
/// gallery can be scanned with AND + popcount: the vector has `segments` segments of 256
/// bits; in segment s every cylinder sets the bit addressed by 8 of its own bits chosen
/// for that segment. Two impressions of one finger share many similar cylinders, so
/// they set many of the same bits; unrelated fingers share bits only by chance.
/// Translation and rotation invariance come with the cylinders.
public struct PrefilterEncoder: Sendable, Hashable {
    public let segments: Int
    /// Cylinder bit positions sampled by each segment's hash (8 per segment).
    let positions: [Int]

    public static let bitsPerSegment = 256
    public var wordCount: Int { segments * Self.bitsPerSegment / 64 }

    public init(geometry: CylinderGeometry = .init(), segments: Int = 8, seed: UInt64 = 0x7A4B_A0F1) {
        self.segments = segments
        // Positions drawn without replacement per segment from a fixed-seed SplitMix64, so the
        // hash is the same in every process and for every gallery.
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var positions = [Int]()
        for _ in 0..<segments {
            var chosen = Set<Int>()
            while chosen.count < 8 { chosen.insert(Int(next() % UInt64(geometry.bitCount))) }
            positions += chosen.sorted()
        }
        self.positions = positions
    }

    /// The prefilter vector of a prepared template (`wordCount` words).
    public func encode(_ t: MatchTemplate) -> [UInt64] {
        var v = [UInt64](repeating: 0, count: wordCount)
        for i in 0..<t.count {
            for s in 0..<segments {
                var h = 0
                for b in 0..<8 {
                    let p = positions[s * 8 + b]
                    if t.word(i, p >> 6) & (1 << UInt64(p & 63)) != 0 { h |= 1 << b }
                }
                let bit = s * Self.bitsPerSegment + h
                v[bit >> 6] |= 1 << UInt64(bit & 63)
            }
        }
        return v
    }
}

extension SimilarityKernel {
    /// popcount(probe ∧ g) for each gallery vector of a blocked gallery (count multiple of 8).
    public func andPopcount(probe: [UInt64], gallery: UnsafeBufferPointer<UInt64>, count: Int,
                            into out: UnsafeMutableBufferPointer<UInt16>) {
        precondition(count % 8 == 0 && out.count >= count && gallery.count >= count * probe.count)
        probe.withUnsafeBufferPointer { p in
            tanba_and_popcount_scan(level.cLevel, p.baseAddress, Int32(probe.count), gallery.baseAddress,
                                    Int64(count), out.baseAddress)
        }
    }
}
