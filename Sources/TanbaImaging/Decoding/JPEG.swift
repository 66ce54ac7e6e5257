import CTanbaImageCodecs
import TanbaCore

/// JPEG through libturbojpeg (colour reduced to luma); the resolution from the JFIF APP0
/// segment, which TurboJPEG does not report.
enum JPEG {
    static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> FingerprintImage {
        let (info, pixels) = try CodecLibrary.decodeGray(bytes, format: .jpeg,
                                                         header: tanba_jpeg_read_header, decode: tanba_jpeg_decode_gray)
        return FingerprintImage(width: Int(info.width), height: Int(info.height), pixels: pixels,
                                dpi: jfifDensity(bytes)?.dpi)
    }

    /// The JFIF density: units 1 = dots per inch, 2 = dots per centimetre, 0 = aspect ratio
    /// only. APP0 must directly follow SOI, but some writers put other APPn segments first,
    /// so the walk continues until the first non-APPn marker.
    static func jfifDensity(_ bytes: [UInt8]) -> Resolution? {
        var reader = ByteReader(bytes, format: .jpeg)
        do {
            try reader.skip(2) // SOI
            while true {
                guard try reader.u8() == 0xFF else { return nil }
                let marker = try reader.u8()
                guard (0xE0...0xEF).contains(marker) else { return nil }
                let length = Int(try reader.u16BE())
                guard length >= 2 else { return nil }
                var segment = try reader.segment(length - 2)
                guard marker == 0xE0, segment.starts(with: Array("JFIF\0".utf8)) else { continue }
                try segment.skip(5 + 2) // identifier, version
                let units = try segment.u8()
                let x = Double(try segment.u16BE()), y = Double(try segment.u16BE())
                switch units {
                case 1: return Resolution(x: x, y: y)
                case 2: return .perCentimetre(x, y)
                default: return nil
                }
            }
        } catch {
            return nil
        }
    }
}
