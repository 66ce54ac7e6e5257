import Testing
import TanbaCore
import TanbaImaging
import TanbaSynth

/// The images must look like real 500-dpi fingerprints to the project's own extractor
/// (libfprint's NBIS mindtct). Real FVC2002 images give 37–52 minutiae on average with it;
/// a synthetic image with far fewer would be too clean, with far more too noisy. (Measured
/// on full-size images in docs/synthetic.md; this smaller finger and frame carry fewer.)
@Suite struct RealismTests {
    @Test func extractorFindsARealisticNumberOfMinutiae() throws {
        // A mid-sized master keeps this affordable in debug builds; the 300×300 frame is
        // that of a small capacitive sensor (FVC2002 DB3).
        let options = SyntheticFingerprintGenerator.Options(
            masterWidth: 256, masterHeight: 320, impression: ImpressionOptions(width: 300, height: 300))
        let generator = SyntheticFingerprintGenerator(seed: 11, options: options)
        let master = generator.master(finger: 3, class: .leftLoop)
        let extractor = MinutiaeExtractor()
        var counts: [Int] = []
        for index in 0..<4 {
            let template = try extractor.extract(generator.impression(of: master, index: index))
            counts.append(template.minutiae.count)
        }
        let mean = Double(counts.reduce(0, +)) / Double(counts.count)
        #expect(counts.allSatisfy { (10...100).contains($0) }, "\(counts)")
        #expect((15...75).contains(mean), "mean \(mean) of \(counts)")
    }
}
