import CTanbaFPrint
import TanbaCore

/// Why an image could not be turned into a template.
public enum ExtractionError: Error, Equatable, CustomStringConvertible, Sendable {
    case unknownResolution
    case resolutionOutOfRange(Double)
    case imageTooSmall(width: Int, height: Int)
    case detectorFailed(String)
    case incompatibleLibfprint(String)

    public var description: String {
        switch self {
        case .unknownResolution:
            return "the image does not state its resolution; give it explicitly (e.g. --dpi 500)"
        case .resolutionOutOfRange(let d):
            return "resolution \(d) dpi is outside the supported 250–1000 dpi"
        case .imageTooSmall(let w, let h):
            return "image \(w)x\(h) is too small to hold a fingerprint (at least 64x64 at 500 dpi)"
        case .detectorFailed(let m): return "libfprint minutiae detection failed: \(m)"
        case .incompatibleLibfprint(let m): return "unsupported libfprint build: \(m)"
        }
    }
}

/// Turns fingerprint images into minutiae templates with libfprint's detector (NBIS mindtct).
///
/// mindtct's block sizes and thresholds are tuned for 500 dpi, so images at another
/// resolution are resampled to 500 dpi for detection and the minutiae are mapped back
/// to the original pixel grid; the template keeps the image's true resolution.
/// Safe to use from several threads at once.
public struct MinutiaeExtractor: Sendable {
    public struct Options: Sendable {
        /// Minutiae whose detector reliability is below this (0…1) are dropped.
        public var minimumReliability: Double = 0.0
        /// Contextual ridge enhancement (`RidgeEnhancer`) of the 500-dpi image before
        /// detection; minutiae near or outside its foreground mask are then dropped.
        public var enhance: Bool = true
        public var enhancement = RidgeEnhancer.Parameters()
        public init() {}
    }

    public var options: Options
    public init(options: Options = .init()) { self.options = options }

    static let detectorDPI = 500.0

    /// Checks once per process that the pinned private libfprint layouts hold.
    static let compatibility: ExtractionError? = {
        var err = [CChar](repeating: 0, count: 256)
        if tanba_fprint_selfcheck(&err, err.count) != 0 {
            return .incompatibleLibfprint(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return nil
    }()

    /// Extracts a template. `dpi` overrides the resolution stored in the image.
    public func extract(_ image: FingerprintImage, dpi: Double? = nil,
                        position: FingerPosition = .unknown) throws(ExtractionError) -> FingerTemplate {
        if let e = MinutiaeExtractor.compatibility { throw e }
        guard let resolution = dpi ?? image.dpi else { throw .unknownResolution }
        guard (250...1000).contains(resolution) else { throw .resolutionOutOfRange(resolution) }
        guard image.width >= 64, image.height >= 64 else {
            throw .imageTooSmall(width: image.width, height: image.height)
        }

        // Resample to the detector's resolution when the image is more than 2% off it.
        let scale = MinutiaeExtractor.detectorDPI / resolution
        let work = abs(scale - 1) > 0.02 ? ImageResampler.resample(image, scale: scale) : image

        let region = options.enhance ? RidgeEnhancer(parameters: options.enhancement).enhance(work) : nil
        let raw = try MinutiaeExtractor.detect(region?.image ?? work)
        var minutiae = [Minutia]()
        minutiae.reserveCapacity(raw.count)
        let back = 1 / (Double(work.width) / Double(image.width))
        let backY = 1 / (Double(work.height) / Double(image.height))
        for m in raw where m.reliability >= options.minimumReliability
            && region.map({ $0.isInside(x: Int(m.x), y: Int(m.y), margin: options.enhancement.borderMargin) }) ?? true {
            // NBIS direction: 0…31 in 11.25° steps, 0 pointing up, clockwise. ISO: counter-clockwise
            // from +x. So ISO degrees = 90 − 11.25·d.
            let degrees = 90.0 - 11.25 * Double(m.direction)
            let x = (Double(m.x) + 0.5) * back - 0.5, y = (Double(m.y) + 0.5) * backY - 0.5
            minutiae.append(Minutia(
                x: UInt16(clamping: Int(x.rounded())), y: UInt16(clamping: Int(y.rounded())),
                angle: Minutia.isoAngle(radians: degrees * .pi / 180),
                kind: m.type == 1 ? .ridgeEnding : .bifurcation,
                quality: UInt8(clamping: Int((m.reliability * 100).rounded()))))
        }
        let ppcm = FingerTemplate.pixelsPerCentimetre(dpi: resolution)
        var template = FingerTemplate(position: position, width: UInt16(clamping: image.width),
                                      height: UInt16(clamping: image.height),
                                      resolutionX: ppcm, resolutionY: ppcm, quality: 0, minutiae: minutiae)
        template.quality = FingerQuality.score(template: template, image: work)
        return template
    }

    /// Runs libfprint on an image already at 500 dpi.
    static func detect(_ image: FingerprintImage) throws(ExtractionError) -> [tanba_fp_minutia] {
        let capacity = 1024
        var out = [tanba_fp_minutia](repeating: tanba_fp_minutia(), count: capacity)
        var count: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        let ppmm = detectorDPI / 25.4
        let rc = image.pixels.withUnsafeBufferPointer { px in
            tanba_fprint_detect(px.baseAddress, Int32(image.width), Int32(image.height), ppmm,
                                &out, Int32(capacity), &count, &err, err.count)
        }
        guard rc == 0 else {
            throw .detectorFailed(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return Array(out.prefix(Int(min(count, Int32(capacity)))))
    }
}
