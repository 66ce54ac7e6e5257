import CTanbaImageCodecs
import TanbaCore

/// Windows BMP, decoded here rather than through a library. Debian has no maintained library
/// that reads only BMP: the candidates are whole toolkits (ImageMagick, GDK-Pixbuf, SDL_image,
/// FreeImage) whose size and attack surface dwarf the format, which is a header and an
/// uncompressed raster. The subset that fingerprint software writes is covered:
/// BITMAPINFOHEADER and its V2-V5 extensions; 1-, 4- and 8-bit palettes; 16-, 24- and 32-bit
/// pixels, BI_RGB or BI_BITFIELDS; bottom-up and top-down rows. RLE and embedded JPEG/PNG are
/// refused as unsupported.
enum BMP {
    private enum Compression: UInt32 {
        case rgb = 0, rle8 = 1, rle4 = 2, bitfields = 3, jpeg = 4, png = 5, alphaBitfields = 6
    }

    static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> FingerprintImage {
        var reader = ByteReader(bytes, format: .bmp)
        try reader.skip(10) // "BM", file size (often wrong, never needed), two reserved words
        let pixelOffset = Int(try reader.u32LE())
        let headerSize = Int(try reader.u32LE())
        guard [40, 52, 56, 108, 124].contains(headerSize) else {
            throw headerSize == 12 || headerSize == 64
                ? .unsupported(.bmp, "OS/2 bitmap header (\(headerSize) bytes)")
                : .corrupt(.bmp, "unknown header size \(headerSize)")
        }
        var header = try reader.segment(headerSize - 4)
        let width = Int(Int32(bitPattern: try header.u32LE()))
        let signedHeight = Int(Int32(bitPattern: try header.u32LE()))
        guard try header.u16LE() == 1 else { throw .corrupt(.bmp, "plane count is not 1") }
        let bitCount = Int(try header.u16LE())
        let rawCompression = try header.u32LE()
        try header.skip(4) // image size: may be 0 for BI_RGB, recomputed below
        let xPerMetre = Int32(bitPattern: try header.u32LE())
        let yPerMetre = Int32(bitPattern: try header.u32LE())
        let colorsUsed = Int(try header.u32LE())
        try header.skip(4) // important colours

        guard let compression = Compression(rawValue: rawCompression) else {
            throw .corrupt(.bmp, "unknown compression \(rawCompression)")
        }
        switch compression {
        case .rgb, .bitfields, .alphaBitfields: break
        case .rle8, .rle4: throw .unsupported(.bmp, "run-length encoded bitmaps")
        case .jpeg, .png: throw .unsupported(.bmp, "bitmaps embedding JPEG or PNG data")
        }

        // Rows are stored bottom-up unless the height is negative.
        let topDown = signedHeight < 0
        let height = abs(signedHeight)
        try ImageDecoder.checkSize(width: width, height: height, format: .bmp)

        let format: PixelFormat
        switch bitCount {
        case 1, 4, 8:
            guard compression == .rgb else { throw .corrupt(.bmp, "bit fields on a \(bitCount)-bit palette image") }
            // The palette follows the header; missing entries read as black.
            let capacity = 1 << bitCount
            let count = colorsUsed == 0 ? capacity : min(colorsUsed, capacity)
            var palette = [UInt8](repeating: 0, count: capacity)
            for index in 0..<count {
                let blue = try reader.u8(), green = try reader.u8(), red = try reader.u8()
                try reader.skip(1)
                palette[index] = tanba_luma(red, green, blue)
            }
            format = .indexed(palette)
        case 16, 32:
            let masks: ChannelMasks
            if compression == .rgb {
                masks = bitCount == 16 ? .rgb555 : .rgb888
            } else if headerSize >= 52 {
                masks = try ChannelMasks(&header) // V2+ headers hold the masks themselves
            } else {
                masks = try ChannelMasks(&reader) // after a plain BITMAPINFOHEADER
            }
            format = .masked(masks)
        case 24:
            guard compression == .rgb else { throw .corrupt(.bmp, "bit fields on a 24-bit image") }
            format = .bgr
        default:
            throw .unsupported(.bmp, "\(bitCount) bits per pixel")
        }

        // Rows are padded to 4 bytes. The raster must be complete: no partial images.
        let stride = (bitCount * width + 31) / 32 * 4
        guard pixelOffset >= 14 + headerSize, pixelOffset <= bytes.count else {
            throw .corrupt(.bmp, "pixel data offset \(pixelOffset) outside the file")
        }
        guard bytes.count - pixelOffset >= stride * height else { throw .truncated(.bmp) }

        var pixels = [UInt8](repeating: 0, count: width * height)
        bytes.withUnsafeBufferPointer { file in
            pixels.withUnsafeMutableBufferPointer { output in
                for y in 0..<height {
                    let row = pixelOffset + (topDown ? y : height - 1 - y) * stride
                    let source = UnsafeBufferPointer(rebasing: file[row..<row + stride])
                    let target = UnsafeMutableBufferPointer(rebasing: output[y * width..<(y + 1) * width])
                    format.convert(row: source, bitCount: bitCount, into: target)
                }
            }
        }
        let resolution = xPerMetre > 0 && yPerMetre > 0 ? Resolution.perMetre(Double(xPerMetre), Double(yPerMetre)) : nil
        return FingerprintImage(width: width, height: height, pixels: pixels, dpi: resolution?.dpi)
    }

    /// How a row's bytes become gray values.
    private enum PixelFormat {
        case indexed([UInt8]) // gray value of every palette index
        case bgr
        case masked(ChannelMasks)

        func convert(row: UnsafeBufferPointer<UInt8>, bitCount: Int, into gray: UnsafeMutableBufferPointer<UInt8>) {
            switch self {
            case .indexed(let palette):
                // Pixels are packed most significant bits first; the palette has 1 << bitCount
                // entries, so every index is in range.
                let perByte = 8 / bitCount, mask = (1 << bitCount) - 1
                for x in gray.indices {
                    let byte = Int(row[x / perByte])
                    let shift = 8 - bitCount * (x % perByte + 1)
                    gray[x] = palette[(byte >> shift) & mask]
                }
            case .bgr:
                for x in gray.indices {
                    gray[x] = tanba_luma(row[3 * x + 2], row[3 * x + 1], row[3 * x])
                }
            case .masked(let masks):
                for x in gray.indices {
                    let value = bitCount == 16
                        ? UInt32(row[2 * x]) | UInt32(row[2 * x + 1]) << 8
                        : UInt32(row[4 * x]) | UInt32(row[4 * x + 1]) << 8 | UInt32(row[4 * x + 2]) << 16 | UInt32(row[4 * x + 3]) << 24
                    gray[x] = tanba_luma(masks.red.extract(value), masks.green.extract(value), masks.blue.extract(value))
                }
            }
        }
    }

    /// BI_BITFIELDS channel masks (alpha, if any, is ignored).
    private struct ChannelMasks {
        var red: Channel, green: Channel, blue: Channel

        static let rgb555 = ChannelMasks(red: Channel(0x7C00), green: Channel(0x03E0), blue: Channel(0x001F))
        static let rgb888 = ChannelMasks(red: Channel(0xFF_0000), green: Channel(0xFF00), blue: Channel(0xFF))

        init(red: Channel, green: Channel, blue: Channel) {
            self.red = red
            self.green = green
            self.blue = blue
        }

        init(_ reader: inout ByteReader) throws(ImageDecodeError) {
            red = Channel(try reader.u32LE())
            green = Channel(try reader.u32LE())
            blue = Channel(try reader.u32LE())
        }
    }

    /// One channel's mask, with the shift and scale that bring its value to 0...255.
    private struct Channel {
        let mask: UInt32, shift: UInt32, maximum: UInt32

        init(_ mask: UInt32) {
            self.mask = mask
            shift = mask == 0 ? 0 : UInt32(mask.trailingZeroBitCount)
            maximum = mask >> shift
        }

        func extract(_ pixel: UInt32) -> UInt8 {
            guard maximum > 0 else { return 0 }
            let value = UInt64((pixel & mask) >> shift)
            return UInt8(min(255, (value * 255 + UInt64(maximum) / 2) / UInt64(maximum)))
        }
    }
}
