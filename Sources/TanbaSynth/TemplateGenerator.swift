import Foundation
import TanbaCore

/// Fast template-level synthetic fingers: minutiae sets of "master" fingers and noisy
/// impressions of them, without rendering images. Used for million-finger galleries,
/// the demo and tests that run without real data.
///
/// A master finger is a fingertip outline and an orientation field (the same SFinGe models
/// as the image generator) with minutiae scattered over the area, at least a ridge period
/// apart, pointing along the local ridge flow. An impression applies what a live-scan
/// capture and a detector do to that ground truth: a rigid move on the glass, elastic skin
/// distortion, a sensor window and partial contact that hide part of the finger, minutiae
/// lost and spurious ones added (more of both on a poor impression), position, direction
/// and type noise. The defaults are calibrated so that mated pairs score no higher than
/// real FVC2002 mated pairs do (docs/synthetic.md has the side-by-side figures).
public struct SyntheticTemplateGenerator: Sendable {
    public struct Options: Sendable, Hashable {
        /// Sensor window of an impression, in 500-dpi pixels.
        public var windowWidth = 388, windowHeight = 374
        /// Master minutiae density (minutiae per 500-dpi pixel²) and spread of it between fingers.
        public var density = 1.0 / 1500, densitySpread = 0.2
        /// Minimum distance between master minutiae (about one ridge period).
        public var minimumSpacing = 11.0
        /// Rigid placement on the glass.
        public var maximumRotationDegrees = 20.0, translationSigma = 22.0
        /// Peak elastic displacement (pixels).
        public var distortion = 4.0
        /// Loss and clutter at best and at worst impression quality.
        public var missingRate = (best: 0.08, worst: 0.23)
        public var spuriousRate = (best: 0.05, worst: 0.25)
        /// Position (pixels) and direction (degrees) noise at best and worst quality.
        public var positionSigma = (best: 1.0, worst: 2.5)
        public var angleSigmaDegrees = (best: 3.0, worst: 7.0)
        public var typeFlipRate = 0.12
        public init() {}

        public static func == (a: Options, b: Options) -> Bool {
            a.windowWidth == b.windowWidth && a.windowHeight == b.windowHeight && a.density == b.density
                && a.minimumSpacing == b.minimumSpacing && a.distortion == b.distortion
                && a.missingRate == b.missingRate && a.spuriousRate == b.spuriousRate
        }
        public func hash(into h: inout Hasher) { h.combine(windowWidth); h.combine(density); h.combine(distortion) }
    }

    /// Ground truth of one synthetic finger.
    public struct Master: Sendable {
        public let finger: UInt64
        public let fingerprintClass: FingerprintClass
        /// Canvas coordinates (500 dpi, y down) and ridge-flow direction in radians (image frame).
        public let x: [Double], y: [Double], direction: [Double]
        public let kind: [MinutiaKind]
        let area: FingerprintSilhouette
        let orientation: OrientationModel
    }

    public let seed: UInt64
    public let options: Options
    static let canvasWidth = 480, canvasHeight = 560

    public init(seed: UInt64, options: Options = .init()) {
        self.seed = seed
        self.options = options
    }

    /// The master finger number `finger` (deterministic in seed and finger).
    public func master(finger: UInt64) -> Master {
        var rng = SeededGenerator(seed: seed, stream: finger &* 2 &+ 1)
        let cls = FingerprintClass.sample(using: &rng)
        let area = FingerprintSilhouette.sample(canvasWidth: Self.canvasWidth, canvasHeight: Self.canvasHeight,
                                                margin: 12, using: &rng)
        let field = OrientationModel.sample(for: cls, in: area, using: &rng)
        let areaPixels = Double.pi / 4 * area.width * (area.b1 + area.b2) + area.width * area.c
        let target = max(12, Int((areaPixels * options.density * (1 + options.densitySpread * rng.gaussian())).rounded()))
        var xs = [Double](), ys = [Double](), dirs = [Double](), kinds = [MinutiaKind]()
        let spacing2 = options.minimumSpacing * options.minimumSpacing
        var attempts = 0
        while xs.count < target && attempts < target * 60 {
            attempts += 1
            let x = area.centerX - area.a1 + rng.unit() * area.width
            let y = area.centerY - area.c / 2 - area.b1 + rng.unit() * area.height
            guard area.radius(x, y) <= 0.97 else { continue }
            var clear = true
            for k in 0..<xs.count where (xs[k] - x) * (xs[k] - x) + (ys[k] - y) * (ys[k] - y) < spacing2 { clear = false; break }
            guard clear else { continue }
            xs.append(x); ys.append(y)
            // A minutia points along the ridge; which of the two ways is random.
            dirs.append(field.angle(x, y) + (rng.chance(0.5) ? .pi : 0))
            kinds.append(rng.chance(0.5) ? .ridgeEnding : .bifurcation)
        }
        return Master(finger: finger, fingerprintClass: cls, x: xs, y: ys, direction: dirs, kind: kinds,
                      area: area, orientation: field)
    }

    /// Impression `index` of a master: what a detector would report from one capture.
    public func impression(of master: Master, index: Int, position: FingerPosition = .unknown) -> FingerTemplate {
        var rng = SeededGenerator(seed: SeededGenerator.mix(seed, master.finger), stream: UInt64(index) &+ 0x9E37)
        let o = options
        let quality = rng.unit()                       // 1 = best impression, 0 = worst
        func lerp(_ r: (best: Double, worst: Double)) -> Double { r.worst + (r.best - r.worst) * quality }

        // Rigid placement about the finger centre, then the sensor window around it.
        let cx = master.area.centerX, cy = master.area.centerY
        let rotation = (rng.unit() * 2 - 1) * o.maximumRotationDegrees * .pi / 180
        let tx = o.translationSigma * rng.gaussian(), ty = o.translationSigma * rng.gaussian()
        let cosR = cos(rotation), sinR = sin(rotation)
        let windowX = cx - Double(o.windowWidth) / 2 + 18 * rng.gaussian()
        let windowY = cy - Double(o.windowHeight) / 2 + 18 * rng.gaussian()
        // Partial contact: the part of the finger touching the glass, a shrunk, shifted outline.
        var contact = master.area
        let shrink = 0.72 + 0.28 * rng.unit()
        contact.a1 *= shrink; contact.a2 *= shrink; contact.b1 *= shrink; contact.b2 *= shrink; contact.c *= shrink
        contact.centerX += 25 * rng.gaussian(); contact.centerY += 25 * rng.gaussian()
        // Elastic distortion: a few smooth Gaussian bumps of displacement.
        let bumps = (0..<3).map { _ in
            (x: cx + 90 * rng.gaussian(), y: cy + 110 * rng.gaussian(),
             dx: o.distortion * rng.gaussian() / 1.5, dy: o.distortion * rng.gaussian() / 1.5, s: 70 + 50 * rng.unit())
        }
        func displace(_ x: Double, _ y: Double) -> (Double, Double) {
            var dx = 0.0, dy = 0.0
            for b in bumps {
                let w = exp(-((x - b.x) * (x - b.x) + (y - b.y) * (y - b.y)) / (2 * b.s * b.s))
                dx += w * b.dx; dy += w * b.dy
            }
            return (x + dx, y + dy)
        }
        func place(_ x: Double, _ y: Double) -> (Double, Double) {
            let (dx, dy) = displace(x, y)
            let rx = cx + cosR * (dx - cx) - sinR * (dy - cy) + tx
            let ry = cy + sinR * (dx - cx) + cosR * (dy - cy) + ty
            return (rx - windowX, ry - windowY)
        }
        func visible(_ wx: Double, _ wy: Double, masterX: Double, masterY: Double) -> Bool {
            wx >= 8 && wy >= 8 && wx < Double(o.windowWidth) - 8 && wy < Double(o.windowHeight) - 8
                && contact.contains(masterX, masterY)
        }

        var minutiae = [Minutia]()
        let missing = lerp(o.missingRate), posSigma = lerp(o.positionSigma)
        let angSigma = lerp(o.angleSigmaDegrees) * .pi / 180
        for k in 0..<master.x.count {
            let (wx, wy) = place(master.x[k], master.y[k])
            guard visible(wx, wy, masterX: master.x[k], masterY: master.y[k]) else { continue }
            if rng.chance(missing) { continue }
            let x = wx + posSigma * rng.gaussian(), y = wy + posSigma * rng.gaussian()
            let direction = master.direction[k] + rotation + angSigma * rng.gaussian()
            var kind = master.kind[k]
            if rng.chance(o.typeFlipRate) { kind = kind == .ridgeEnding ? .bifurcation : .ridgeEnding }
            minutiae.append(makeMinutia(x, y, direction, kind, quality: quality, rng: &rng))
        }
        // Spurious minutiae where the finger touches, following the ridge flow.
        let spurious = Int((Double(minutiae.count) * lerp(o.spuriousRate)).rounded())
        var added = 0, tries = 0
        while added < spurious && tries < spurious * 40 {
            tries += 1
            let mx = master.area.centerX - master.area.a1 + rng.unit() * master.area.width
            let my = master.area.centerY - master.area.c / 2 - master.area.b1 + rng.unit() * master.area.height
            guard master.area.contains(mx, my) else { continue }
            let (wx, wy) = place(mx, my)
            guard visible(wx, wy, masterX: mx, masterY: my) else { continue }
            let direction = master.orientation.angle(mx, my) + (rng.chance(0.5) ? .pi : 0) + rotation + 2 * angSigma * rng.gaussian()
            minutiae.append(makeMinutia(wx, wy, direction, rng.chance(0.5) ? .ridgeEnding : .bifurcation,
                                        quality: quality * 0.6, rng: &rng))
            added += 1
        }
        // Detectors report minutiae in scan order, not in ground-truth order.
        minutiae.sort { ($0.y, $0.x) < ($1.y, $1.x) }
        return FingerTemplate(position: position, width: UInt16(o.windowWidth), height: UInt16(o.windowHeight),
                              resolutionX: 197, resolutionY: 197, quality: UInt8(40 + 55 * quality), minutiae: minutiae)
    }

    private func makeMinutia(_ x: Double, _ y: Double, _ imageDirection: Double, _ kind: MinutiaKind,
                             quality: Double, rng: inout SeededGenerator) -> Minutia {
        // Image frame (y down) angle → ISO (counter-clockwise on screen) is a sign change.
        Minutia(x: UInt16(clamping: Int(x.rounded())), y: UInt16(clamping: Int(y.rounded())),
                angle: Minutia.isoAngle(radians: -imageDirection), kind: kind,
                quality: UInt8(clamping: Int(20 + 79 * min(1, max(0, quality + 0.25 * rng.gaussian())))))
    }
}
