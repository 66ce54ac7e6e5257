import Foundation
import TanbaCore

/// Decodes fingerprint images of any supported format into 8-bit gray `FingerprintImage`s.
///
///     let image = try ImageDecoder.decode(contentsOf: "101_1.tif", dpi: 500)
///
/// Resolution: an explicit `dpi` argument wins; otherwise the file's own resolution when it is
/// plausible for a fingerprint (`plausibleDPI`, square pixels); otherwise nil. FVC TIFFs, for
/// example, say 1x1 dpi, which means "nobody filled this in", not one dot per inch.
public enum ImageDecoder {
    /// Size limits, checked against the header before any pixel memory is allocated.
    public struct Limits: Sendable, Equatable {
        public let maxSide: Int
        public let maxPixels: Int
    }

    /// 8192 pixels per side covers a 1000-dpi palm; 40 Mpixel bounds a decode to 40 MB of
    /// output, plus transient buffers of 4 bytes per pixel for TIFF and 12 for WSQ.
    public static let limits = Limits(maxSide: 8192, maxPixels: 40_000_000)

    /// Resolutions believed when a file states them. Scanners range from 250 (low-end
    /// sensors) to 2000 dpi (latent work); anything outside is an unset or garbage tag.
    public static let plausibleDPI: ClosedRange<Double> = 100...4000

    /// Files larger than this are refused before reading (a 40-Mpixel RGB TIFF is 120 MB).
    static let maxFileSize = 512 << 20

    /// The format `bytes` are in, judged by their signature.
    public static func detect(_ bytes: [UInt8]) -> ImageFormat? {
        ImageFormat.detect(bytes)
    }

    /// Decodes an in-memory image. `dpi`, when given (it must be positive), overrides whatever
    /// the file says.
    public static func decode(_ bytes: [UInt8], dpi: Double? = nil) throws(ImageDecodeError) -> FingerprintImage {
        if let dpi { precondition(dpi.isFinite && dpi > 0, "dpi must be a positive number") }
        guard let format = detect(bytes) else { throw .unknownFormat }
        var image: FingerprintImage
        switch format {
        case .png: image = try PNG.decode(bytes)
        case .tiff: image = try TIFF.decode(bytes)
        case .bmp: image = try BMP.decode(bytes)
        case .pgm: image = try PGM.decode(bytes)
        case .jpeg: image = try JPEG.decode(bytes)
        case .wsq: image = try WSQ.decode(bytes)
        }
        image.dpi = dpi ?? image.dpi.flatMap { plausibleDPI.contains($0) ? $0 : nil }
        return image
    }

    /// Reads and decodes a file. The format comes from the content, not the extension.
    public static func decode(contentsOf path: String, dpi: Double? = nil) throws(ImageDecodeError) -> FingerprintImage {
        try decode(readFile(path), dpi: dpi)
    }

    private static func readFile(_ path: String) throws(ImageDecodeError) -> [UInt8] {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else {
                throw ImageDecodeError.io(path: path, detail: "not a regular file")
            }
            if let size = attributes[.size] as? Int, size > maxFileSize {
                throw ImageDecodeError.io(path: path, detail: "file of \(size) bytes is larger than \(maxFileSize)")
            }
            return try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        } catch let error as ImageDecodeError {
            throw error
        } catch {
            throw .io(path: path, detail: (error as NSError).localizedDescription)
        }
    }

    /// Throws `.tooLarge` (or `.corrupt` for a size without pixels) unless the announced size
    /// is decodable. Every decoder calls this before allocating pixels.
    static func checkSize(width: Int, height: Int, format: ImageFormat) throws(ImageDecodeError) {
        guard width > 0, height > 0 else {
            throw .corrupt(format, "invalid image size \(width)x\(height)")
        }
        guard width <= limits.maxSide, height <= limits.maxSide, width * height <= limits.maxPixels else {
            throw .tooLarge(width: width, height: height, limits: limits)
        }
    }
}

/// A resolution as a file states it, converted to dots per inch.
struct Resolution {
    var x: Double
    var y: Double

    static let metresPerInch = 0.0254

    /// The single dpi of a square-pixel image; nil when the axes disagree by more than 1 %
    /// (such an image needs resampling, which is not the decoder's call) or are not positive.
    var dpi: Double? {
        guard x > 0, y > 0, x.isFinite, y.isFinite, abs(x - y) <= 0.01 * max(x, y) else { return nil }
        return x
    }

    static func perMetre(_ x: Double, _ y: Double) -> Resolution {
        Resolution(x: x * metresPerInch, y: y * metresPerInch)
    }

    static func perCentimetre(_ x: Double, _ y: Double) -> Resolution {
        Resolution(x: x * 2.54, y: y * 2.54)
    }
}
