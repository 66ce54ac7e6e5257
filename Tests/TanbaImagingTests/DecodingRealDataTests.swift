import Foundation
import Testing
import TanbaCore
import TanbaImaging
import TanbaTestSupport

/// Decoding the real fingerprint files in ../shared/datasets (skipped when absent).
@Suite(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
struct DecodingRealDataTests {
    private func decode(_ relative: String, dpi: Double? = nil) throws -> FingerprintImage {
        try ImageDecoder.decode(contentsOf: SharedDatasets.url(relative).path, dpi: dpi)
    }

    struct FVCSet: Sendable, CustomTestStringConvertible {
        let folder: String, width: Int, height: Int
        var testDescription: String { folder }
    }

    /// Sizes from the datasets README.
    static let fvcSets = [
        FVCSet(folder: "fvc2002_db1_b", width: 388, height: 374), FVCSet(folder: "fvc2002_db2_b", width: 296, height: 560),
        FVCSet(folder: "fvc2002_db3_b", width: 300, height: 300), FVCSet(folder: "fvc2002_db4_b", width: 288, height: 384),
        FVCSet(folder: "fvc2004_db1_b", width: 640, height: 480), FVCSet(folder: "fvc2004_db2_b", width: 328, height: 364),
        FVCSet(folder: "fvc2004_db3_b", width: 300, height: 480), FVCSet(folder: "fvc2004_db4_b", width: 288, height: 384),
    ]

    @Test(arguments: fvcSets)
    func everyFVCImageDecodes(set: FVCSet) throws {
        for finger in 101...110 {
            for impression in 1...8 {
                let image = try decode("\(set.folder)/\(finger)_\(impression).tif")
                #expect(image.width == set.width && image.height == set.height, "\(set.folder)/\(finger)_\(impression)")
                #expect(image.dpi == nil) // their 1 x 1 dpi tag means "unset"
                // A fingerprint, not a blank: ridges and valleys differ by at least 147 levels
                // in every image of these sets (sampled sparsely to keep debug runs quick).
                let sample = stride(from: 0, to: image.pixels.count, by: 29).map { Int(image.pixels[$0]) }
                #expect((sample.max() ?? 0) - (sample.min() ?? 0) >= 100)
            }
        }
    }

    @Test func sourceAFISProbeIsTheSameInEveryFormat() throws {
        let png = try decode("sourceafis_test_resources/probe.png") // RGBA
        let bmp = try decode("sourceafis_test_resources/probe.bmp") // 24-bit bottom-up
        let jpeg = try decode("sourceafis_test_resources/probe.jpeg") // colour JFIF
        for image in [png, bmp, jpeg] { #expect(image.width == 388 && image.height == 374) }
        #expect(bmp.pixels == png.pixels)
        // JPEG is lossy: measured mean absolute difference 1.68, maximum 25.
        let differences = zip(png.pixels, jpeg.pixels).map { abs(Int($0) - Int($1)) }
        let mean = Double(differences.reduce(0, +)) / Double(differences.count)
        #expect(mean < 2.5)
    }

    @Test func libfprintCapturesDecode() throws {
        // Stored as RGB; sizes from 100x1151 (swipe) to 304x618.
        let expected: [String: (Int, Int)] = [
            "aes3500": (256, 256), "egis0570": (304, 618), "elan": (216, 235), "elanspi": (288, 578),
            "nb1010": (256, 180), "upektc_img": (144, 384), "vfs0050": (100, 1151), "vfs301": (200, 214),
            "vfs5011": (160, 334), "vfs7552": (224, 224),
        ]
        let drivers = try FileManager.default.contentsOfDirectory(atPath: SharedDatasets.url("libfprint_captures").path)
        #expect(Set(drivers) == Set(expected.keys))
        for driver in drivers {
            let image = try decode("libfprint_captures/\(driver)/capture.png")
            let size = try #require(expected[driver])
            #expect(image.width == size.0 && image.height == size.1, "\(driver)")
        }
    }

    @Test func otherSampleSetsDecode() throws {
        for name in ["arch", "loop-right", "tented_arch", "whorl"] {
            let png = try decode("libfprint_example_prints/\(name).png")
            let jpeg = try decode("libfprint_example_prints/\(name).jpg")
            #expect(png.width == jpeg.width && png.height == jpeg.height, "\(name)")
        }
        for name in ["probe", "candidate1", "candidate2", "candidate3"] {
            let image = try decode("sourceafis_net_2010_sample/\(name).tif", dpi: 500)
            #expect(image.width == 300 && image.height == 300 && image.dpi == 500)
        }
    }
}
