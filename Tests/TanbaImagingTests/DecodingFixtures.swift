import TanbaCore
import TanbaTestSupport

/// Builds files byte by byte.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16LE(_ value: UInt16) { bytes += [UInt8(value & 0xFF), UInt8(value >> 8)] }
    mutating func u32LE(_ value: UInt32) { u16LE(UInt16(value & 0xFFFF)); u16LE(UInt16(value >> 16)) }
    mutating func i32LE(_ value: Int32) { u32LE(UInt32(bitPattern: value)) }
    mutating func u16BE(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(value & 0xFF)] }
    mutating func u32BE(_ value: UInt32) { u16BE(UInt16(value >> 16)); u16BE(UInt16(value & 0xFFFF)) }
    mutating func ascii(_ text: String) { bytes += Array(text.utf8) }
}

enum Fixtures {
    typealias RGB = (red: UInt8, green: UInt8, blue: UInt8)

    static func gray(_ value: UInt8) -> RGB { (value, value, value) }

    /// A `width` x `height` image that uses every gray level: a ramp plus seeded noise.
    static func image(width: Int, height: Int, seed: UInt64 = 1, dpi: Double? = nil) -> FingerprintImage {
        var random = SplitMix64(seed: seed)
        let pixels = (0..<width * height).map { index in
            UInt8(truncatingIfNeeded: index &* 7 &+ Int(random.next() % 32))
        }
        return FingerprintImage(width: width, height: height, pixels: pixels, dpi: dpi)
    }

    // MARK: BMP

    /// A BMP file. `rows` are the rows as stored (bottom-up for a positive `height`), without
    /// padding; `masks` (red, green, blue, alpha) go into a V4/V5 header or after a 40-byte one.
    static func bmp(width: Int32, height: Int32, bitCount: UInt16, rows: [[UInt8]],
                    palette: [RGB] = [],
                    headerSize: UInt32 = 40, compression: UInt32 = 0, masks: [UInt32] = [],
                    pixelsPerMetre: (Int32, Int32) = (0, 0)) -> [UInt8] {
        let stride = (Int(bitCount) * Int(width) + 31) / 32 * 4
        let masksAfterHeader = headerSize == 40 ? masks.count * 4 : 0
        let pixelOffset = 14 + Int(headerSize) + masksAfterHeader + 4 * palette.count
        var file = ByteWriter()
        file.ascii("BM")
        file.u32LE(UInt32(pixelOffset + stride * rows.count))
        file.u32LE(0)
        file.u32LE(UInt32(pixelOffset))
        file.u32LE(headerSize)
        file.i32LE(width)
        file.i32LE(height)
        file.u16LE(1)
        file.u16LE(bitCount)
        file.u32LE(compression)
        file.u32LE(UInt32(stride * rows.count))
        file.i32LE(pixelsPerMetre.0)
        file.i32LE(pixelsPerMetre.1)
        file.u32LE(UInt32(palette.count))
        file.u32LE(0)
        if headerSize > 40 {
            for index in 0..<4 { file.u32LE(index < masks.count ? masks[index] : 0) }
            file.bytes += [UInt8](repeating: 0, count: Int(headerSize) - 56)
        } else {
            masks.forEach { file.u32LE($0) }
        }
        for entry in palette { file.bytes += [entry.blue, entry.green, entry.red, 0] }
        for row in rows { file.bytes += row + [UInt8](repeating: 0, count: stride - row.count) }
        return file.bytes
    }

    // MARK: PNG

    /// A PNG built chunk by chunk, for the variants the encoder does not write (16-bit,
    /// palette, alpha, sub-byte depths). `rows` are raw scanlines without the filter byte;
    /// the image data is zlib-wrapped in stored (uncompressed) deflate blocks.
    static func png(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8,
                    rows: [[UInt8]], palette: [RGB] = []) -> [UInt8] {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            var out = ByteWriter()
            out.u32BE(UInt32(data.count))
            let body = Array(type.utf8) + data
            out.bytes += body
            out.u32BE(crc32(body))
            return out.bytes
        }
        var header = ByteWriter()
        header.u32BE(width); header.u32BE(height)
        header.bytes += [bitDepth, colorType, 0, 0, 0]
        let raw: [UInt8] = rows.flatMap { [0] + $0 }
        var zlib = ByteWriter()
        zlib.bytes += [0x78, 0x01]
        var blocks: [ArraySlice<UInt8>] = stride(from: 0, to: raw.count, by: 65535).map { raw[$0..<min($0 + 65535, raw.count)] }
        if blocks.isEmpty { blocks = [[]] }
        for (index, block) in blocks.enumerated() {
            zlib.u8(index == blocks.count - 1 ? 1 : 0) // BFINAL, BTYPE 00 (stored)
            zlib.u16LE(UInt16(block.count)); zlib.u16LE(~UInt16(block.count))
            zlib.bytes += block
        }
        zlib.u32BE(adler32(raw))
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file += chunk("IHDR", header.bytes)
        if !palette.isEmpty { file += chunk("PLTE", palette.flatMap { [$0.red, $0.green, $0.blue] }) }
        return file + chunk("IDAT", zlib.bytes) + chunk("IEND", [])
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? crc >> 1 ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    // MARK: JPEG

    /// A 16x12 gray baseline JPEG of `tinyJPEGPixel`, made once with TurboJPEG (tjCompress2,
    /// TJSAMP_GRAY, quality 95). Its JFIF header says density 1:1, units 0 (no resolution).
    static let tinyJPEG: [UInt8] = [
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
        0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02,
        0x01, 0x01, 0x01, 0x02, 0x02, 0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04,
        0x04, 0x03, 0x04, 0x06, 0x05, 0x06, 0x06, 0x06, 0x05, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06,
        0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0B, 0x08, 0x09, 0x0A, 0x0A, 0x0A, 0x0A, 0x0A, 0x06, 0x08,
        0x0B, 0x0C, 0x0B, 0x0A, 0x0C, 0x09, 0x0A, 0x0A, 0x0A, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x0C,
        0x00, 0x10, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xC4, 0x00, 0x1F, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01,
        0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
        0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0xFF, 0xC4, 0x00, 0xB5, 0x10, 0x00, 0x02, 0x01, 0x03,
        0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7D, 0x01, 0x02, 0x03, 0x00,
        0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32,
        0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72,
        0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35,
        0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55,
        0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75,
        0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2,
        0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9,
        0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6,
        0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFF, 0xDA,
        0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0xF9, 0xC7, 0xF6, 0x46, 0xF8, 0x47, 0xFF, 0x00,
        0x1E, 0xDF, 0xE8, 0xBF, 0xDD, 0xED, 0x5F, 0xA8, 0x1F, 0xB2, 0x37, 0xC2, 0x3F, 0xF8, 0xF6, 0xFF,
        0x00, 0x45, 0xFE, 0xEF, 0x6A, 0xF9, 0x1B, 0xF6, 0x46, 0xF0, 0xD6, 0x91, 0xFE, 0x8D, 0xFE, 0x8F,
        0xFD, 0xDA, 0xFD, 0x40, 0xFD, 0x91, 0xBC, 0x35, 0xA4, 0x7F, 0xA3, 0x7F, 0xA3, 0xFF, 0x00, 0x76,
        0xBF, 0xFF, 0xD9,
    ]

    static func tinyJPEGPixel(x: Int, y: Int) -> UInt8 { UInt8(40 + 10 * x + 5 * y) }

    /// `tinyJPEG` with its JFIF density rewritten (units 1 = per inch, 2 = per centimetre).
    static func tinyJPEG(units: UInt8, density: UInt16) -> [UInt8] {
        var bytes = tinyJPEG
        bytes[13] = units
        bytes[14...17] = [UInt8(density >> 8), UInt8(density & 0xFF), UInt8(density >> 8), UInt8(density & 0xFF)]
        return bytes
    }

    // MARK: WSQ

    /// The synthesis filters every WSQ encoder writes (the CDF 9/7 pair of the standard), as
    /// (negative, decimal exponent, integer) centre-outwards: 9 highpass taps, then 7 lowpass.
    static let wsqFilters: [(Bool, UInt8, UInt32)] = [
        (false, 9, 852_698_573), (false, 10, 3_774_028_186), (true, 10, 1_106_243_994),
        (true, 11, 2_384_946_381), (false, 11, 3_782_845_235),
        (false, 9, 788_485_632), (true, 10, 4_180_923_187), (true, 11, 4_068_942_234), (false, 10, 645_388_851),
    ]

    /// A WSQ file around the given quantized coefficients (subband order, as the decoder reads
    /// them), in two blocks with their own Huffman tables. All 254 symbols get 8-bit codes
    /// (symbol s is code s - 1), which keeps this encoder trivial and still a valid
    /// canonical code. Bins: width 2, zero bin 2.4, centre 0.44; pixel = value + 128.
    static func wsq(width: Int, height: Int, coefficients: [Int32], ppi: Int? = 500) -> [UInt8] {
        var file = ByteWriter()
        file.u16BE(0xFFA0)
        if let ppi {
            let comment = "NIST_COM 2\nPPI \(ppi)\n"
            file.u16BE(0xFFA8)
            file.u16BE(UInt16(2 + comment.utf8.count))
            file.ascii(comment)
        }
        file.u16BE(0xFFA4)
        file.u16BE(UInt16(4 + 6 * wsqFilters.count))
        file.bytes += [9, 7]
        for (negative, exponent, value) in wsqFilters {
            file.bytes += [negative ? 1 : 0, exponent]
            file.u32BE(value)
        }
        file.u16BE(0xFFA5)
        file.u16BE(2 + 3 + 64 * 6)
        file.u8(2); file.u16BE(44) // bin centre 0.44
        for subband in 0..<64 {
            let coded = subband < 60
            file.u8(1); file.u16BE(coded ? 20 : 0) // bin width 2.0
            file.u8(1); file.u16BE(coded ? 24 : 0) // zero bin 2.4
        }
        file.u16BE(0xFFA2)
        file.u16BE(17)
        file.bytes += [0, 255]
        file.u16BE(UInt16(height)); file.u16BE(UInt16(width))
        file.u8(0); file.u16BE(128) // shift 128
        file.u8(0); file.u16BE(1) // scale 1
        file.u8(2); file.u16BE(0) // encoder, software

        let half = coefficients.count / 2
        for (block, part) in [coefficients[..<half], coefficients[half...]].enumerated() {
            file.u16BE(0xFFA6)
            file.u16BE(2 + 1 + 16 + 254)
            file.u8(UInt8(block))
            file.bytes += [0, 0, 0, 0, 0, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0, 0]
            file.bytes += Array(1...254)
            file.u16BE(0xFFA3)
            file.u16BE(3)
            file.u8(UInt8(block))
            file.bytes += entropyCode(Array(part))
        }
        file.u16BE(0xFFA1)
        return file.bytes
    }

    /// Symbols and literal bits for `coefficients`, padded with 1 bits, 0xFF stuffed.
    private static func entropyCode(_ coefficients: [Int32]) -> [UInt8] {
        var bits: [Bool] = []
        func put(_ value: Int, _ count: Int) {
            for shift in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) }
        }
        func symbol(_ value: Int) { put(value - 1, 8) }
        var run = 0
        func flushRun() {
            while run > 0 {
                let chunk = min(run, 65535)
                if chunk <= 100 { symbol(chunk) } else if chunk <= 255 { symbol(105); put(chunk, 8) } else { symbol(106); put(chunk, 16) }
                run -= chunk
            }
        }
        for value in coefficients {
            guard value != 0 else { run += 1; continue }
            flushRun()
            switch value {
            case -73...74: symbol(Int(value) + 180)
            case 1...255: symbol(101); put(Int(value), 8)
            case -255 ... -1: symbol(102); put(Int(-value), 8)
            case 256...: symbol(103); put(Int(value), 16)
            default: symbol(104); put(Int(-value), 16)
            }
        }
        flushRun()
        while bits.count % 8 != 0 { bits.append(true) }
        var bytes: [UInt8] = []
        for start in stride(from: 0, to: bits.count, by: 8) {
            let byte = bits[start..<start + 8].reduce(UInt8(0)) { $0 << 1 | ($1 ? 1 : 0) }
            bytes.append(byte)
            if byte == 0xFF { bytes.append(0x00) }
        }
        return bytes
    }

    /// Coefficients a `width` x `height` WSQ holds when subbands 0...59 are coded: the
    /// subbands tile the image, and 60...63 are its bottom-right quadrant.
    static func wsqCoefficientCount(width: Int, height: Int) -> Int {
        width * height - (width / 2) * (height / 2)
    }

    /// A small valid WSQ with a seeded mix of zero runs, inline values and 8/16-bit literals.
    static func randomWSQ(width: Int, height: Int, seed: UInt64) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        let coefficients = (0..<wsqCoefficientCount(width: width, height: height)).map { _ -> Int32 in
            switch random.next() % 10 {
            case 0...5: 0
            case 6, 7: Int32(Int(random.next() % 21) - 10)
            case 8: Int32(Int(random.next() % 400) - 200)
            default: Int32(Int(random.next() % 2000) - 1000)
            }
        }
        return wsq(width: width, height: height, coefficients: coefficients)
    }
}
