// CImageLibs is imported only for its module map's `link` lines: the C wrappers cannot
// autolink on Linux, so this import is what puts libpng16, libtiff and libturbojpeg on the
// link line of every product that uses TanbaImaging.
import CImageLibs
import CTanbaImageCodecs

/// The calling convention of the C wrappers in CTanbaImageCodecs, in one place: a message
/// buffer for every call, status codes turned into `ImageDecodeError`, and the two-call decode
/// (header, size check, decode into a buffer Swift owns) that keeps the size limit ahead of
/// every allocation.
enum CodecLibrary {
    typealias HeaderFunction = (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<tanba_image_info>?,
                                UnsafeMutablePointer<CChar>?, Int) -> tanba_codec_status
    typealias DecodeFunction = (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UInt8>?, UInt32, UInt32,
                                UnsafeMutablePointer<CChar>?, Int) -> tanba_codec_status

    private static let messageCapacity = 256

    /// Decodes `bytes` to gray pixels with a header/decode pair of wrappers.
    static func decodeGray(_ bytes: [UInt8], format: ImageFormat, header: HeaderFunction,
                           decode: DecodeFunction) throws(ImageDecodeError) -> (info: tanba_image_info, pixels: [UInt8]) {
        var info = tanba_image_info()
        try call(format) { message, capacity in
            bytes.withUnsafeBufferPointer { header($0.baseAddress, $0.count, &info, message, capacity) }
        }
        let width = Int(info.width), height = Int(info.height)
        try ImageDecoder.checkSize(width: width, height: height, format: format)
        var pixels = [UInt8](repeating: 0, count: width * height)
        try call(format) { message, capacity in
            bytes.withUnsafeBufferPointer { input in
                pixels.withUnsafeMutableBufferPointer { output in
                    decode(input.baseAddress, input.count, output.baseAddress, info.width, info.height, message, capacity)
                }
            }
        }
        return (info, pixels)
    }

    /// Runs one wrapper call and throws its message unless it succeeded.
    static func call(_ format: ImageFormat,
                     _ body: (UnsafeMutablePointer<CChar>, Int) -> tanba_codec_status) throws(ImageDecodeError) {
        let (status, detail) = invoke(body)
        switch status {
        case TANBA_CODEC_OK: return
        case TANBA_CODEC_UNSUPPORTED: throw .unsupported(format, detail)
        default: throw .corrupt(format, detail)
        }
    }

    /// Runs an encoder wrapper and takes ownership of the bytes it returns.
    static func encode(_ format: ImageFormat,
                       _ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                UnsafeMutablePointer<CChar>, Int) -> tanba_codec_status) throws(ImageEncodeError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        defer { tanba_codecs_free(output) }
        let (status, detail) = invoke { message, capacity in body(&output, &size, message, capacity) }
        guard status == TANBA_CODEC_OK, let output else { throw ImageEncodeError(format: format, detail: detail) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// Calls `body` with a zeroed message buffer; returns its status and the message text.
    private static func invoke(_ body: (UnsafeMutablePointer<CChar>, Int) -> tanba_codec_status) -> (tanba_codec_status, String) {
        var message = [CChar](repeating: 0, count: messageCapacity)
        let status = message.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return TANBA_CODEC_FAILED }
            return body(base, buffer.count)
        }
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (status, text)
    }
}
