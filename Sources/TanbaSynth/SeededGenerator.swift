import Foundation

/// A small, fast, deterministic random number generator: xoshiro256** (Blackman & Vigna,
/// "Scrambled linear pseudorandom number generators", 2018), seeded through SplitMix64.
///
/// Everything synthetic in Tanba derives from a 64-bit seed through this type, so a seed
/// reproduces the same fingers, impressions and galleries on every machine and Swift version.
/// That is also why the helpers below turn raw bits into numbers themselves instead of
/// calling the standard library's `random(in:using:)`, whose algorithm is not specified.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    /// A generator whose whole stream is fixed by `seed` (any value, including 0, is fine:
    /// SplitMix64 spreads it over the 256-bit state, which is never all zero).
    public init(seed: UInt64) {
        var sm = seed
        s0 = SeededGenerator.splitMix64(&sm)
        s1 = SeededGenerator.splitMix64(&sm)
        s2 = SeededGenerator.splitMix64(&sm)
        s3 = SeededGenerator.splitMix64(&sm)
    }

    /// A generator for one item of a family, e.g. finger 3 of person 17: the stream of
    /// `(seed, a)` is unrelated to the streams of `(seed, b)` and of `seed + 1`.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: SeededGenerator.mix(seed, stream))
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Combines a seed and a stream index into a new seed (two SplitMix64 rounds), so that
    /// derived seeds of neighbouring indices are statistically independent.
    public static func mix(_ seed: UInt64, _ stream: UInt64) -> UInt64 {
        var x = seed ^ (stream &* 0xD1B5_4A32_D192_ED03)
        _ = splitMix64(&x)
        return splitMix64(&x)
    }

    private static func splitMix64(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension SeededGenerator {
    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [lower, upper).
    public mutating func uniform(_ lower: Double, _ upper: Double) -> Double { lower + (upper - lower) * unit() }

    /// Uniform integer in 0..<bound (bound > 0), by Lemire's multiply-shift with rejection.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// Standard normal deviate (Box–Muller; one of the pair is discarded to keep the
    /// generator a plain value without a cached spare).
    public mutating func gaussian() -> Double {
        let u1 = max(unit(), 0x1p-60)
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// True with probability p.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }
}
