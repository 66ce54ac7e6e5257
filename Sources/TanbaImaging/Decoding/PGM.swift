import TanbaCore

/// Netpbm graymap: P5 (binary, 8- or 16-bit samples) and P2 (ASCII), with `#` comments
/// anywhere in the header. The format is a dozen lines of text handling, so no library.
/// PGM has no resolution field; decoded images have no dpi unless the caller supplies one.
enum PGM {
    static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> FingerprintImage {
        var reader = ByteReader(bytes, format: .pgm)
        try reader.skip(1) // "P"
        let ascii = try reader.u8() == UInt8(ascii: "2")
        let width = try number(&reader)
        let height = try number(&reader)
        let maxValue = try number(&reader)
        guard (1...65535).contains(maxValue) else { throw .corrupt(.pgm, "maximum value \(maxValue) outside 1...65535") }
        try ImageDecoder.checkSize(width: width, height: height, format: .pgm)

        // Samples are scaled to 0...255 with rounding: maxval 255 is the identity, and a
        // 16-bit scan keeps its full range.
        let scale: (Int) -> UInt8 = maxValue == 255
            ? { UInt8(truncatingIfNeeded: $0) }
            : { UInt8((min($0, maxValue) * 255 + maxValue / 2) / maxValue) }
        let count = width * height
        var pixels: [UInt8]
        if ascii {
            // Each sample takes a digit and a separator: a forged size fails here, before
            // the allocation it asks for.
            guard reader.remaining >= 2 * count - 1 else { throw .truncated(.pgm) }
            pixels = [UInt8](repeating: 0, count: count)
            for index in pixels.indices {
                let sample = try number(&reader)
                guard sample <= maxValue else { throw .corrupt(.pgm, "sample \(sample) above the maximum \(maxValue)") }
                pixels[index] = scale(sample)
            }
        } else {
            // Exactly one whitespace byte separates the header from the raster.
            guard let separator = reader.peek(), separator.isASCIIWhitespace else { throw .corrupt(.pgm, "no whitespace after the header") }
            try reader.skip(1)
            if maxValue > 255 { // two bytes per sample, most significant first
                let raster = try reader.read(2 * count)
                pixels = (0..<count).map { index in
                    let offset = raster.startIndex + 2 * index
                    return scale(Int(raster[offset]) << 8 | Int(raster[offset + 1]))
                }
            } else {
                let raster = try reader.read(count)
                pixels = maxValue == 255 ? Array(raster) : raster.map { scale(Int($0)) }
            }
        }
        return FingerprintImage(width: width, height: height, pixels: pixels)
    }

    /// Binary PGM (P5, maxval 255). The resolution is not representable and is dropped.
    static func encode(_ image: FingerprintImage) -> [UInt8] {
        Array("P5\n\(image.width) \(image.height)\n255\n".utf8) + image.pixels
    }

    /// The next decimal number, skipping whitespace and comments (which run to end of line).
    private static func number(_ reader: inout ByteReader) throws(ImageDecodeError) -> Int {
        while let byte = reader.peek(), byte.isASCIIWhitespace || byte == UInt8(ascii: "#") {
            try reader.skip(1)
            if byte == UInt8(ascii: "#") {
                while let next = reader.peek(), next != 0x0A, next != 0x0D { try reader.skip(1) }
            }
        }
        var value = 0, digits = 0
        while let byte = reader.peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            try reader.skip(1)
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            // Nine digits exceed every legal value; stopping here keeps `value` from overflowing.
            guard digits <= 9 else { throw .corrupt(.pgm, "number too long") }
        }
        guard digits > 0 else {
            if reader.isAtEnd { throw .truncated(.pgm) }
            throw .corrupt(.pgm, "expected a number")
        }
        return value
    }
}
