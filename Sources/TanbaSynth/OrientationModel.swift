import Foundation

/// The ridge orientation field of a master fingerprint.
///
/// The core of it is the zero-pole model of Sherlock & Monro ("A model for interpreting
/// fingerprint topology", Pattern Recognition 26, 1993): seen as a complex function, the
/// orientation at z is
///
///     θ(z) = θ∞ + ½ Σ_cores g(arg(z − cᵢ)) − ½ Σ_deltas g(arg(z − dⱼ))
///
/// so that walking once around a core turns the ridges by +π (Poincaré index +½) and around
/// a delta by −π (index −½), and far from all singularities the ridges settle at θ∞.
///
/// Two corrections make it look like a real finger, as in SFinGe (Handbook of Fingerprint
/// Recognition, 2nd ed., §8.3.2):
///
/// - Vizcaya & Gerhardt's piecewise-linear correction g ("A nonlinear orientation model for
///   global description of fingerprints", Pattern Recognition 29, 1996): arg is remapped by
///   a monotone function through L = 8 jittered control points, which bends the loops and
///   deltas into individual shapes. g keeps ±π fixed, so indices are untouched.
/// - An arch term: the bare model leaves ridges flat away from the singularities, whereas
///   real ridges follow the fingertip's dome at the top and flatten toward the crease. We add
///   the orientation of a family of arch-shaped curves, weighted so that it fades in away from
///   the singular points (and is the whole field of a plain arch). Adding a continuous,
///   single-valued angle to θ can neither create nor remove a singularity, which is why this
///   is an additive correction and not an average of two fields.
///
/// Angles are in the image frame (x right, y down), in radians; ridge orientation is
/// defined modulo π.
struct OrientationModel: Sendable {
    var singularities: [SingularPoint]
    /// θ∞, the orientation far from the singular points (0 = horizontal ridges).
    var baseAngle: Double
    /// Per singular point, the values of g at α_k = −π + 2πk/L, k = 0…L (g(±π) = ±π).
    var corrections: [[Double]]
    var arch: ArchCurves
    /// Distance over which the arch term fades in away from singular points (pixels);
    /// 0 means the arch term applies everywhere at full strength (plain arch).
    var archFadeRadius: Double

    static let controlPoints = 8

    /// Ridge orientation at (x, y), in [0, π).
    func angle(_ x: Double, _ y: Double) -> Double {
        var theta = baseAngle
        var nearest2 = Double.infinity
        for (i, s) in singularities.enumerated() {
            let dx = x - s.x, dy = y - s.y
            nearest2 = min(nearest2, dx * dx + dy * dy)
            let a = OrientationModel.remap(atan2(dy, dx), corrections[i])
            theta += s.kind == .core ? 0.5 * a : -0.5 * a
        }
        var weight = 1.0
        if archFadeRadius > 0 {
            weight = 1 - exp(-nearest2 / (2 * archFadeRadius * archFadeRadius))
        }
        theta += weight * arch.angle(x, y)
        theta = theta.truncatingRemainder(dividingBy: .pi)
        return theta < 0 ? theta + .pi : theta
    }

    /// Vizcaya–Gerhardt's g: linear interpolation between the control values.
    @inline(__always)
    static func remap(_ alpha: Double, _ g: [Double]) -> Double {
        let step = 2 * Double.pi / Double(controlPoints)
        let t = (alpha + .pi) / step
        let k = min(controlPoints - 1, max(0, Int(t)))
        let f = t - Double(k)
        return g[k] + f * (g[k + 1] - g[k])
    }

    /// Places singular points for `fingerprintClass` inside `area` the way they occur on real
    /// fingers (core a little above the centre; a loop's delta below and to the side opposite
    /// the loop's opening; a whorl's two cores stacked near the centre with a delta on each side).
    static func sample(for fingerprintClass: FingerprintClass, in area: FingerprintSilhouette,
                       using rng: inout SeededGenerator) -> OrientationModel {
        let w = area.width, h = area.height
        let cx = area.centerX + (area.a2 - area.a1) / 2
        let cy = area.centerY - 0.06 * h
        var points: [SingularPoint] = []
        switch fingerprintClass {
        case .arch:
            break
        case .tentedArch:
            let core = SingularPoint(kind: .core, x: cx + rng.uniform(-0.06, 0.06) * w, y: cy + rng.uniform(-0.08, 0.04) * h)
            points = [core, SingularPoint(kind: .delta, x: core.x + rng.uniform(-0.03, 0.03) * w,
                                          y: core.y + rng.uniform(0.13, 0.22) * h)]
        case .leftLoop, .rightLoop:
            // The delta sits on the side the ridges do not open to.
            let side: Double = fingerprintClass == .rightLoop ? -1 : 1
            let core = SingularPoint(kind: .core, x: cx + side * rng.uniform(-0.02, 0.1) * w,
                                     y: cy + rng.uniform(-0.1, 0.05) * h)
            points = [core, SingularPoint(kind: .delta, x: core.x + side * rng.uniform(0.24, 0.5) * w,
                                          y: core.y + rng.uniform(0.16, 0.36) * h)]
        case .whorl:
            let x0 = cx + rng.uniform(-0.05, 0.05) * w, y0 = cy + rng.uniform(-0.06, 0.04) * h
            let half = rng.uniform(0.03, 0.08) * h
            let tilt = rng.uniform(-0.6, 0.6)
            let dx = half * sin(tilt), dy = half * cos(tilt)
            points = [SingularPoint(kind: .core, x: x0 - dx, y: y0 - dy),
                      SingularPoint(kind: .core, x: x0 + dx, y: y0 + dy)]
            let deltaY = y0 + rng.uniform(0.22, 0.32) * h
            points.append(SingularPoint(kind: .delta, x: x0 - rng.uniform(0.3, 0.42) * w, y: deltaY + rng.uniform(-0.04, 0.04) * h))
            points.append(SingularPoint(kind: .delta, x: x0 + rng.uniform(0.3, 0.42) * w, y: deltaY + rng.uniform(-0.04, 0.04) * h))
        }

        // Jittered, still strictly increasing control values of g; the ends stay at ±π.
        let step = 2 * Double.pi / Double(controlPoints)
        let corrections = points.map { _ in
            (0...controlPoints).map { k -> Double in
                let alpha = -Double.pi + Double(k) * step
                return (k == 0 || k == controlPoints) ? alpha : alpha + rng.uniform(-0.45, 0.45) * step
            }
        }
        let top = area.centerY - area.c / 2 - area.b1
        let bottom = area.centerY + area.c / 2 + area.b2
        let isArch = fingerprintClass == .arch
        let arch = ArchCurves(centerX: cx + rng.uniform(-0.05, 0.05) * w, top: top, bottom: bottom,
                              amplitude: (isArch ? rng.uniform(0.22, 0.32) : rng.uniform(0.12, 0.2)) * h,
                              spread: rng.uniform(0.32, 0.42) * w)
        return OrientationModel(singularities: points, baseAngle: rng.uniform(-0.12, 0.12),
                                corrections: corrections, arch: arch,
                                archFadeRadius: isArch ? 0 : rng.uniform(0.12, 0.2) * w)
    }
}

/// A family of dome-shaped curves, the level sets of φ(x, y) = y + A(y)·exp(−((x − x₀)/s)²):
/// flat at the bottom of the finger (A = 0 at the crease) and increasingly domed toward the
/// top, like the ridges of a plain arch. `angle` is the orientation of the curve through a
/// point. φ is kept strictly increasing in y (|A′| small), so the family has no singularity.
struct ArchCurves: Sendable {
    var centerX: Double
    var top: Double
    var bottom: Double
    var amplitude: Double
    var spread: Double

    func angle(_ x: Double, _ y: Double) -> Double {
        let span = bottom - top
        let t = min(1, max(0, (bottom - y) / span))   // 0 at the bottom, 1 at the top
        // A(y) = amplitude · smoothstep(t), dA/dy = −amplitude · 6t(1−t) / span.
        let a = amplitude * t * t * (3 - 2 * t)
        let da = -amplitude * 6 * t * (1 - t) / span
        let u = (x - centerX) / spread
        let bump = exp(-u * u)
        let phiX = a * bump * (-2 * u / spread)
        let phiY = 1 + da * bump
        return atan2(-phiX, phiY)
    }
}
