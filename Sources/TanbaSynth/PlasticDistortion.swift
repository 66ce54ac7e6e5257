import Foundation

/// Elastic skin distortion of one impression: the plastic distortion model of Cappelli, Maio
/// & Maltoni ("Modelling plastic distortion in fingerprint images", ICAPR 2001; Handbook of
/// Fingerprint Recognition, 2nd ed., §8.4.2).
///
/// When a finger is pressed on glass and pushed or twisted a little, the skin that touched
/// first sticks and the rest of the finger moves. The model splits the fingerprint into
///
/// - a close-contact region (here an ellipse) that does not move at all,
/// - an external region that undergoes the full rigid motion T (rotation about the
///   contact centre plus translation), and
/// - a transition region in between, where the displacement fades in smoothly:
///
///       distortion(v) = v + (T(v) − v) · brake(shapedist(v))
///
/// where shapedist is the distance from the close-contact region and
/// brake(d) = 1 − exp(−d²/2k²) rises from 0 at the contact boundary to 1 a few k outside.
/// All coordinates are in the master's frame (pixels).
struct PlasticDistortion: Sendable {
    var centerX: Double, centerY: Double
    /// Semi-axes of the close-contact ellipse.
    var radiusX: Double, radiusY: Double
    /// Width of the transition region (k).
    var transition: Double
    /// Rigid motion of the external region.
    var rotation: Double
    var shiftX: Double, shiftY: Double

    static let identity = PlasticDistortion(centerX: 0, centerY: 0, radiusX: 1, radiusY: 1, transition: 1,
                                            rotation: 0, shiftX: 0, shiftY: 0)

    /// Displacement of master point (x, y): distortion(v) − v.
    @inline(__always)
    func displacement(_ x: Double, _ y: Double) -> (dx: Double, dy: Double) {
        let rx = x - centerX, ry = y - centerY
        // Distance to the ellipse, approximated radially (exact on the axes, smooth elsewhere).
        let r = ((rx / radiusX) * (rx / radiusX) + (ry / radiusY) * (ry / radiusY)).squareRoot()
        guard r > 1 else { return (0, 0) }
        let d = (r - 1) / r * (rx * rx + ry * ry).squareRoot()
        let brake = 1 - exp(-d * d / (2 * transition * transition))
        let c = cos(rotation), s = sin(rotation)
        let tx = centerX + c * rx - s * ry + shiftX
        let ty = centerY + s * rx + c * ry + shiftY
        return ((tx - x) * brake, (ty - y) * brake)
    }

    /// The master point that the distortion carries to (x, y). The displacement field is a
    /// small, smooth perturbation of the identity, so the fixed-point iteration
    /// v ← target − displacement(v) converges in a few steps.
    func inverse(_ x: Double, _ y: Double) -> (x: Double, y: Double) {
        var px = x, py = y
        for _ in 0..<8 {
            let d = displacement(px, py)
            px = x - d.dx
            py = y - d.dy
        }
        return (px, py)
    }
}
