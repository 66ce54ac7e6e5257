import Testing
import TanbaCore
@testable import TanbaSynth

/// Masters are grown on a small canvas so that the suite stays fast in debug builds; the
/// outline shrinks to fit, everything else (period, filters, presets) is as in production.
enum Small {
    static let options = SyntheticFingerprintGenerator.Options(
        masterWidth: 176, masterHeight: 208, impression: ImpressionOptions(width: 192, height: 224))
    static let generator = SyntheticFingerprintGenerator(seed: 2024, options: options)
    static let loop = generator.master(finger: 1, class: .rightLoop)
}

@Suite struct SyntheticFingerprintTests {
    @Test func timing() {
        let t0 = ContinuousClock.now
        let m = Small.generator.master(finger: 5)
        let t1 = ContinuousClock.now
        let i = Small.generator.impression(of: m, index: 0)
        let t2 = ContinuousClock.now
        print("master", t1 - t0, m.growthIterations, "impression", t2 - t1, i.width)
    }
}
