import Testing
import TanbaCore
import TanbaImaging
import TanbaTestSupport

/// Hostile input: every decoder must either throw an `ImageDecodeError` or return a
/// well-formed image; a trap, a hang or a sanitizer report is a bug. Inputs are seeded, so a
/// failure names its case and can be replayed.
@Suite struct DecodingFuzzTests {
    /// Decodes `bytes`, checking the one invariant a successful decode must keep.
    @discardableResult
    private static func survive(_ bytes: [UInt8], _ label: @autoclosure () -> String) -> FingerprintImage? {
        guard let image = try? ImageDecoder.decode(bytes) else { return nil }
        let limits = ImageDecoder.limits
        #expect(image.width > 0 && image.height > 0 && image.width <= limits.maxSide && image.height <= limits.maxSide
                && image.pixels.count == image.width * image.height, "\(label())")
        return image
    }

    /// Small valid files of every format.
    private static func validFiles() throws -> [(name: String, bytes: [UInt8])] {
        let image = Fixtures.image(width: 13, height: 7, dpi: 500)
        var palette = (0...255).map { Fixtures.gray(UInt8($0)) }
        palette[3] = (red: 255, green: 0, blue: 0)
        let indexRows = (0..<7).map { row in (0..<13).map { UInt8(truncatingIfNeeded: row * 13 + $0) } }
        return [
            ("png", try ImageEncoder.png(image)),
            ("tiff-lzw", try ImageEncoder.tiff(image, compression: .lzw)),
            ("tiff-palette", try ImageEncoder.tiff(image, layout: .palette8, compression: .packBits)),
            ("bmp", Fixtures.bmp(width: 13, height: 7, bitCount: 8, rows: indexRows, palette: palette)),
            ("pgm", ImageEncoder.pgm(image)),
            // ASCII PGM ends without a length: cutting its last number short would give a
            // different, valid image, so the last sample is a single digit.
            ("pgm-ascii", Array("P2\n# comment\n4 2\n255\n0 17 255 128\n64 200 33 9\n".utf8)),
            ("jpeg", Fixtures.tinyJPEG),
            ("wsq", Fixtures.randomWSQ(width: 21, height: 17, seed: 11)),
        ]
    }

    @Test func randomBytesAfterEverySignature() {
        let signatures: [[UInt8]] = [
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], Array("II*\0".utf8), Array("MM\0*".utf8),
            Array("BM".utf8), Array("P5\n".utf8), Array("P2\n".utf8), [0xFF, 0xD8, 0xFF], [0xFF, 0xA0, 0xFF],
        ]
        var random = SplitMix64(seed: 0x7A4B_A001)
        for signature in signatures {
            for trial in 0..<250 {
                let length = Int(random.next() % 300)
                let bytes = signature + (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                Self.survive(bytes, "signature \(signature) trial \(trial)")
            }
        }
    }

    /// Every prefix of a valid file either fails or (when only trailing bytes the decoder does
    /// not need were cut) decodes to the very same image: never to a different one.
    @Test func everyTruncationFailsOrGivesTheSameImage() throws {
        for file in try Self.validFiles() {
            let full = try ImageDecoder.decode(file.bytes)
            for length in 0..<file.bytes.count {
                if let image = Self.survive(Array(file.bytes.prefix(length)), "\(file.name) cut at \(length)") {
                    #expect(image.pixels == full.pixels && image.width == full.width, "\(file.name) cut at \(length)")
                }
            }
        }
    }

    /// Random byte changes reach deeper than random files: headers still parse, tables and
    /// data do not.
    @Test func mutatedValidFiles() throws {
        var random = SplitMix64(seed: 0x5EED)
        for file in try Self.validFiles() {
            for trial in 0..<300 {
                var bytes = file.bytes
                for _ in 0...(random.next() % 4) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
                Self.survive(bytes, "\(file.name) mutation \(trial)")
            }
        }
    }

    @Test func wsqSingleBitFlips() {
        var random = SplitMix64(seed: 0xB17F)
        let wsq = Fixtures.randomWSQ(width: 23, height: 19, seed: 5)
        for trial in 0..<800 {
            var bytes = wsq
            let bit = Int(random.next() % UInt64(8 * bytes.count))
            bytes[bit / 8] ^= 1 << (bit % 8)
            Self.survive(bytes, "synthetic WSQ flip \(trial) at bit \(bit)")
        }
    }

    /// A few flips of the real file, each possibly a full-size decode (about 0.3 s in debug
    /// builds): in the tables, the frame header and the entropy-coded data.
    @Test(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
    func realWSQBitFlips() throws {
        let wsq = [UInt8](try SharedDatasets.data("sourceafis_test_resources/wsq-original.wsq"))
        var random = SplitMix64(seed: 0xF11B)
        for trial in 0..<4 {
            var bytes = wsq
            // Half the flips in the first kilobyte (tables, frame, first block header).
            let range = trial.isMultiple(of: 2) ? 1024 : bytes.count
            let bit = Int(random.next() % UInt64(8 * range))
            bytes[bit / 8] ^= 1 << (bit % 8)
            Self.survive(bytes, "real WSQ flip at bit \(bit)")
        }
    }
}
