import CTanbaImageCodecs
import TanbaCore

/// PNG: pixels through libpng; the resolution from the pHYs chunk, read here because libpng's
/// simplified reader does not expose ancillary chunks.
enum PNG {
    static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> FingerprintImage {
        let (info, pixels) = try CodecLibrary.decodeGray(bytes, format: .png,
                                                         header: tanba_png_read_header, decode: tanba_png_decode_gray)
        return FingerprintImage(width: Int(info.width), height: Int(info.height), pixels: pixels,
                                dpi: physicalResolution(bytes)?.dpi)
    }

    static func encode(_ image: FingerprintImage) throws(ImageEncodeError) -> [UInt8] {
        // pHYs counts pixels per metre; 500 dpi is stored as 19685 and reads back as 499.999.
        let perMetre = image.dpi.map { UInt32(clamping: Int(($0 / Resolution.metresPerInch).rounded())) } ?? 0
        return try CodecLibrary.encode(.png) { output, size, message, capacity in
            image.pixels.withUnsafeBufferPointer {
                tanba_png_encode_gray($0.baseAddress, UInt32(image.width), UInt32(image.height), perMetre,
                                      output, size, message, capacity)
            }
        }
    }

    /// The pHYs chunk's resolution when its unit is the metre (unit 0 only gives an aspect
    /// ratio). pHYs must precede IDAT, so the walk stops there. Best effort: libpng has
    /// already vetted the file, and a damaged ancillary chunk just means "unknown".
    static func physicalResolution(_ bytes: [UInt8]) -> Resolution? {
        var reader = ByteReader(bytes, format: .png)
        do {
            try reader.skip(8) // signature
            while !reader.isAtEnd {
                let length = Int(try reader.u32BE())
                let type = try reader.u32BE()
                switch type {
                case 0x7048_5973: // "pHYs"
                    guard length == 9 else { return nil }
                    let x = try reader.u32BE(), y = try reader.u32BE()
                    return try reader.u8() == 1 ? .perMetre(Double(x), Double(y)) : nil
                case 0x4944_4154, 0x4945_4E44: // "IDAT", "IEND"
                    return nil
                default:
                    try reader.skip(length + 4) // data and CRC
                }
            }
        } catch {}
        return nil
    }
}
