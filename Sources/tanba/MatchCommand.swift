import ArgumentParser
import Foundation
import TanbaCore
import TanbaImaging
import TanbaMatch

struct MatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match", abstract: "Compare two fingerprints (images or templates) and print the score.")

    @Argument(help: "First image or template.") var a: String
    @Argument(help: "Second image or template.") var b: String
    @Option(help: "Resolution in dpi for images that do not state it.") var dpi: Double?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let extractor = MinutiaeExtractor()
        let ta = try TemplateSource.load(a, dpi: dpi, extractor: extractor)
        let tb = try TemplateSource.load(b, dpi: dpi, extractor: extractor)
        let encoder = CylinderEncoder()
        let score = TemplateComparator().score(encoder.encode(ta), encoder.encode(tb))
        let decision = ScoreScale.decision(score)
        if json {
            struct Result: Encodable { let score: Float; let match: Bool; let threshold: Float; let fmr: Double }
            print(try Output.json(Result(score: score, match: decision.match, threshold: decision.threshold, fmr: decision.fmr)))
        } else {
            print(String(format: "score %.4f  (%@ at the FMR %.0e threshold %.3f)", score,
                         decision.match ? "MATCH" : "no match", decision.fmr, decision.threshold))
        }
    }
}
