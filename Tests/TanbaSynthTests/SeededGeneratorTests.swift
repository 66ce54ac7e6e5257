import Testing
import TanbaSynth

@Suite struct SeededGeneratorTests {
    @Test func sameSeedSameStream() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
    }

    @Test func differentSeedsAndStreamsDiffer() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 8)
        var c = SeededGenerator(seed: 7, stream: 1), d = SeededGenerator(seed: 7, stream: 2)
        let sa = (0..<8).map { _ in a.next() }, sb = (0..<8).map { _ in b.next() }
        let sc = (0..<8).map { _ in c.next() }, sd = (0..<8).map { _ in d.next() }
        #expect(sa != sb)
        #expect(sc != sd)
        #expect(sa != sc)
    }

    @Test func streamIsPinned() {
        // Pinned so that a change to the generator (which would silently change every
        // synthetic finger and gallery) is caught. The values were cross-checked against an
        // independent transcription of the published SplitMix64 and xoshiro256** algorithms
        // (SplitMix64 from state 0 gives 0xE220A8397B1DCDAF as its first output).
        var g = SeededGenerator(seed: 0)
        let first = (0..<3).map { _ in g.next() }
        #expect(first == SeededGeneratorTests.pinned)
    }
    static let pinned: [UInt64] = [11_091_344_671_253_066_420, 13_793_997_310_169_335_082, 1_900_383_378_846_508_768]

    @Test func helpersStayInRange() {
        var g = SeededGenerator(seed: 99)
        var sum = 0.0, sumSquares = 0.0
        for _ in 0..<20_000 {
            let u = g.unit()
            #expect(u >= 0 && u < 1)
            let k = g.below(7)
            #expect((0..<7).contains(k))
            let z = g.gaussian()
            sum += z
            sumSquares += z * z
        }
        // Standard normal: mean ≈ 0, variance ≈ 1 (generous bounds for 20,000 draws).
        #expect(abs(sum / 20_000) < 0.05)
        #expect(abs(sumSquares / 20_000 - 1) < 0.05)
    }
}
