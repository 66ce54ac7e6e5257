import ArgumentParser
import Foundation
import TanbaEvaluation
import TanbaImaging
import TanbaMatch

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run the FVC accuracy protocol (../shared/datasets/README.md) on one or more sets.",
        discussion: """
        Genuine pairs: every pair of impressions of a finger. Impostors (all-pairs): every pair of \
        images of different fingers; (FVC): first impressions only. A failure to extract scores the minimum.
        """)

    @Option(name: .customLong("dataset"), help: "A set folder, optionally with its resolution: DIR[:DPI]. Repeatable.")
    var datasets: [String]
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let sets = try datasets.map { try FingerprintSet(argument: $0) }
        let extractor = MinutiaeExtractor()
        let encoder = CylinderEncoder()
        let comparator = TemplateComparator()
        var results = [String: SetResult]()
        for set in sets {
            let extracted = ExtractedSet(set, extractor: extractor,
                                         progress: Progress("\(set.name): extracting", total: set.images.count))
            for failure in extracted.failures {
                FileHandle.standardError.write("tanba eval: failure to extract: \(failure)\n".data(using: .utf8)!)
            }
            let r = FVCProtocol.evaluate(extracted, encoder: encoder, comparator: comparator,
                                         progress: Progress("\(set.name): comparing", total: set.images.count))
            results[set.name] = r
            if !json {
                print(String(format: "%@  EER %.2f%%  EER(FVC) %.2f%%  FNMR@FMR1%% %.2f%%  FNMR@FMR0.1%% %.2f%%  gen %d imp %d fte %d  extract %.1f ms  match %.1f µs",
                             set.name, r.eer * 100, r.eer_fvc * 100, r.fnmr_at_fmr_1e2 * 100, r.fnmr_at_fmr_1e3 * 100,
                             r.genuine, r.impostor, r.fte, r.extract_ms, r.match_us))
            }
        }
        var means = [String: Double]()
        for year in ["fvc2002", "fvc2004"] {
            let v = (1...4).compactMap { results["\(year)_db\($0)_b"]?.eer }
            if !v.isEmpty { means[year] = v.reduce(0, +) / Double(v.count) }
        }
        if json {
            struct Report: Encodable { let sets: [String: SetResult]; let mean_eer: [String: Double] }
            print(try Output.json(Report(sets: results, mean_eer: means)))
        } else {
            for (year, v) in means.sorted(by: { $0.key < $1.key }) {
                print(String(format: "mean EER %@ (DB1-DB4 present): %.2f%%", year, v * 100))
            }
        }
    }
}
