import Testing
import TanbaCore
import TanbaMatch
import TanbaSynth

/// The template-level generator through the project's comparator: mates must score clearly
/// above non-mates, but — like real FVC2002 mates — not trivially (docs/synthetic.md).
@Suite struct TemplateGeneratorScoreTests {
    let encoder = CylinderEncoder()
    let comparator = TemplateComparator()

    func scores(fingers: Int, impressions: Int, seed: UInt64) -> (genuine: [Float], impostor: [Float]) {
        let g = SyntheticTemplateGenerator(seed: seed)
        let t = (0..<fingers).map { f in
            let master = g.master(finger: UInt64(f))
            return (0..<impressions).map { encoder.encode(g.impression(of: master, index: $0)) }
        }
        var genuine = [Float](), impostor = [Float]()
        for f in 0..<fingers {
            for i in 0..<impressions { for j in (i + 1)..<impressions { genuine.append(comparator.score(t[f][i], t[f][j])) } }
            for h in (f + 1)..<fingers { impostor.append(comparator.score(t[f][f % impressions], t[h][(f + h) % impressions])) }
        }
        return (genuine, impostor)
    }

    @Test func matesScoreWellAboveNonMatesOnAverage() {
        let s = scores(fingers: 16, impressions: 4, seed: 5)
        let g = s.genuine.reduce(0, +) / Float(s.genuine.count)
        let i = s.impostor.reduce(0, +) / Float(s.impostor.count)
        let maxImpostor = s.impostor.max()!
        let genuineMedian = s.genuine.sorted()[s.genuine.count / 2]
        #expect(g > 4 * i, "genuine mean \(g), impostor mean \(i)")
        #expect(genuineMedian > maxImpostor, "genuine median \(genuineMedian), impostor max \(maxImpostor)")
        // Not trivially easy: real FVC2002 mates have a median near 0.13 and a tenth below 0.05.
        #expect(genuineMedian < 0.2, "genuine median \(genuineMedian)")
        #expect(s.genuine.filter { $0 < 0.05 }.count >= 2, "no hard mated pairs among \(s.genuine.count)")
    }

    @Test func impostorScoresStayInTheRealRange() {
        let s = scores(fingers: 24, impressions: 2, seed: 8)
        let sorted = s.impostor.sorted()
        let median = sorted[sorted.count / 2]
        // FVC2002 impostors (same comparator): median 0.015, 99th percentile 0.025.
        #expect(median > 0.009 && median < 0.022, "impostor median \(median)")
        #expect(sorted.last! < 0.06, "impostor max \(sorted.last!)")
    }
}
