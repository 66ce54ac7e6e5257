/// Why an image could not be decoded. Every decoder reports through this one type, so callers
/// (the CLI, the enrolment service) can tell bad input from unsupported input from I/O trouble.
public enum ImageDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes start with no signature Tanba knows.
    case unknownFormat
    /// The data ends before the image does.
    case truncated(ImageFormat)
    /// The data contradicts the format (bad table, impossible size, library error text).
    case corrupt(ImageFormat, String)
    /// Valid data using a feature Tanba does not decode (BMP RLE, CMYK JPEG, ...).
    case unsupported(ImageFormat, String)
    /// The header announces an image beyond `ImageDecoder.limits`; nothing was allocated.
    case tooLarge(width: Int, height: Int, limits: ImageDecoder.Limits)
    /// The file could not be read.
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .unknownFormat:
            "unknown image format (expected PNG, TIFF, BMP, PGM, JPEG or WSQ)"
        case .truncated(let format):
            "\(format) data is truncated"
        case .corrupt(let format, let detail):
            "corrupt \(format) data: \(detail)"
        case .unsupported(let format, let detail):
            "unsupported \(format) variant: \(detail)"
        case .tooLarge(let width, let height, let limits):
            "image of \(width)x\(height) pixels exceeds the limits (\(limits.maxSide) pixels per side, \(limits.maxPixels) pixels)"
        case .io(let path, let detail):
            "cannot read \(path): \(detail)"
        }
    }
}

/// Why an image could not be encoded (only a library failure, such as running out of memory).
public struct ImageEncodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public let format: ImageFormat
    public let detail: String
    public var description: String { "cannot encode \(format): \(detail)" }
}
