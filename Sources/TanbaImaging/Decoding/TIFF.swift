import CTanbaImageCodecs
import TanbaCore

/// TIFF through libtiff: every compression, photometric interpretation and bit depth libtiff
/// handles, colour reduced to gray. The first image of a multi-page file is decoded.
enum TIFF {
    static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> FingerprintImage {
        let (info, pixels) = try CodecLibrary.decodeGray(bytes, format: .tiff,
                                                         header: tanba_tiff_read_header, decode: tanba_tiff_decode_gray)
        return FingerprintImage(width: Int(info.width), height: Int(info.height), pixels: pixels,
                                dpi: resolution(info)?.dpi)
    }

    /// RESOLUTIONUNIT 2 is inches, 3 centimetres; 1 ("no absolute unit") gives no dpi.
    static func resolution(_ info: tanba_image_info) -> Resolution? {
        switch info.resolution_unit {
        case 2: Resolution(x: info.x_resolution, y: info.y_resolution)
        case 3: .perCentimetre(info.x_resolution, info.y_resolution)
        default: nil
        }
    }

    static func encode(_ image: FingerprintImage, layout: ImageEncoder.TIFFLayout,
                       compression: ImageEncoder.TIFFCompression) throws(ImageEncodeError) -> [UInt8] {
        let cLayout = switch layout {
        case .gray8: TANBA_TIFF_GRAY8
        case .gray16: TANBA_TIFF_GRAY16
        case .palette8: TANBA_TIFF_PALETTE8
        case .rgb8: TANBA_TIFF_RGB8
        }
        return try CodecLibrary.encode(.tiff) { output, size, message, capacity in
            image.pixels.withUnsafeBufferPointer {
                tanba_tiff_encode($0.baseAddress, UInt32(image.width), UInt32(image.height), cLayout,
                                  compression.rawValue, image.dpi ?? 0, output, size, message, capacity)
            }
        }
    }
}
