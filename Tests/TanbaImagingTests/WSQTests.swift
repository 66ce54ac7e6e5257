import Testing
import TanbaCore
@testable import TanbaImaging
import TanbaTestSupport

@Suite struct WSQTests {
    /// Agreement with the reference decoder's output (SourceAFIS's wsq-converted.png, decoded
    /// by JNBIS, a port of NIST NBIS dwsq): measured 0 of 638,976 pixels differing, maximum
    /// difference 0. The decoder follows the reference arithmetic step for step, so anything
    /// but exact equality is a regression.
    @Test(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
    func realWSQMatchesTheReferenceDecoderExactly() throws {
        let wsq = try ImageDecoder.decode(contentsOf: SharedDatasets.url("sourceafis_test_resources/wsq-original.wsq").path)
        let reference = try ImageDecoder.decode(contentsOf: SharedDatasets.url("sourceafis_test_resources/wsq-converted.png").path)
        #expect(wsq.width == 832 && wsq.height == 768)
        #expect(wsq.width == reference.width && wsq.height == reference.height)
        #expect(wsq.dpi == 500) // from its NISTCOM "PPI 500"
        let differing = zip(wsq.pixels, reference.pixels).filter { $0 != $1 }.count
        #expect(differing == 0)
    }

    @Test func allZeroCoefficientsGiveTheShift() throws {
        let image = try ImageDecoder.decode(Fixtures.wsq(width: 19, height: 11, coefficients: Array(
            repeating: 0, count: Fixtures.wsqCoefficientCount(width: 19, height: 11))))
        #expect(image.width == 19 && image.height == 11)
        #expect(image.pixels.allSatisfy { $0 == 128 }) // 0 * scale + shift
        #expect(image.dpi == 500)
    }

    /// Only the coarsest subband set: after five 2-D synthesis levels, each halving a DC
    /// value, the image must be uniform, edges included, at any size. This exercises the
    /// split sizes and the symmetric extensions on odd and degenerate lengths.
    @Test(arguments: [(1, 1), (2, 3), (5, 7), (37, 29), (64, 48), (101, 3)])
    func coarsestSubbandAloneGivesAUniformImage(width: Int, height: Int) throws {
        let layout = WSQWavelet.Layout(width: width, height: height)
        let coarsest = layout.subbands[0].width * layout.subbands[0].height
        var coefficients = [Int32](repeating: 0, count: Fixtures.wsqCoefficientCount(width: width, height: height))
        for index in 0..<coarsest { coefficients[index] = 500 }
        let image = try ImageDecoder.decode(Fixtures.wsq(width: width, height: height, coefficients: coefficients))
        // Unquantized 2 * (500 - 0.44) + 2.4 / 2 = 1000.32; / 32 + 128 = 159.26.
        #expect(image.pixels.allSatisfy { $0 == 159 }, "\(width)x\(height)")
    }

    /// Subbands never leave the image, never overlap, and cover it: the decoder writes them
    /// with unchecked offsets, so this is what keeps hostile frame sizes memory-safe.
    @Test func subbandsTileTheImage() {
        for width in 1...40 {
            for height in [1, 2, 3, 7, 16, 33, 40] {
                let layout = WSQWavelet.Layout(width: width, height: height)
                var covered = [Int](repeating: 0, count: width * height)
                for band in layout.subbands {
                    #expect(band.x >= 0 && band.y >= 0 && band.width >= 0 && band.height >= 0)
                    #expect(band.x + band.width <= width && band.y + band.height <= height)
                    for y in band.y..<band.y + band.height {
                        for x in band.x..<band.x + band.width { covered[y * width + x] += 1 }
                    }
                }
                #expect(covered.allSatisfy { $0 == 1 }, "\(width)x\(height)")
                let coded = layout.subbands.prefix(WSQWavelet.Layout.codedSubbands).reduce(0) { $0 + $1.width * $1.height }
                #expect(coded == Fixtures.wsqCoefficientCount(width: width, height: height))
            }
        }
    }

    @Test func symmetricExtension() {
        let reflect = WSQWavelet.SynthesisPlan.reflect
        // About the edge sample, and with it repeated; several bounces on a short line.
        #expect((-3...5).map { reflect($0, 3, false, false) } == [1, 2, 1, 0, 1, 2, 1, 0, 1])
        #expect((-3...5).map { reflect($0, 3, true, true) } == [2, 1, 0, 0, 1, 2, 2, 1, 0])
        #expect((-2...2).map { reflect($0, 1, true, false) } == [0, 0, 0, 0, 0])
    }

    @Test func wrongCoefficientCountsAreCorrupt() throws {
        let count = Fixtures.wsqCoefficientCount(width: 8, height: 8)
        #expect(throws: ImageDecodeError.corrupt(.wsq, "image data holds 47 of 48 coefficients")) {
            try ImageDecoder.decode(Fixtures.wsq(width: 8, height: 8, coefficients: Array(repeating: 1, count: count - 1)))
        }
        #expect(throws: ImageDecodeError.corrupt(.wsq, "more coefficients than the image has")) {
            try ImageDecoder.decode(Fixtures.wsq(width: 8, height: 8, coefficients: Array(repeating: 1, count: count + 1)))
        }
    }

    @Test func structuralErrors() throws {
        let valid = Fixtures.randomWSQ(width: 9, height: 9, seed: 3)
        #expect(throws: ImageDecodeError.truncated(.wsq)) { try ImageDecoder.decode(Array(valid.dropLast(2))) }
        // The first block names Huffman table 5, never defined.
        var undefined = valid
        let block = try #require(undefined.indices.first { undefined[$0] == 0xFF && undefined[$0 + 1] == 0xA3 })
        undefined[block + 4] = 5
        #expect(throws: ImageDecodeError.corrupt(.wsq, "block uses undefined Huffman table 5")) { try ImageDecoder.decode(undefined) }
    }
}
