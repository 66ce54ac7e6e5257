/// The image containers Tanba reads. Detected from the first bytes, never from a file name:
/// capture software routinely writes ".tif" files holding PNG data and the like.
public enum ImageFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    case png, tiff, bmp, pgm, jpeg, wsq

    public var description: String {
        switch self {
        case .png: "PNG"
        case .tiff: "TIFF"
        case .bmp: "BMP"
        case .pgm: "PGM"
        case .jpeg: "JPEG"
        case .wsq: "WSQ"
        }
    }

    /// The format whose signature `bytes` start with, or nil.
    static func detect(_ bytes: [UInt8]) -> ImageFormat? {
        func starts(_ prefix: [UInt8]) -> Bool { bytes.starts(with: prefix) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        // Classic and BigTIFF, both byte orders ("II*\0", "MM\0*", "II+\0", "MM\0+").
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A])
            || starts([0x49, 0x49, 0x2B, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2B]) { return .tiff }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        // WSQ's SOI is followed by another marker (a table, comment or the frame header);
        // requiring it keeps two arbitrary bytes from passing as WSQ.
        if starts([0xFF, 0xA0, 0xFF]) { return .wsq }
        if starts([0x42, 0x4D]) { return .bmp } // "BM"
        // "P5" (binary) or "P2" (ASCII) followed by the whitespace Netpbm requires.
        if bytes.count >= 3, bytes[0] == 0x50, bytes[1] == 0x35 || bytes[1] == 0x32,
           bytes[2].isASCIIWhitespace { return .pgm }
        return nil
    }
}
