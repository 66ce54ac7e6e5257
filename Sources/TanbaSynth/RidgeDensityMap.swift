import Foundation

/// Local ridge period (pixels per ridge–valley cycle) over a master fingerprint.
///
/// At 500 dpi real ridges repeat every 8–11 pixels, about 0.45 mm (frequency ≈ 1/9 px⁻¹).
/// Following SFinGe (Handbook of Fingerprint Recognition, 2nd ed., §8.3.3) the density is not
/// uniform: ridges are visibly denser above the northernmost core (the fingertip) and below
/// the southernmost delta, and they crowd a little toward the sides of the finger. We start
/// from a per-finger base period, shorten it smoothly in those regions, and add a gentle
/// random undulation so that no two fingers share the same density map.
struct RidgeDensityMap: Sendable {
    var basePeriod: Double
    /// Fractional shortening above the top core, below the bottom delta and near the outline.
    var topShrink: Double, bottomShrink: Double, edgeShrink: Double
    var topY: Double, bottomY: Double
    var transition: Double
    var area: FingerprintSilhouette
    /// Low-frequency undulation: (kx, ky, phase, relative amplitude).
    var waves: [(Double, Double, Double, Double)]

    static let periodRange: ClosedRange<Double> = 7...11.5

    func period(_ x: Double, _ y: Double) -> Double {
        var shrink = topShrink * smoothstep((topY - y) / transition)
            + bottomShrink * smoothstep((y - bottomY) / transition)
            + edgeShrink * smoothstep((area.radius(x, y) - 0.55) / 0.45)
        for (kx, ky, phase, amplitude) in waves {
            shrink += amplitude * sin(kx * x + ky * y + phase)
        }
        let p = basePeriod * (1 - shrink)
        return min(RidgeDensityMap.periodRange.upperBound, max(RidgeDensityMap.periodRange.lowerBound, p))
    }

    @inline(__always) private func smoothstep(_ t: Double) -> Double {
        let c = min(1, max(0, t))
        return c * c * (3 - 2 * c)
    }

    static func sample(area: FingerprintSilhouette, singularities: [SingularPoint],
                       using rng: inout SeededGenerator) -> RidgeDensityMap {
        let cores = singularities.filter { $0.kind == .core }.map(\.y)
        let deltas = singularities.filter { $0.kind == .delta }.map(\.y)
        let centreY = area.centerY
        // Without singular points (arches) the "top" and "bottom" zones are taken relative
        // to the middle of the finger.
        let topY = (cores.min() ?? centreY - 0.1 * area.height) - 0.05 * area.height
        let bottomY = (deltas.max() ?? centreY + 0.2 * area.height) + 0.05 * area.height
        var waves: [(Double, Double, Double, Double)] = []
        for i in 0..<7 {
            let wavelength = i < 3 ? rng.uniform(120, 260) : rng.uniform(45, 90)
            let direction = rng.uniform(0, 2 * Double.pi)
            let k = 2 * Double.pi / wavelength
            waves.append((k * cos(direction), k * sin(direction), rng.uniform(0, 2 * Double.pi),
                          i < 3 ? rng.uniform(0.01, 0.03) : rng.uniform(0.03, 0.05)))
        }
        return RidgeDensityMap(basePeriod: rng.uniform(8.5, 9.9),
                               topShrink: rng.uniform(0.06, 0.14), bottomShrink: rng.uniform(0.04, 0.1),
                               edgeShrink: rng.uniform(0.03, 0.08),
                               topY: topY, bottomY: bottomY, transition: rng.uniform(60, 110),
                               area: area, waves: waves)
    }
}
