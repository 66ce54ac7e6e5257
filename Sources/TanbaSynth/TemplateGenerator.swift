import Foundation
import TanbaCore

/// Fast template-level synthetic fingers: minutiae sets of "master" fingers and noisy
/// impressions of them, without rendering images. Used for million-finger galleries,
/// the demo and tests that run without real data.
///
/// A master finger is a fingertip outline and an orientation field (the same SFinGe models
/// as the image generator, scaled to a pressed fingertip's proportions) with minutiae
/// scattered over the area at least a ridge period apart (denser near cores and deltas, a
/// fifth of them in close pairs), pointing along the ridge flow — and, of its two ways, mostly
/// the way the flow lines spread apart and, on steep ridges, toward the finger's base, as
/// real detectors report them. Each finger is captured through one sensor window. An
/// impression applies what a live-scan capture and a detector do to that ground truth: a
/// rigid move on the glass, elastic skin distortion, the window and a full or partial contact
/// area that hide part of the finger, minutiae lost (more toward the edge of the contact and
/// in poor patches) and spurious ones added (scattered, in clusters and along the contact
/// border), position, direction and type noise — more of everything on a poor impression
/// or a poor finger. The defaults are calibrated against real FVC2002 templates: minutiae
/// count, layout and direction statistics match, and mated pairs score no higher than real
/// FVC2002 mated pairs do (`tanba bench synth-stats`, docs/synthetic.md).
public struct SyntheticTemplateGenerator: Sendable {
    /// A value that depends on the impression's quality: `best` at quality 1, `worst` at 0.
    public struct QualityRange: Sendable, Hashable {
        public var best: Double, worst: Double
        public init(best: Double, worst: Double) { self.best = best; self.worst = worst }
        @inline(__always) func at(_ quality: Double) -> Double { worst + (best - worst) * quality }
    }

    /// A sensor window, in 500-dpi pixels, and the margin along its edge where the detector
    /// reports nothing (segmentation and border filtering; wider on noisier sensors).
    public struct Window: Sendable, Hashable {
        public var width: Int, height: Int
        public var margin: Double
        public init(_ width: Int, _ height: Int, margin: Double = 8) {
            self.width = width; self.height = height; self.margin = margin
        }
    }

    /// The model's parameters. The defaults are calibrated on the four FVC2002 B sets extracted
    /// with `MinutiaeExtractor` and scored with `CylinderEncoder` + `TemplateComparator`
    /// (docs/synthetic.md, "Template-level generator"; re-measure with `tanba bench synth-stats`).
    public struct Options: Sendable, Hashable {
        // Sensor.
        /// Sensor windows; each finger is captured through one of them, drawn per finger. The
        /// default mixes the four FVC2002 sensors (DB1 388×374, DB2 296×560 at 569 dpi, DB3
        /// 300×300, DB4 288×384; margins from where their extracted minutiae stop), like a
        /// gallery enrolled on several sensors; give one window for a single-sensor gallery.
        public var windows: [Window] = [.init(388, 374, margin: 8), .init(260, 492, margin: 10),
                                        .init(300, 300, margin: 24), .init(288, 384, margin: 14)]

        // Master fingers.
        /// Horizontal and vertical scale of the SFinGe outline and orientation field: a fingertip
        /// pressed on a live-scan glass is narrower and taller than the model's outline, and its
        /// loops steeper (measured: near-horizontal ridges carry 49% of real minutiae, 62% unscaled).
        public var aspect = 0.84, elongation = 1.12
        /// Master minutiae density (minutiae per 500-dpi pixel²) and its spread between fingers
        /// (log-normal: σ of the log; skin and ridge quality make some fingers yield more).
        public var density = 0.00066, densitySpread = 0.2
        /// Minimum distance between master minutiae (about one ridge period); pair partners are exempt.
        public var minimumSpacing = 11.0
        /// Extra density near cores and deltas: ×(1 + boost) at a singular point, fading with a
        /// Gaussian of this radius (pixels).
        public var singularBoost = 1.0, singularRadius = 80.0
        /// Share of master minutiae that come with a close partner (short ridges, lakes, bridges,
        /// spurs, ridges broken side by side), at a distance between the two bounds (pixels); real
        /// templates have 12% of minutiae within 10 px of another, a Poisson-disc layout 6%.
        public var pairShare = 0.2, pairDistanceMinimum = 5.0, pairDistanceMaximum = 14.0
        /// Share of pairs whose two minutiae point the same way (measured: about two in three).
        public var pairSameWay = 0.65
        /// Share of ridge endings among master minutiae (type flips bring it to the measured 59%).
        public var endingShare = 0.62
        /// Which of the two ways along its ridge a minutia points (logistic weights, 0 = either
        /// way at random): toward where the flow lines spread apart (saturating at a divergence
        /// of `divergenceScale` rad/px), and down toward the finger's base on ridges steeper than
        /// `steepThreshold` (|sin| of the ridge angle), up toward the tip on flatter ones.
        public var polarityCoherence = 0.6, divergenceScale = 0.001, downwardBias = 3.5, steepThreshold = 0.62
        /// Spread of a finger's own quality (skin condition), added to every impression's quality.
        public var fingerQualitySpread = 0.3

        // Capture.
        /// Rigid placement on the glass: uniform rotation in ±maximum, Gaussian translation.
        public var maximumRotationDegrees = 20.0, translationSigma = 22.0
        /// Gaussian offset of the sensor window from the finger centre (pixels).
        public var windowJitter = 18.0
        /// How far above the outline's centre (toward the tip) the contact area and the window
        /// are centred, as a share of the outline's height.
        public var contactRise = 0.03
        /// Contact: the touching part is the outline shrunk by a factor drawn in [contactShrink, 1]
        /// and shifted by a Gaussian of `contactShift` pixels. A share `partialContactShare` of
        /// impressions are partial (light or tilted touch): shrunk by a factor in
        /// [partialContactShrink, contactShrink] instead.
        public var contactShrink = 0.74, contactShift = 25.0
        public var partialContactShare = 0.15, partialContactShrink = 0.55
        /// Peak elastic displacement (pixels).
        public var distortion = 3.7

        // Detection.
        /// Share of visible true minutiae lost, and spurious minutiae added as a share of the
        /// true ones reported, at best and at worst impression quality.
        public var missingRate = QualityRange(best: 0.04, worst: 0.13)
        public var spuriousRate = QualityRange(best: 0.05, worst: 0.25)
        /// Extra loss toward the edge of the contact area (lighter pressure, poorer ridges): the
        /// share lost rises smoothly by up to `edgeLoss` from `edgeLossStart` (normalised contact
        /// radius) to the outline.
        public var edgeLoss = 0.65, edgeLossStart = 0.5
        /// Of the spurious minutiae: the share in tight clusters (noise blobs, broken ridges;
        /// Gaussian spread `clusterSigma`, `clusterSize` per cluster on average) and the share
        /// along the contact border (ridges cut by the edge); the rest are scattered.
        public var spuriousClusterShare = 0.3, clusterSigma = 12.0, clusterSize = 3.0
        public var spuriousBorderShare = 0.2
        /// Poor patches (dry, wet, smudged): how many per impression at best and worst quality
        /// (fractional values are probabilities), their radius, and the share of true minutiae
        /// lost inside them. Spurious clusters sit in them when there are any.
        public var poorPatches = QualityRange(best: 0, worst: 1), patchRadius = 45.0, patchMissing = 0.6
        /// Position (pixels) and direction (degrees) noise at best and worst quality.
        public var positionSigma = QualityRange(best: 1.0, worst: 2.0)
        public var angleSigmaDegrees = QualityRange(best: 3.0, worst: 6.0)
        /// Ending ↔ bifurcation confusions.
        public var typeFlipRate = 0.12

        public init() {}

        /// Every numeric option by a stable name (for `tanba bench synth-stats --set` and reports).
        static var names: [(String, WritableKeyPath<Options, Double>)] { [
            ("aspect", \.aspect), ("elongation", \.elongation), ("density", \.density), ("density-spread", \.densitySpread),
            ("minimum-spacing", \.minimumSpacing),
            ("singular-boost", \.singularBoost), ("singular-radius", \.singularRadius),
            ("pair-share", \.pairShare), ("pair-distance-min", \.pairDistanceMinimum), ("pair-distance-max", \.pairDistanceMaximum),
            ("pair-same-way", \.pairSameWay),
            ("ending-share", \.endingShare), ("polarity-coherence", \.polarityCoherence),
            ("divergence-scale", \.divergenceScale), ("downward-bias", \.downwardBias),
            ("steep-threshold", \.steepThreshold), ("finger-quality-spread", \.fingerQualitySpread),
            ("rotation-max-deg", \.maximumRotationDegrees), ("translation-sigma", \.translationSigma),
            ("window-jitter", \.windowJitter), ("contact-rise", \.contactRise),
            ("contact-shrink", \.contactShrink), ("contact-shift", \.contactShift),
            ("partial-contact-share", \.partialContactShare), ("partial-contact-shrink", \.partialContactShrink),
            ("distortion", \.distortion),
            ("missing-best", \.missingRate.best), ("missing-worst", \.missingRate.worst),
            ("spurious-best", \.spuriousRate.best), ("spurious-worst", \.spuriousRate.worst),
            ("edge-loss", \.edgeLoss), ("edge-loss-start", \.edgeLossStart),
            ("spurious-cluster-share", \.spuriousClusterShare), ("cluster-sigma", \.clusterSigma), ("cluster-size", \.clusterSize),
            ("spurious-border-share", \.spuriousBorderShare),
            ("patches-best", \.poorPatches.best), ("patches-worst", \.poorPatches.worst),
            ("patch-radius", \.patchRadius), ("patch-missing", \.patchMissing),
            ("position-sigma-best", \.positionSigma.best), ("position-sigma-worst", \.positionSigma.worst),
            ("angle-sigma-best-deg", \.angleSigmaDegrees.best), ("angle-sigma-worst-deg", \.angleSigmaDegrees.worst),
            ("type-flip-rate", \.typeFlipRate),
        ] }

        /// The options as name → value (window size included).
        public var tunables: [String: Double] {
            var out = ["windows": Double(windows.count)]
            if windows.count == 1 { out["window-width"] = Double(windows[0].width); out["window-height"] = Double(windows[0].height) }
            for (name, path) in Self.names { out[name] = self[keyPath: path] }
            return out
        }

        /// Sets the option called `name` (a key of `tunables`; `window-width` and `window-height`
        /// make the window list a single window); false for an unknown name.
        public mutating func set(_ name: String, _ value: Double) -> Bool {
            switch name {
            case "window-width":
                windows = [Window(max(64, Int(value.rounded())), windows.count == 1 ? windows[0].height : 374)]; return true
            case "window-height":
                windows = [Window(windows.count == 1 ? windows[0].width : 388, max(64, Int(value.rounded())))]; return true
            default:
                guard let path = Self.names.first(where: { $0.0 == name })?.1 else { return false }
                self[keyPath: path] = value
                return true
            }
        }
    }

    /// Ground truth of one synthetic finger.
    public struct Master: Sendable {
        public let finger: UInt64
        public let fingerprintClass: FingerprintClass
        /// Finger-frame coordinates (500 dpi, y down) and minutia direction in radians (image frame).
        public let x: [Double], y: [Double], direction: [Double]
        public let kind: [MinutiaKind]
        /// The finger's own quality offset (skin condition), shared by all its impressions.
        let quality: Double
        /// The sensor window its impressions are captured through.
        public let window: Window
        /// The finger's outline, and the map from the model frame its orientation field lives in.
        let area: FingerprintSilhouette
        let frame: FrameScale
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
        let o = options
        let cls = FingerprintClass.sample(using: &rng)
        let model = FingerprintSilhouette.sample(canvasWidth: Self.canvasWidth, canvasHeight: Self.canvasHeight,
                                                 margin: 12, using: &rng)
        let field = OrientationModel.sample(for: cls, in: model, using: &rng)
        let fingerQuality = o.fingerQualitySpread * rng.gaussian()
        let window = o.windows.isEmpty ? Window(388, 374) : o.windows[rng.below(o.windows.count)]
        // The finger's frame is the model's, scaled by `aspect` and `elongation` about its centre.
        var area = model
        area.a1 *= o.aspect; area.a2 *= o.aspect
        area.b1 *= o.elongation; area.b2 *= o.elongation; area.c *= o.elongation
        let toFinger = FrameScale(model: model, aspect: o.aspect, elongation: o.elongation)
        let singular = field.singularities.map { (x: toFinger.x($0.x), y: toFinger.y($0.y)) }
        let areaPixels = Double.pi / 4 * area.width * (area.b1 + area.b2) + area.width * area.c
        let spread = o.densitySpread
        let target = max(12, Int((areaPixels * o.density * exp(spread * rng.gaussian() - spread * spread / 2)).rounded()))
        var xs = [Double](), ys = [Double](), dirs = [Double](), kinds = [MinutiaKind]()
        xs.reserveCapacity(target + 2); ys.reserveCapacity(target + 2)
        let spacing2 = o.minimumSpacing * o.minimumSpacing
        let boostScale = 1 / (2 * o.singularRadius * o.singularRadius)
        // Spacing is checked through a grid of cells one spacing wide (3×3 cells per check).
        let x0 = area.centerX - area.a1, y0 = area.centerY - area.c / 2 - area.b1
        let cell = max(1, o.minimumSpacing)
        let columns = Int(area.width / cell) + 1, rows = Int(area.height / cell) + 1
        var head = [Int32](repeating: -1, count: columns * rows), next = [Int32]()
        next.reserveCapacity(target + 2)
        @inline(__always) func cellOf(_ x: Double, _ y: Double) -> (Int, Int) {
            (min(columns - 1, max(0, Int((x - x0) / cell))), min(rows - 1, max(0, Int((y - y0) / cell))))
        }
        func clear(_ x: Double, _ y: Double, except: Int = -1) -> Bool {
            let (c, r) = cellOf(x, y)
            for j in max(0, r - 1)...min(rows - 1, r + 1) {
                for i in max(0, c - 1)...min(columns - 1, c + 1) {
                    var k = Int(head[j * columns + i])
                    while k >= 0 {
                        if k != except && (xs[k] - x) * (xs[k] - x) + (ys[k] - y) * (ys[k] - y) < spacing2 { return false }
                        k = Int(next[k])
                    }
                }
            }
            return true
        }
        func insert(_ x: Double, _ y: Double) {
            let (c, r) = cellOf(x, y)
            next.append(head[r * columns + c])
            head[r * columns + c] = Int32(xs.count)
            xs.append(x); ys.append(y)
        }
        var attempts = 0
        while xs.count < target && attempts < target * 60 {
            attempts += 1
            let x = area.centerX - area.a1 + rng.unit() * area.width
            let y = area.centerY - area.c / 2 - area.b1 + rng.unit() * area.height
            guard area.radius(x, y) <= 0.97 else { continue }
            if o.singularBoost > 0 {
                // Rejection sampling of a density ∝ 1 + boost · (Gaussian bump at the nearest singular point).
                var bump = 0.0
                for s in singular { bump = max(bump, exp(-((x - s.x) * (x - s.x) + (y - s.y) * (y - s.y)) * boostScale)) }
                guard rng.unit() * (1 + o.singularBoost) < 1 + o.singularBoost * bump else { continue }
            }
            guard clear(x, y) else { continue }
            // A minutia points along the ridge, mostly the way the flow lines spread apart.
            let mx = toFinger.modelX(x), my = toFinger.modelY(y)
            let ridge = field.angle(mx, my)
            let steepness = abs(sin(toFinger.direction(ridge)))
            let modelDirection = ridge + (rng.chance(Self.polarity(field, mx, my, ridge, steepness: steepness, o)) ? .pi : 0)
            let dir = toFinger.direction(modelDirection)
            let kind: MinutiaKind = rng.chance(o.endingShare) ? .ridgeEnding : .bifurcation
            insert(x, y); dirs.append(dir); kinds.append(kind)
            if o.pairShare > 0, xs.count < target, rng.chance(o.pairShare / (2 - o.pairShare)) {
                // A partner, along the ridge or across it (short ridges, lakes, bridges, spurs,
                // ridges broken side by side).
                let d = rng.uniform(o.pairDistanceMinimum, o.pairDistanceMaximum)
                let a = rng.chance(0.5) ? dir + (rng.chance(0.5) ? .pi : 0) : dir + .pi / 2 * (rng.chance(0.5) ? 1 : -1)
                let px = x + d * cos(a), py = y + d * sin(a)
                if area.radius(px, py) <= 0.97, clear(px, py, except: xs.count - 1) {
                    insert(px, py)
                    // Measured: about two in three close pairs point the same way.
                    let r = toFinger.direction(field.angle(toFinger.modelX(px), toFinger.modelY(py)))
                    let same = cos(r - dir) > 0 ? r : r + .pi
                    dirs.append(rng.chance(o.pairSameWay) ? same : same + .pi)
                    kinds.append(rng.chance(0.6) ? kind : (kind == .ridgeEnding ? .bifurcation : .ridgeEnding))
                }
            }
        }
        return Master(finger: finger, fingerprintClass: cls, x: xs, y: ys, direction: dirs, kind: kinds,
                      quality: fingerQuality, window: window, area: area, frame: toFinger, orientation: field)
    }

    /// The map from the SFinGe model's frame to the finger's: a scaling about the model
    /// outline's centre.
    struct FrameScale: Sendable {
        let cx: Double, cy: Double, sx: Double, sy: Double
        init(model: FingerprintSilhouette, aspect: Double, elongation: Double) {
            cx = model.centerX; cy = model.centerY; sx = aspect; sy = elongation
        }
        @inline(__always) func x(_ modelX: Double) -> Double { cx + sx * (modelX - cx) }
        @inline(__always) func y(_ modelY: Double) -> Double { cy + sy * (modelY - cy) }
        @inline(__always) func modelX(_ x: Double) -> Double { cx + (x - cx) / sx }
        @inline(__always) func modelY(_ y: Double) -> Double { cy + (y - cy) / sy }
        /// A direction (or orientation) of the model frame, in the finger's frame.
        @inline(__always) func direction(_ t: Double) -> Double {
            sx == sy ? t : atan2(sy * sin(t), sx * cos(t))
        }
    }

    /// Ridge orientation (image frame) at a point of the finger's frame.
    @inline(__always)
    static func ridgeAngle(_ master: Master, _ x: Double, _ y: Double) -> Double {
        let f = master.frame
        return f.direction(master.orientation.angle(f.modelX(x), f.modelY(y)))
    }

    /// Probability that a minutia at (x, y) on a ridge of image-frame orientation `ridge` points
    /// the way `ridge + π` rather than `ridge`: a logistic model of two effects measured on
    /// FVC2002 templates. (1) The divergence of the unit ridge tangent field t (div t = ∂θ/∂n,
    /// the turn of the orientation across the flow) says which way the flow lines spread apart;
    /// ridges begin there, so minutiae point that way more often than not. (2) Minutiae on
    /// steep ridges point toward the finger's base (down) more often than up, and on flat
    /// ridges toward the tip: score ∝ |sin| of the ridge's final (squeezed) angle − threshold.
    static func polarity(_ field: OrientationModel, _ x: Double, _ y: Double, _ ridge: Double, steepness: Double,
                         _ o: Options) -> Double {
        // `ridge` is in [0, π): in the image frame (y down) it is the way that points down.
        var score = o.downwardBias * (steepness - o.steepThreshold)
        if o.polarityCoherence > 0 {
            // One-sided difference across the flow (one field evaluation; the field is smooth).
            let h = 6.0
            let nx = -sin(ridge), ny = cos(ridge)      // normal to the ridge, image frame
            var d = field.angle(x + h * nx, y + h * ny) - ridge
            if d > .pi / 2 { d -= .pi } else if d < -.pi / 2 { d += .pi }
            // d / h > 0: flow lines spread toward `ridge` (measured: minutiae point that way).
            score += o.polarityCoherence * tanh(d / (h * o.divergenceScale))
        }
        return 1 / (1 + exp(2 * score))
    }

    /// Impression `index` of a master: what a detector would report from one capture
    /// (deterministic in seed, finger and index).
    public func impression(of master: Master, index: Int, position: FingerPosition = .unknown) -> FingerTemplate {
        var rng = SeededGenerator(seed: SeededGenerator.mix(seed, master.finger), stream: UInt64(index) &+ 0x9E37)
        let o = options
        // 1 = best impression, 0 = worst; the finger's own condition shifts all its impressions.
        let quality = min(1, max(0, rng.unit() + master.quality))
        let area = master.area

        // Rigid placement about the finger centre, then the sensor window around it.
        let cx = area.centerX, cy = area.centerY - o.contactRise * area.height
        let rotation = (rng.unit() * 2 - 1) * o.maximumRotationDegrees * .pi / 180
        let (gx, gy) = rng.normalPair()
        let tx = o.translationSigma * gx, ty = o.translationSigma * gy
        let cosR = cos(rotation), sinR = sin(rotation)
        let window = master.window
        let (jx, jy) = rng.normalPair()
        let windowX = cx - Double(window.width) / 2 + o.windowJitter * jx
        let windowY = cy - Double(window.height) / 2 + o.windowJitter * jy
        // Partial contact: the part of the finger touching the glass, a shrunk, shifted outline.
        var contact = area
        let shrink = rng.chance(o.partialContactShare)
            ? o.partialContactShrink + (o.contactShrink - o.partialContactShrink) * rng.unit()
            : o.contactShrink + (1 - o.contactShrink) * rng.unit()
        contact.a1 *= shrink; contact.a2 *= shrink; contact.b1 *= shrink; contact.b2 *= shrink; contact.c *= shrink
        let (sx, sy) = rng.normalPair()
        contact.centerX += o.contactShift * sx
        contact.centerY += o.contactShift * sy - o.contactRise * area.height
        // Elastic distortion: a few smooth Gaussian bumps of displacement.
        var bx = (0.0, 0.0, 0.0), by = (0.0, 0.0, 0.0), bdx = (0.0, 0.0, 0.0), bdy = (0.0, 0.0, 0.0), bs = (0.0, 0.0, 0.0)
        func bump() -> (Double, Double, Double, Double, Double) {
            let s = 70 + 50 * rng.unit()
            let (px, py) = rng.normalPair(), (dx, dy) = rng.normalPair()
            return (cx + 90 * px, cy + 110 * py, o.distortion * dx / 1.5, o.distortion * dy / 1.5, -1 / (2 * s * s))
        }
        (bx.0, by.0, bdx.0, bdy.0, bs.0) = bump()
        (bx.1, by.1, bdx.1, bdy.1, bs.1) = bump()
        (bx.2, by.2, bdx.2, bdy.2, bs.2) = bump()
        let left = window.margin, top = window.margin
        let right = Double(window.width) - window.margin, bottom = Double(window.height) - window.margin
        /// Master coordinates → window coordinates.
        @inline(__always) func place(_ x: Double, _ y: Double) -> (Double, Double) {
            let w0 = exp(((x - bx.0) * (x - bx.0) + (y - by.0) * (y - by.0)) * bs.0)
            let w1 = exp(((x - bx.1) * (x - bx.1) + (y - by.1) * (y - by.1)) * bs.1)
            let w2 = exp(((x - bx.2) * (x - bx.2) + (y - by.2) * (y - by.2)) * bs.2)
            let dx = x + w0 * bdx.0 + w1 * bdx.1 + w2 * bdx.2 - cx
            let dy = y + w0 * bdy.0 + w1 * bdy.1 + w2 * bdy.2 - cy
            return (cx + cosR * dx - sinR * dy + tx - windowX, cy + sinR * dx + cosR * dy + ty - windowY)
        }
        @inline(__always) func inWindow(_ wx: Double, _ wy: Double) -> Bool {
            wx >= left && wy >= top && wx < right && wy < bottom
        }

        // Poor patches, in master coordinates, inside the contact area.
        var patches = [(x: Double, y: Double)]()
        let patchCount = o.poorPatches.at(quality)
        var wanted = Int(patchCount.rounded(.down)) + (rng.chance(patchCount - patchCount.rounded(.down)) ? 1 : 0)
        var patchTries = 0
        while wanted > 0 && patchTries < 20 {
            patchTries += 1
            let (px, py) = randomPoint(in: contact, using: &rng)
            let (wx, wy) = place(px, py)
            guard inWindow(wx, wy) else { continue }
            patches.append((px, py)); wanted -= 1
        }
        let patchR2 = o.patchRadius * o.patchRadius
        @inline(__always) func inPatch(_ x: Double, _ y: Double) -> Bool {
            for p in patches where (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y) < patchR2 { return true }
            return false
        }

        var minutiae = [Minutia]()
        minutiae.reserveCapacity(master.x.count + 16)
        let missing = o.missingRate.at(quality), posSigma = o.positionSigma.at(quality)
        let angSigma = o.angleSigmaDegrees.at(quality) * .pi / 180
        let minutiaQuality = quality
        for k in 0..<master.x.count {
            let mx = master.x[k], my = master.y[k]
            let r = contact.radius(mx, my)
            guard r <= 1 else { continue }
            let (wx, wy) = place(mx, my)
            guard inWindow(wx, wy) else { continue }
            var lost = missing
            if o.edgeLoss > 0 && r > o.edgeLossStart {
                let t = (r - o.edgeLossStart) / (1 - o.edgeLossStart)
                lost += (1 - lost) * o.edgeLoss * t * t * (3 - 2 * t)
            }
            if rng.chance(lost) { continue }
            if !patches.isEmpty && inPatch(mx, my) && rng.chance(o.patchMissing) { continue }
            let (nx, ny) = rng.normalPair(), (na, nq) = rng.normalPair()
            let x = wx + posSigma * nx, y = wy + posSigma * ny
            let direction = master.direction[k] + rotation + angSigma * na
            var kind = master.kind[k]
            if rng.chance(o.typeFlipRate) { kind = kind == .ridgeEnding ? .bifurcation : .ridgeEnding }
            minutiae.append(makeMinutia(x, y, direction, kind, quality: minutiaQuality + 0.25 * nq))
        }

        // Spurious minutiae where the finger touches, roughly following the ridge flow.
        let spurious = Int((Double(minutiae.count) * o.spuriousRate.at(quality)).rounded())
        let border = Int((Double(spurious) * o.spuriousBorderShare).rounded())
        let clustered = min(spurious - border, Int((Double(spurious) * o.spuriousClusterShare).rounded()))
        let scattered = spurious - border - clustered
        func addSpurious(_ mx: Double, _ my: Double) -> Bool {
            guard contact.contains(mx, my) else { return false }
            let (wx, wy) = place(mx, my)
            let (nx, ny) = rng.normalPair()
            let x = wx + posSigma * nx, y = wy + posSigma * ny
            guard inWindow(x, y) else { return false }
            let ridge = Self.ridgeAngle(master, mx, my)
            let (na, nq) = rng.normalPair()
            let direction = ridge + (rng.chance(0.5) ? .pi : 0) + rotation + 2 * angSigma * na
            minutiae.append(makeMinutia(x, y, direction, rng.chance(o.endingShare) ? .ridgeEnding : .bifurcation,
                                        quality: quality * 0.6 + 0.25 * nq))
            return true
        }
        var added = 0, tries = 0
        while added < scattered && tries < scattered * 40 {
            tries += 1
            let (mx, my) = randomPoint(in: contact, using: &rng)
            if addSpurious(mx, my) { added += 1 }
        }
        // Border: just inside the contact outline, where ridges are cut by the edge of the touch.
        added = 0; tries = 0
        while added < border && tries < border * 40 {
            tries += 1
            let phi = rng.unit() * 2 * .pi, r = rng.uniform(0.86, 0.99)
            let ux = cos(phi), uy = sin(phi)
            let mx = contact.centerX + r * ux * (ux < 0 ? contact.a1 : contact.a2)
            let my = contact.centerY + (uy < 0 ? r * uy * contact.b1 - contact.c / 2 : r * uy * contact.b2 + contact.c / 2)
            if addSpurious(mx, my) { added += 1 }
        }
        // Clusters: around a few centres, in poor patches when there are any.
        added = 0; tries = 0
        var centre = (x: 0.0, y: 0.0), clusterLeft = 0
        while added < clustered && tries < clustered * 40 {
            tries += 1
            if clusterLeft == 0 {
                if let p = patches.isEmpty ? nil : patches[rng.below(patches.count)] {
                    let (px, py) = rng.normalPair()
                    centre = (p.x + 0.5 * o.patchRadius * px, p.y + 0.5 * o.patchRadius * py)
                } else {
                    centre = randomPoint(in: contact, using: &rng)
                }
                clusterLeft = max(1, Int((o.clusterSize * (0.5 + rng.unit())).rounded()))
            }
            let (px, py) = rng.normalPair()
            let mx = centre.x + o.clusterSigma * px, my = centre.y + o.clusterSigma * py
            if addSpurious(mx, my) { added += 1; clusterLeft -= 1 } else if tries % 8 == 0 { clusterLeft = 0 }
        }
        // Detectors report minutiae in scan order, not in ground-truth order.
        minutiae.sort { (UInt32($0.y) << 16 | UInt32($0.x)) < (UInt32($1.y) << 16 | UInt32($1.x)) }
        return FingerTemplate(position: position, width: UInt16(window.width), height: UInt16(window.height),
                              resolutionX: 197, resolutionY: 197, quality: UInt8(40 + 55 * quality), minutiae: minutiae)
    }

    /// A uniform point inside an outline (rejection from its bounding box).
    private func randomPoint(in s: FingerprintSilhouette, using rng: inout SeededGenerator) -> (x: Double, y: Double) {
        for _ in 0..<32 {
            let x = s.centerX - s.a1 + rng.unit() * s.width
            let y = s.centerY - s.c / 2 - s.b1 + rng.unit() * s.height
            if s.contains(x, y) { return (x, y) }
        }
        return (s.centerX, s.centerY)
    }

    private func makeMinutia(_ x: Double, _ y: Double, _ imageDirection: Double, _ kind: MinutiaKind,
                             quality: Double) -> Minutia {
        // Image frame (y down) angle → ISO (counter-clockwise on screen) is a sign change.
        Minutia(x: UInt16(clamping: Int(x.rounded())), y: UInt16(clamping: Int(y.rounded())),
                angle: Minutia.isoAngle(radians: -imageDirection), kind: kind,
                quality: UInt8(clamping: Int(20 + 79 * min(1, max(0, quality)))))
    }
}

extension SeededGenerator {
    /// Two independent standard normal deviates from one Box–Muller draw (one log and one
    /// sine/cosine pair for two values: the generator's hot path uses them in pairs).
    @inline(__always)
    fileprivate mutating func normalPair() -> (Double, Double) {
        let u1 = max(unit(), 0x1p-60)
        let r = (-2 * log(u1)).squareRoot(), a = 2 * Double.pi * unit()
        return (r * cos(a), r * sin(a))
    }
}
