import TanbaCore

/// A synthetic finger: the "master" ridge pattern from which all its impressions are taken.
///
/// It is what SFinGe calls the master fingerprint (Handbook of Fingerprint Recognition, 2nd
/// ed., §8.3): the whole fingertip with clean, noise-free ridges, in its own upright frame.
/// Its minutiae are fixed by it; impressions only move, distort, crop and degrade them.
public struct MasterFingerprint: Sendable {
    /// The seed this master was derived from; impressions derive theirs from it.
    public let seed: UInt64
    public let fingerprintClass: FingerprintClass
    /// Cores and deltas in master pixel coordinates. Some may lie outside the fingerprint
    /// area (a loop's delta often does), as on real fingers.
    public let singularPoints: [SingularPoint]
    public let width: Int
    public let height: Int
    /// How many filtering passes the ridge growth needed to settle.
    public let growthIterations: Int

    let area: FingerprintSilhouette
    let orientationModel: OrientationModel
    let densityMap: RidgeDensityMap
    /// Smooth ridge profile, row-major: positive on ridges (≈ +1.3 at their centre), negative
    /// in valleys, 0 outside the grown area.
    let ridgeMap: [Float]

    /// Local ridge orientation at a master pixel, radians in [0, π), image frame
    /// (x right, y down; 0 = horizontal ridges).
    public func orientation(x: Double, y: Double) -> Double { orientationModel.angle(x, y) }

    /// Local ridge period in pixels at a master pixel.
    public func ridgePeriod(x: Double, y: Double) -> Double { densityMap.period(x, y) }

    /// Whether a master pixel lies inside the fingertip outline.
    public func isInsideFingerprintArea(x: Double, y: Double) -> Bool { area.contains(x, y) }

    /// The clean ridge pattern as an image: black ridges on white, 500 dpi.
    public var ridgeImage: FingerprintImage {
        var pixels = [UInt8](repeating: 255, count: width * height)
        for i in 0..<pixels.count {
            // A steep ramp around 0 renders the smooth profile as crisp, antialiased ridges.
            let v = min(1, max(-1, ridgeMap[i] * 2.5))
            pixels[i] = UInt8(clamping: Int((127.5 - 127.5 * v).rounded()))
        }
        return FingerprintImage(width: width, height: height, pixels: pixels, dpi: 500)
    }

    /// Builds a master: class, outline, orientation and density maps, then grows the ridges.
    init(seed: UInt64, width: Int, height: Int, forcedClass: FingerprintClass?) {
        var rng = SeededGenerator(seed: seed)
        let fingerprintClass = forcedClass ?? FingerprintClass.sample(using: &rng)
        let area = FingerprintSilhouette.sample(canvasWidth: width, canvasHeight: height, margin: 12, using: &rng)
        let orientation = OrientationModel.sample(for: fingerprintClass, in: area, using: &rng)
        let density = RidgeDensityMap.sample(area: area, singularities: orientation.singularities, using: &rng)

        // Ridges grow a little past the outline so that the impression's own (smaller,
        // softer) contact region is what cuts them, never the master's edge.
        var kernelIndex = [Int32](repeating: -1, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let fx = Double(x), fy = Double(y)
                guard area.radius(fx, fy) <= 1.04 else { continue }
                kernelIndex[y * width + x] = Int32(GaborFilterBank.index(orientation: orientation.angle(fx, fy),
                                                                         period: density.period(fx, fy)))
            }
        }

        // Seeds spread over the finger. SFinGe starts from one or a few; with this filter bank
        // that leaves the ridges too regular (too few minutiae for the extractor compared with
        // real prints), so we plant about one per (35 px)² — where the patterns grown from
        // neighbouring seeds meet out of phase, endings and bifurcations form. Growth then
        // also completes in fewer passes.
        let fingerArea = Double.pi / 4 * area.width * (area.b1 + area.b2) + area.width * area.c
        let seedCount = max(3, Int(fingerArea / 1_200))
        var seeds: [(x: Int, y: Int)] = []
        while seeds.count < seedCount {
            let x = rng.uniform(area.centerX - area.a1, area.centerX + area.a2)
            let y = rng.uniform(area.centerY - area.c / 2 - area.b1, area.centerY + area.c / 2 + area.b2)
            if area.radius(x, y) < 0.95 { seeds.append((Int(x), Int(y))) }
        }
        let grown = RidgeGrowth().grow(width: width, height: height, kernelIndex: kernelIndex,
                                       seeds: seeds, bank: .shared)

        self.seed = seed
        self.fingerprintClass = fingerprintClass
        self.singularPoints = orientation.singularities
        self.width = width
        self.height = height
        self.growthIterations = grown.iterations
        self.area = area
        self.orientationModel = orientation
        self.densityMap = density
        self.ridgeMap = grown.ridges
    }
}
