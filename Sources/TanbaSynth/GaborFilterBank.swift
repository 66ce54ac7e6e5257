import Foundation

/// Precomputed even-symmetric Gabor kernels, quantised by ridge orientation and period.
///
/// SFinGe grows ridges with a space-variant filter whose orientation and frequency follow
/// the local field values (Cappelli, Erol, Maio & Maltoni, "Synthetic fingerprint-image
/// generation", ICPR 2000). Building a kernel per pixel would dominate the run time, so the
/// bank holds one kernel per (orientation step, period step): 48 orientations (3.75°, below
/// what the eye or a minutiae detector can tell apart on a 15-pixel window) times the
/// periods 6.5…12.5 px in half-pixel steps.
///
/// A kernel is
///
///     g(u, v) = exp(−u²/2σ⊥² − v²/2σ∥²) · cos(2πu / T)
///
/// with u across and v along the ridges. The envelope is longer along the ridge than across
/// it, which favours continuous ridges over islands. Each kernel has its mean removed (so a
/// flat patch gives no response and the growth cannot drift toward all-black or all-white)
/// and is scaled so that a unit sinusoid of its own period and orientation answers 1.
///
/// Layout: `rows` rows of `rowStride` (16) floats per kernel, the last column zero, so that
/// the filtering loop runs over whole, vector-friendly rows without a remainder.
struct GaborFilterBank: Sendable {
    static let radius = 7
    static let rows = 2 * radius + 1
    static let rowStride = 16
    static let kernelSize = rows * rowStride
    static let orientationSteps = 48
    static let minPeriod = 6.5
    static let periodStep = 0.5
    static let periodSteps = 13

    /// All kernels, index = orientationStep * periodSteps + periodStep.
    let coefficients: [Float]

    /// The shared bank (immutable; built on first use in about a millisecond).
    static let shared = GaborFilterBank()

    init(acrossSigmaRatio: Double = 0.36, alongSigmaRatio: Double = 0.5) {
        var c = [Float](repeating: 0, count: Self.orientationSteps * Self.periodSteps * Self.kernelSize)
        let r = Self.radius
        for o in 0..<Self.orientationSteps {
            let theta = Double(o) * Double.pi / Double(Self.orientationSteps)
            // Unit normal to the ridges (u axis) and tangent (v axis), image frame.
            let nx = -sin(theta), ny = cos(theta)
            for p in 0..<Self.periodSteps {
                let period = Self.minPeriod + Double(p) * Self.periodStep
                let su = acrossSigmaRatio * period, sv = alongSigmaRatio * period
                var g = [Double](repeating: 0, count: Self.rows * Self.rows)
                var envelope = g
                var gSum = 0.0, eSum = 0.0
                for dy in -r...r {
                    for dx in -r...r {
                        let u = Double(dx) * nx + Double(dy) * ny
                        let v = Double(dx) * ny - Double(dy) * nx
                        let e = exp(-u * u / (2 * su * su) - v * v / (2 * sv * sv))
                        let i = (dy + r) * Self.rows + (dx + r)
                        envelope[i] = e
                        g[i] = e * cos(2 * Double.pi * u / period)
                        gSum += g[i]
                        eSum += e
                    }
                }
                // Zero mean, then unit gain on the matched sinusoid.
                var gain = 0.0
                for dy in -r...r {
                    for dx in -r...r {
                        let i = (dy + r) * Self.rows + (dx + r)
                        g[i] -= envelope[i] * gSum / eSum
                        let u = Double(dx) * nx + Double(dy) * ny
                        gain += g[i] * cos(2 * Double.pi * u / period)
                    }
                }
                let base = (o * Self.periodSteps + p) * Self.kernelSize
                for row in 0..<Self.rows {
                    for col in 0..<Self.rows {
                        c[base + row * Self.rowStride + col] = Float(g[row * Self.rows + col] / gain)
                    }
                }
            }
        }
        coefficients = c
    }

    /// Index of the kernel closest to a ridge orientation (radians, any range) and period.
    @inline(__always)
    static func index(orientation: Double, period: Double) -> Int {
        var o = Int((orientation / Double.pi * Double(orientationSteps)).rounded()) % orientationSteps
        if o < 0 { o += orientationSteps }
        let p = min(periodSteps - 1, max(0, Int(((period - minPeriod) / periodStep).rounded())))
        return o * periodSteps + p
    }
}
