import Foundation
import TanbaCore
import TanbaMatch
import TanbaSynth

/// Throughput of the comparator on a fixed list of templates, single- and multi-threaded,
/// with the dispatched kernel and with the scalar reference kernel.
public enum ComparatorBenchmark {
    public struct Result: Codable, Sendable {
        public var kernel: String
        public var comparisons_per_s_1t: Double
        public var comparisons_per_s_all: Double
        public var scalar_per_s_1t: Double
        public var templates: Int
        public var source: String
        public var mean_minutiae: Double
    }

    /// Runs each measurement for about `seconds`, cycling over all template pairs.
    public static func run(templates: [MatchTemplate], source: String, seconds: Double = 2) -> Result {
        let fast = TemplateComparator()
        let scalar = TemplateComparator(kernel: SimilarityKernel(level: .scalarReference))
        let one = rate(templates, fast, threads: 1, seconds: seconds)
        let all = rate(templates, fast, threads: ProcessInfo.processInfo.activeProcessorCount, seconds: seconds)
        let ref = rate(templates, scalar, threads: 1, seconds: seconds)
        let mean = Double(templates.map(\.count).reduce(0, +)) / Double(max(1, templates.count))
        return Result(kernel: fast.kernel.level.rawValue, comparisons_per_s_1t: one, comparisons_per_s_all: all,
                      scalar_per_s_1t: ref, templates: templates.count, source: source, mean_minutiae: mean)
    }

    /// Comparisons per second over `threads` threads, each walking the pair list from its
    /// own offset. A checksum of the scores keeps the work from being optimised away.
    static func rate(_ t: [MatchTemplate], _ comparator: TemplateComparator, threads: Int, seconds: Double) -> Double {
        let n = t.count
        guard n > 1 else { return 0 }
        let counts = ResultSlots<(Int, Double, Float)>(count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var scratch = TemplateComparator.Scratch()
            var done = 0, checksum: Float = 0
            var i = (worker * 7919) % n, j = (i + 1) % n
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            while elapsed < seconds {
                for _ in 0..<256 {
                    checksum += comparator.score(t[i], t[j], scratch: &scratch)
                    j += 1
                    if j == n { i = (i + 1) % n; j = 0 }
                    if j == i { j = (j + 1) % n }
                }
                done += 256
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            counts.set(worker, (done, elapsed, checksum))
        }
        return counts.values.reduce(0) { $0 + Double($1.0) / $1.1 }
    }

    /// Templates for the benchmark: all real FVC sets present, or synthetic ones.
    public static func synthetic(count: Int, seed: UInt64 = 7) -> [FingerTemplate] {
        let g = SyntheticTemplateGenerator(seed: seed)
        return (0..<count).map { k in g.impression(of: g.master(finger: UInt64(k / 8)), index: k % 8) }
    }
}
