/// The outline of a fingerprint area: SFinGe's "four elliptical quarters and a rectangle"
/// (Cappelli, Maio & Maltoni, Handbook of Fingerprint Recognition, 2nd ed., §8.3.1).
///
///          ╭───── b1 ─────╮        the top cap is two quarter ellipses with
///         ╱  a1    │   a2  ╲       semi-axes (a1, b1) and (a2, b1),
///        │         │        │ c    a rectangle of height c in the middle,
///         ╲        │       ╱       and the bottom two quarters (a1, b2), (a2, b2).
///          ╰───── b2 ─────╯
///
/// Unequal a1/a2 and b1/b2 give the slightly asymmetric, egg-like shapes of real fingertips.
/// The same shape, displaced and shrunk, also describes the part of the finger that touches
/// the glass in one impression.
struct FingerprintSilhouette: Sendable, Equatable {
    var centerX: Double
    var centerY: Double
    var a1: Double, a2: Double
    var b1: Double, b2: Double
    var c: Double

    var width: Double { a1 + a2 }
    var height: Double { b1 + c + b2 }

    /// Normalised radial distance: < 1 inside, 1 on the outline, growing outward.
    /// It is exact on the axes and a smooth, monotone stand-in elsewhere, which is all the
    /// masks, pressure fall-offs and soft edges need.
    @inline(__always)
    func radius(_ x: Double, _ y: Double) -> Double {
        let dx = x - centerX
        let dy = y - centerY
        let nx = dx / (dx < 0 ? a1 : a2)
        let half = 0.5 * c
        let ny: Double
        if dy < -half { ny = (dy + half) / b1 } else if dy > half { ny = (dy - half) / b2 } else { ny = 0 }
        return (nx * nx + ny * ny).squareRoot()
    }

    @inline(__always)
    func contains(_ x: Double, _ y: Double) -> Bool { radius(x, y) <= 1 }

    /// A realistic fingertip outline for a plain impression at 500 dpi (about 13.5–18 mm wide
    /// and 16–24 mm tall), shrunk when needed to leave `margin` pixels inside the canvas.
    static func sample(canvasWidth: Int, canvasHeight: Int, margin: Double,
                       using rng: inout SeededGenerator) -> FingerprintSilhouette {
        var a1 = rng.uniform(135, 172)
        var a2 = a1 * rng.uniform(0.92, 1.08)
        var b1 = rng.uniform(130, 175)
        var c = rng.uniform(60, 120)
        var b2 = rng.uniform(130, 180)
        let fitX = (Double(canvasWidth) - 2 * margin) / (a1 + a2)
        let fitY = (Double(canvasHeight) - 2 * margin) / (b1 + c + b2)
        let scale = min(1, fitX, fitY)
        a1 *= scale; a2 *= scale; b1 *= scale; b2 *= scale; c *= scale
        // Centre the outline's bounding box on the canvas.
        let cx = Double(canvasWidth) / 2 + (a1 - a2) / 2
        let cy = Double(canvasHeight) / 2 + (b1 - b2) / 2
        return FingerprintSilhouette(centerX: cx, centerY: cy, a1: a1, a2: a2, b1: b1, b2: b2, c: c)
    }
}
