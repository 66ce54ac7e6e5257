import Foundation
import Testing
import TanbaCore
import TanbaImaging

/// Decoders and encoders on images generated here: every expected pixel is known exactly.
@Suite struct DecodingTests {
    // MARK: Detection

    @Test func formatsAreDetectedBySignature() throws {
        let image = Fixtures.image(width: 5, height: 4)
        #expect(ImageDecoder.detect(try ImageEncoder.png(image)) == .png)
        #expect(ImageDecoder.detect(ImageEncoder.pgm(image)) == .pgm)
        #expect(ImageDecoder.detect(try ImageEncoder.tiff(image)) == .tiff)
        #expect(ImageDecoder.detect(Array("MM\0*".utf8)) == .tiff)
        #expect(ImageDecoder.detect(Array("P2 1 1 255 0".utf8)) == .pgm)
        #expect(ImageDecoder.detect(Fixtures.tinyJPEG) == .jpeg)
        #expect(ImageDecoder.detect(Fixtures.randomWSQ(width: 8, height: 8, seed: 1)) == .wsq)
        #expect(ImageDecoder.detect(Fixtures.bmp(width: 1, height: 1, bitCount: 24, rows: [[0, 0, 0]])) == .bmp)
        // Near misses: a PPM, a bare WSQ marker, text.
        #expect(ImageDecoder.detect(Array("P6\n1 1\n255\n".utf8)) == nil)
        #expect(ImageDecoder.detect([0xFF, 0xA0]) == nil)
        #expect(ImageDecoder.detect(Array("hello".utf8)) == nil)
        #expect(ImageDecoder.detect([]) == nil)
        #expect(throws: ImageDecodeError.unknownFormat) { try ImageDecoder.decode(Array("GIF89a".utf8)) }
    }

    // MARK: PNG and PGM round trips

    @Test func pngRoundTripIsExact() throws {
        let image = Fixtures.image(width: 61, height: 47, dpi: 500)
        let decoded = try ImageDecoder.decode(try ImageEncoder.png(image))
        #expect(decoded.width == 61 && decoded.height == 47)
        #expect(decoded.pixels == image.pixels)
        // pHYs stores 19685 pixels per metre = 499.999 dpi.
        let dpi = try #require(decoded.dpi)
        #expect(abs(dpi - 500) < 0.01)
    }

    @Test func pngWithoutResolutionHasNoDPI() throws {
        let decoded = try ImageDecoder.decode(try ImageEncoder.png(Fixtures.image(width: 3, height: 2)))
        #expect(decoded.dpi == nil)
    }

    @Test func pgmRoundTripIsExact() throws {
        let image = Fixtures.image(width: 33, height: 20, dpi: 500)
        let bytes = ImageEncoder.pgm(image)
        #expect(bytes.starts(with: Array("P5\n33 20\n255\n".utf8)))
        let decoded = try ImageDecoder.decode(bytes)
        #expect(decoded.pixels == image.pixels)
        #expect(decoded.dpi == nil) // PGM has nowhere to keep it
    }

    @Test func asciiPGMWithCommentsIsScaledToEightBits() throws {
        let text = "P2\n# made by hand\n3 2 # width height\n# maximum next\n4\n0 1 2\n3 4\n4\n"
        let decoded = try ImageDecoder.decode(Array(text.utf8))
        // v * 255 / 4, rounded.
        #expect(decoded.pixels == [0, 64, 128, 191, 255, 255])
    }

    @Test func sixteenBitPGMKeepsItsRange() throws {
        var file = ByteWriter()
        file.ascii("P5 4 1 65535\n")
        for sample: UInt16 in [0, 257, 32768, 65535] { file.u16BE(sample) }
        #expect(try ImageDecoder.decode(file.bytes).pixels == [0, 1, 128, 255])
    }

    @Test func sixteenBitPNGsAreReducedNotGammaEncoded() throws {
        let values: [UInt8] = [0, 1, 2, 10, 50, 100, 128, 200, 254, 255]
        let wide = values.flatMap { [$0, $0] } // v * 257, big-endian
        let gray = Fixtures.png(width: 10, height: 1, bitDepth: 16, colorType: 0, rows: [wide])
        #expect(try ImageDecoder.decode(gray).pixels == values)
        let rgb = Fixtures.png(width: 10, height: 1, bitDepth: 16, colorType: 2, rows: [values.flatMap { Array(repeating: $0, count: 6) }])
        #expect(try ImageDecoder.decode(rgb).pixels == values)
    }

    @Test func palettePackedAndAlphaPNGs() throws {
        // Palette with a reversed gray map, indices 0...3.
        let palette = try ImageDecoder.decode(Fixtures.png(width: 4, height: 1, bitDepth: 8, colorType: 3, rows: [[0, 1, 2, 3]],
                                                           palette: [200, 150, 100, 50].map(Fixtures.gray)))
        #expect(palette.pixels == [200, 150, 100, 50])
        // 4-bit gray: samples 0, 5, 10, 15 scale by 17.
        #expect(try ImageDecoder.decode(Fixtures.png(width: 4, height: 1, bitDepth: 4, colorType: 0, rows: [[0x05, 0xAF]])).pixels
            == [0, 85, 170, 255])
        // Gray + alpha: transparent pixels become paper white, opaque ones keep their value.
        let alpha = Fixtures.png(width: 3, height: 1, bitDepth: 8, colorType: 4, rows: [[0, 0, 0, 255, 90, 255]])
        #expect(try ImageDecoder.decode(alpha).pixels == [255, 0, 90])
    }

    // MARK: BMP

    @Test func eightBitPaletteBottomUpBMP() throws {
        // 5 pixels per row: 3 bytes of padding. Entry 7 is pure red to check the luma weights.
        var palette = (0...255).map { Fixtures.gray(UInt8(255 - $0)) }
        palette[7] = (red: 255, green: 0, blue: 0)
        let top: [UInt8] = [0, 1, 2, 3, 4], bottom: [UInt8] = [255, 7, 100, 200, 10]
        let file = Fixtures.bmp(width: 5, height: 2, bitCount: 8, rows: [bottom, top], palette: palette)
        let decoded = try ImageDecoder.decode(file)
        #expect(decoded.width == 5 && decoded.height == 2)
        // Gray entries are 255 - index; red is (77 * 255 + 128) >> 8 = 77.
        #expect(decoded.pixels == [255, 254, 253, 252, 251, 0, 77, 155, 55, 245])
    }

    @Test func twentyFourBitTopDownBMP() throws {
        // Stored B, G, R; negative height = first row is the top row.
        let rows: [[UInt8]] = [[10, 10, 10, 20, 20, 20, 0, 0, 255], [0, 255, 0, 30, 30, 30, 255, 0, 0]]
        let decoded = try ImageDecoder.decode(Fixtures.bmp(width: 3, height: -2, bitCount: 24, rows: rows))
        // Red 77, green (150 * 255 + 128) >> 8 = 149, blue (29 * 255 + 128) >> 8 = 29.
        #expect(decoded.pixels == [10, 20, 77, 149, 30, 29])
    }

    @Test func oneBitBMP() throws {
        // 10 pixels per row, most significant bit first; bottom-up.
        let rows: [[UInt8]] = [[0b1100_0000, 0b0100_0000], [0b1010_1010, 0b1100_0000]]
        let file = Fixtures.bmp(width: 10, height: 2, bitCount: 1, rows: rows,
                                palette: [Fixtures.gray(0), Fixtures.gray(255)])
        let decoded = try ImageDecoder.decode(file)
        let bits: [UInt8] = [1, 0, 1, 0, 1, 0, 1, 0, 1, 1, /* bottom */ 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
        #expect(decoded.pixels == bits.map { $0 * 255 })
    }

    @Test func thirtyTwoBitBitfieldsInAV5Header() throws {
        // Unusual channel order (blue in the top byte) proves the masks are honoured.
        let masks: [UInt32] = [0x0000_FF00, 0x00FF_0000, 0xFF00_0000, 0x0000_00FF]
        let pixel: (UInt8, UInt8, UInt8) -> [UInt8] = { red, green, blue in [0xAA, red, green, blue] } // little-endian
        let rows = [pixel(200, 200, 200) + pixel(255, 0, 0)]
        let file = Fixtures.bmp(width: 2, height: 1, bitCount: 32, rows: rows, headerSize: 124, compression: 3, masks: masks)
        #expect(try ImageDecoder.decode(file).pixels == [200, 77])
    }

    @Test func sixteenBitBitfieldsAfterAnInfoHeader() throws {
        // RGB565: white, and pure green (63 of 63 → 255 → luma 149).
        let rows: [[UInt8]] = [[0xFF, 0xFF, 0xE0, 0x07]]
        let file = Fixtures.bmp(width: 2, height: 1, bitCount: 16, rows: rows, compression: 3,
                                masks: [0xF800, 0x07E0, 0x001F])
        #expect(try ImageDecoder.decode(file).pixels == [255, 149])
    }

    @Test func runLengthBMPIsUnsupportedAndShortRasterTruncated() throws {
        let rle = Fixtures.bmp(width: 2, height: 1, bitCount: 8, rows: [[0, 0]], palette: [Fixtures.gray(0)], compression: 1)
        #expect(throws: ImageDecodeError.unsupported(.bmp, "run-length encoded bitmaps")) { try ImageDecoder.decode(rle) }
        let full = Fixtures.bmp(width: 4, height: 4, bitCount: 24, rows: Array(repeating: [UInt8](repeating: 9, count: 12), count: 4))
        #expect(throws: ImageDecodeError.truncated(.bmp)) { try ImageDecoder.decode(Array(full.dropLast(5))) }
    }

    // MARK: TIFF

    @Test(arguments: ImageEncoder.TIFFLayout.allCases, ImageEncoder.TIFFCompression.allCases)
    func tiffDecodesToTheEncodedPixels(layout: ImageEncoder.TIFFLayout, compression: ImageEncoder.TIFFCompression) throws {
        // Tall enough for several strips.
        let image = Fixtures.image(width: 37, height: 300, seed: 7)
        let decoded = try ImageDecoder.decode(try ImageEncoder.tiff(image, layout: layout, compression: compression))
        #expect(decoded.width == 37 && decoded.height == 300)
        #expect(decoded.pixels == image.pixels)
    }

    // MARK: JPEG

    @Test func jpegDecodesCloseToItsSource() throws {
        let decoded = try ImageDecoder.decode(Fixtures.tinyJPEG)
        #expect(decoded.width == 16 && decoded.height == 12)
        var worst = 0
        for y in 0..<12 {
            for x in 0..<16 {
                worst = max(worst, abs(Int(decoded[x, y]) - Int(Fixtures.tinyJPEGPixel(x: x, y: y))))
            }
        }
        #expect(worst <= 3) // quality 95 on a smooth ramp
        #expect(decoded.dpi == nil) // JFIF units 0: an aspect ratio, not a resolution
    }

    // MARK: Resolution rules

    @Test func resolutionComesFromTheFileWhenPlausible() throws {
        let image = Fixtures.image(width: 4, height: 4, dpi: 500)
        #expect(try ImageDecoder.decode(try ImageEncoder.tiff(image)).dpi == 500)
        #expect(try ImageDecoder.decode(Fixtures.tinyJPEG(units: 1, density: 500)).dpi == 500)
        let perCentimetre = try #require(try ImageDecoder.decode(Fixtures.tinyJPEG(units: 2, density: 197)).dpi)
        #expect(abs(perCentimetre - 500.38) < 0.001)
        let bmp = Fixtures.bmp(width: 1, height: 1, bitCount: 24, rows: [[1, 2, 3]], pixelsPerMetre: (19685, 19685))
        let bmpDPI = try #require(try ImageDecoder.decode(bmp).dpi)
        #expect(abs(bmpDPI - 500) < 0.01)
        let wsq = Fixtures.wsq(width: 8, height: 8, coefficients: Array(repeating: 0, count: 48), ppi: 1000)
        #expect(try ImageDecoder.decode(wsq).dpi == 1000)
    }

    @Test func implausibleOrNonSquareResolutionIsDropped() throws {
        // FVC TIFFs say 1 x 1 dpi.
        let fvcStyle = try ImageEncoder.tiff(Fixtures.image(width: 4, height: 4, dpi: 1))
        #expect(try ImageDecoder.decode(fvcStyle).dpi == nil)
        #expect(try ImageDecoder.decode(try ImageEncoder.tiff(Fixtures.image(width: 4, height: 4, dpi: 5000))).dpi == nil)
        let anamorphic = Fixtures.bmp(width: 1, height: 1, bitCount: 24, rows: [[1, 2, 3]], pixelsPerMetre: (19685, 9843))
        #expect(try ImageDecoder.decode(anamorphic).dpi == nil)
    }

    @Test func explicitDPIWins() throws {
        let fvcStyle = try ImageEncoder.tiff(Fixtures.image(width: 4, height: 4, dpi: 1))
        #expect(try ImageDecoder.decode(fvcStyle, dpi: 569).dpi == 569)
        let tagged = try ImageEncoder.png(Fixtures.image(width: 4, height: 4, dpi: 500))
        #expect(try ImageDecoder.decode(tagged, dpi: 512).dpi == 512)
        #expect(try ImageDecoder.decode(ImageEncoder.pgm(Fixtures.image(width: 2, height: 2)), dpi: 500).dpi == 500)
    }

    // MARK: Errors and limits

    @Test func oversizedHeadersAreRejectedBeforeDecoding() throws {
        let limits = ImageDecoder.limits
        // Headers alone: if the size were not checked first, these would report truncation.
        let wide = Fixtures.bmp(width: 9000, height: 1, bitCount: 8, rows: [], palette: [Fixtures.gray(0)])
        #expect(throws: ImageDecodeError.tooLarge(width: 9000, height: 1, limits: limits)) { try ImageDecoder.decode(wide) }
        #expect(throws: ImageDecodeError.tooLarge(width: 7000, height: 7000, limits: limits)) {
            try ImageDecoder.decode(Array("P5 7000 7000 255\n".utf8))
        }
        // Within the limits but far more samples than the file holds: refused before allocating.
        #expect(throws: ImageDecodeError.truncated(.pgm)) { try ImageDecoder.decode(Array("P2 4000 4000 255\n0 0".utf8)) }
        var wsq = Fixtures.wsq(width: 8, height: 8, coefficients: Array(repeating: 0, count: 48))
        let frame = try #require(wsq.indices.first { wsq[$0] == 0xFF && wsq[$0 + 1] == 0xA2 })
        wsq[frame + 8...frame + 9] = [0x30, 0x00] // width 12288
        #expect(throws: ImageDecodeError.tooLarge(width: 12288, height: 8, limits: limits)) { try ImageDecoder.decode(wsq) }
    }

    @Test func corruptAndEmptyImagesAreReported() throws {
        #expect(throws: ImageDecodeError.corrupt(.pgm, "maximum value 0 outside 1...65535")) {
            try ImageDecoder.decode(Array("P5 1 1 0\n\0".utf8))
        }
        #expect(throws: ImageDecodeError.corrupt(.pgm, "invalid image size 0x3")) {
            try ImageDecoder.decode(Array("P2 0 3 255\n".utf8))
        }
        // libpng's own message comes through.
        var png = try ImageEncoder.png(Fixtures.image(width: 8, height: 8))
        png[png.count - 20] ^= 0xFF // inside IDAT: breaks the CRC
        do {
            _ = try ImageDecoder.decode(png)
            Issue.record("a PNG with a bad CRC decoded")
        } catch {
            guard case .corrupt(.png, let detail) = error else { throw error }
            #expect(!detail.isEmpty)
        }
    }

    @Test func fileErrorsAreIOErrors() throws {
        let missing = "/nonexistent/tanba/finger.png"
        let error = #expect(throws: ImageDecodeError.self) { try ImageDecoder.decode(contentsOf: missing) }
        guard case .io(path: missing, let detail)? = error else {
            Issue.record("expected an I/O error, got \(String(describing: error))")
            return
        }
        #expect(!detail.isEmpty)
        let directory = FileManager.default.temporaryDirectory.path
        #expect(throws: ImageDecodeError.io(path: directory, detail: "not a regular file")) {
            try ImageDecoder.decode(contentsOf: directory)
        }
    }

    @Test func oversizedFilesAreNotRead() throws {
        // A sparse file: 600 MB long, no disk used, refused from its size alone.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-\(UInt64.random(in: 0...UInt64.max)).bmp").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data("BM".utf8)))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 600 << 20)
        try handle.close()
        #expect(throws: ImageDecodeError.io(path: path, detail: "file of 629145600 bytes is larger than 536870912")) {
            try ImageDecoder.decode(contentsOf: path)
        }
    }

    @Test func fileDecodingIgnoresTheExtension() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-\(UInt64.random(in: 0...UInt64.max)).tif").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let image = Fixtures.image(width: 9, height: 5, dpi: 500)
        try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: path)) // PNG named .tif
        let decoded = try ImageDecoder.decode(contentsOf: path)
        #expect(decoded.pixels == image.pixels)
    }

    @Test func errorDescriptionsNameTheProblem() {
        let limits = ImageDecoder.limits
        #expect(ImageDecodeError.truncated(.wsq).description == "WSQ data is truncated")
        #expect(ImageDecodeError.corrupt(.bmp, "x").description == "corrupt BMP data: x")
        #expect(ImageDecodeError.unsupported(.jpeg, "CMYK").description == "unsupported JPEG variant: CMYK")
        #expect(ImageDecodeError.tooLarge(width: 9000, height: 2, limits: limits).description
            == "image of 9000x2 pixels exceeds the limits (8192 pixels per side, 40000000 pixels)")
        #expect(ImageDecodeError.io(path: "/a", detail: "gone").description == "cannot read /a: gone")
        #expect(ImageDecodeError.unknownFormat.description.contains("WSQ"))
    }
}
