import Foundation

/// Everything that makes one impression differ from another of the same finger, drawn from
/// ranges set by the difficulty preset (SFinGe's impression stage, Handbook of Fingerprint
/// Recognition, 2nd ed., §8.4: contact region, skin condition, distortion, noise, placement).
struct ImpressionParameters: Sendable {
    // Placement of the finger on the sensor.
    var rotation: Double            // radians, counter-clockwise on screen
    var shiftX: Double, shiftY: Double

    // What touches the glass (master frame): a shrunk, displaced copy of the outline, cut by
    // a straight edge when the finger was rolled or lifted on one side.
    var contact: FingerprintSilhouette
    var cut: (normalX: Double, normalY: Double, offset: Double)?
    var distortion: PlasticDistortion

    // Skin: −1 is very wet (thick, merged ridges), +1 very dry (thin, broken ridges).
    var moisture: Double
    var moistureVariation: Double
    /// How much drier the ridges get toward the edge of the contact, where pressure drops.
    var edgeDrying: Double

    // Sensor and rendering.
    var background: Double          // gray level of the empty glass
    var backgroundVariation: Double
    var ridgeGray: Double           // gray level of a fully inked ridge
    var contrastVariation: Double   // fraction by which ridge darkness varies over the image
    var noiseSigma: Double          // gray levels
    var speckleDensity: Double      // fraction of pixels hit by small white blobs
    var scratches: Int
    var blurSigma: Double           // pixels

    /// Ranges per preset: (lower, upper) pairs.
    private struct Ranges {
        var rotationDegrees: Double
        var shift: Double
        var contactScale: (Double, Double)
        var contactOffset: Double
        var cutProbability: Double
        var distortionDegrees: Double
        var distortionShift: Double
        var moisture: Double
        var moistureVariation: (Double, Double)
        var noise: (Double, Double)
        var speckles: (Double, Double)
        var scratchProbability: Double
        var blur: (Double, Double)
    }

    private static func ranges(_ d: ImpressionOptions.Difficulty) -> Ranges {
        switch d {
        case .easy:
            return Ranges(rotationDegrees: 8, shift: 15, contactScale: (0.92, 1.02), contactOffset: 0.03,
                          cutProbability: 0.05, distortionDegrees: 1.5, distortionShift: 4, moisture: 0.25,
                          moistureVariation: (0.05, 0.15), noise: (2, 4), speckles: (0, 0.002),
                          scratchProbability: 0, blur: (0.6, 0.8))
        case .realistic:
            return Ranges(rotationDegrees: 25, shift: 40, contactScale: (0.76, 0.98), contactOffset: 0.11,
                          cutProbability: 0.35, distortionDegrees: 6, distortionShift: 14, moisture: 0.75,
                          moistureVariation: (0.1, 0.3), noise: (3, 7), speckles: (0.001, 0.006),
                          scratchProbability: 0.15, blur: (0.6, 1.0))
        case .hard:
            return Ranges(rotationDegrees: 35, shift: 60, contactScale: (0.68, 0.95), contactOffset: 0.12,
                          cutProbability: 0.5, distortionDegrees: 7, distortionShift: 16, moisture: 1,
                          moistureVariation: (0.2, 0.45), noise: (6, 12), speckles: (0.004, 0.012),
                          scratchProbability: 0.5, blur: (0.8, 1.3))
        }
    }

    static func sample(for master: MasterFingerprint, difficulty: ImpressionOptions.Difficulty,
                       using rng: inout SeededGenerator) -> ImpressionParameters {
        let r = ranges(difficulty)
        let area = master.area
        let degree = Double.pi / 180

        // Contact: smaller than the whole fingertip, displaced, and biased toward the upper
        // part: in a plain impression the crease end of the fingertip rarely touches.
        let scale = rng.uniform(r.contactScale.0, r.contactScale.1)
        var contact = area
        contact.a1 *= scale * rng.uniform(0.95, 1.05)
        contact.a2 *= scale * rng.uniform(0.95, 1.05)
        contact.b1 *= scale
        contact.b2 *= scale * rng.uniform(0.85, 1.0)
        contact.c *= scale
        contact.centerX += rng.uniform(-1, 1) * r.contactOffset * area.width
        contact.centerY += rng.uniform(-1.2, 0.6) * r.contactOffset * area.height

        var cut: (Double, Double, Double)?
        if rng.chance(r.cutProbability) {
            // Mostly the bottom or a side lifts off the glass.
            let direction = rng.uniform(0.15, 0.85) * Double.pi + (rng.chance(0.3) ? Double.pi / 2 * (rng.chance(0.5) ? 1 : -1) : 0)
            let reach = min(contact.width, contact.height) / 2
            cut = (cos(direction), sin(direction), rng.uniform(0.35, 0.8) * reach)
        }

        let distortion = PlasticDistortion(
            centerX: contact.centerX + rng.uniform(-0.1, 0.1) * contact.width,
            centerY: contact.centerY + rng.uniform(-0.1, 0.1) * contact.height,
            radiusX: rng.uniform(0.15, 0.25) * contact.width, radiusY: rng.uniform(0.15, 0.25) * contact.height,
            transition: rng.uniform(40, 80),
            rotation: rng.uniform(-1, 1) * r.distortionDegrees * degree,
            shiftX: rng.uniform(-1, 1) * r.distortionShift, shiftY: rng.uniform(-1, 1) * r.distortionShift)

        return ImpressionParameters(
            rotation: rng.uniform(-1, 1) * r.rotationDegrees * degree,
            shiftX: rng.uniform(-1, 1) * r.shift, shiftY: rng.uniform(-1, 1) * r.shift,
            contact: contact, cut: cut, distortion: distortion,
            moisture: rng.uniform(-1, 1) * r.moisture,
            moistureVariation: rng.uniform(r.moistureVariation.0, r.moistureVariation.1),
            edgeDrying: rng.uniform(0.2, 0.6),
            background: rng.uniform(228, 250), backgroundVariation: rng.uniform(2, 8),
            ridgeGray: rng.uniform(5, 55), contrastVariation: rng.uniform(0.05, 0.25),
            noiseSigma: rng.uniform(r.noise.0, r.noise.1),
            speckleDensity: rng.uniform(r.speckles.0, r.speckles.1),
            scratches: rng.chance(r.scratchProbability) ? 1 + rng.below(difficulty == .hard ? 3 : 2) : 0,
            blurSigma: rng.uniform(r.blur.0, r.blur.1))
    }
}
