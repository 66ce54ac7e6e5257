import ArgumentParser
import Foundation
import TanbaCore
import TanbaEvaluation
import TanbaImaging
import TanbaMatch
import TanbaSynth

/// `tanba bench synth-stats`: real FVC2002 templates and the template-level generator's,
/// side by side (docs/synthetic.md).
struct SynthStatsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-stats",
        abstract: "Template statistics and score distributions: real FVC2002 vs the template-level generator.",
        discussion: """
        Real: the four FVC2002 B sets extracted with MinutiaeExtractor, FVC protocol (genuine: every pair \
        of impressions of a finger; impostor: all pairs of images of different fingers). Synthetic: \
        --fingers fingers x 8 impressions of SyntheticTemplateGenerator with its default options; genuine: \
        every pair of impressions of a finger; impostor: pairs of impressions of different fingers \
        (sampled down to --impostors). Scores use CylinderEncoder() + TemplateComparator(), as the eval does. \
        Without the real sets only the synthetic column is printed.
        """)

    @Option(help: "Folder holding the FVC sets.") var datasets: String = Datasets.defaultRoot
    @Option(help: "Synthetic fingers (8 impressions each).") var fingers: Int = 400
    @Option(help: "Generator seed.") var seed: UInt64 = 1
    @Option(help: "At most this many synthetic impostor comparisons.") var impostors: Int = 200_000
    @Option(help: "Reuse the real columns of an earlier --json run (a file) instead of extracting again.")
    var realFrom: String?
    @Option(name: .customLong("set"), parsing: .upToNextOption,
            help: "Override generator options, e.g. --set density=0.0007 missing-best=0.1 (see --list-options).")
    var overrides: [String] = []
    @Flag(help: "List the generator options --set accepts, with their defaults.") var listOptions = false
    @Option(help: "Also write the synthetic templates to this folder (ISO 19794-2, <finger>_<impression>.iso).")
    var saveTemplates: String?
    @Flag(help: "Skip the generation speed measurement.") var noSpeed = false
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Codable {
        var real: [SyntheticStatistics.Column]
        var real_pooled: SyntheticStatistics.Column?
        var synthetic: SyntheticStatistics.Column
        var synthetic_fingers: Int
        var seed: UInt64
        var options: [String: Double]
        var masters_per_s_1t: Double?
        var impressions_per_s_1t: Double?
        /// Synthetic genuine quantile ÷ pooled real one (p10, p25, p50, p75, p90); ≤ 1 = no easier.
        var genuine_ratio: [Double]?
        /// Synthetic impostor quantile ÷ pooled real one (p50, p99, p99.9).
        var impostor_ratio: [Double]?
    }

    func run() throws {
        var options = SyntheticTemplateGenerator.Options()
        if listOptions {
            for (name, value) in options.tunables.sorted(by: { $0.key < $1.key }) { print("\(name)=\(value)") }
            return
        }
        for o in overrides {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let v = Double(parts[1]), options.set(parts[0], v) else {
                throw ValidationError("--set \(o): expected NAME=NUMBER with a name from --list-options")
            }
        }
        guard fingers >= 2 else { throw ValidationError("--fingers must be at least 2") }
        let encoder = CylinderEncoder(), comparator = TemplateComparator()

        // Real columns.
        var real = [SyntheticStatistics.Column](), pooled: SyntheticStatistics.Column?
        if let path = realFrom {
            let previous = try JSONDecoder().decode(Report.self, from: Data(try Output.readFile(path)))
            real = previous.real; pooled = previous.real_pooled
        } else {
            let sets = Datasets.fvc(root: datasets).filter { $0.name.hasPrefix("fvc2002_") }
            if sets.isEmpty {
                FileHandle.standardError.write("tanba bench synth-stats: no FVC2002 sets under \(datasets); synthetic figures only\n".data(using: .utf8)!)
            }
            var all = [FingerTemplate?](), genuine = [Float](), impostor = [Float]()
            for set in sets {
                let e = ExtractedSet(set, extractor: MinutiaeExtractor(),
                                     progress: Progress("extracting \(set.name)", total: set.images.count))
                let s = FVCProtocol.scores(e, encoder: encoder, comparator: comparator)
                real.append(.init(name: set.name, templates: SyntheticStatistics.figures(e.templates),
                                  scores: .init(genuine: s.genuine, impostor: s.impostor)))
                all += e.templates; genuine += s.genuine; impostor += s.impostor
            }
            if !sets.isEmpty {
                pooled = .init(name: "FVC2002", templates: SyntheticStatistics.figures(all),
                               scores: .init(genuine: genuine, impostor: impostor))
            }
        }

        // Synthetic column.
        let generator = SyntheticTemplateGenerator(seed: seed, options: options)
        let templates = SyntheticStatistics.syntheticTemplates(generator, fingers: fingers)
        if let folder = saveTemplates {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (f, impressions) in templates.enumerated() {
                for (i, t) in impressions.enumerated() {
                    let bytes = try TemplateCodec.encode(FingerprintRecord(views: [t]), as: .iso19794_2_2005)
                    try Data(bytes).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("\(f + 1)_\(i + 1).iso")))
                }
            }
        }
        let classes = (0..<fingers).map { generator.master(finger: UInt64($0)).fingerprintClass.rawValue }
        let s = SyntheticStatistics.scores(templates, classes: classes, encoder: encoder, comparator: comparator,
                                           maximumImpostors: impostors)
        let synthetic = SyntheticStatistics.Column(name: "synthetic", templates: SyntheticStatistics.figures(templates.flatMap { $0 }),
                                                   scores: .init(genuine: s.genuine, impostor: s.impostor, sameClassImpostor: s.sameClassImpostor))
        let speed = noSpeed ? nil : SyntheticStatistics.generationSpeed(generator)
        let ratio = pooled?.scores.map { p in zip(synthetic.scores!.genuineQuantiles, p.genuineQuantiles).map { $0 / max(1e-9, $1) } }
        let impostorRatio = pooled?.scores.map { p in
            zip(synthetic.scores!.impostorQuantiles, p.impostorQuantiles).map { $0 / max(1e-9, $1) }
        }
        let report = Report(real: real, real_pooled: pooled, synthetic: synthetic, synthetic_fingers: fingers, seed: seed,
                            options: options.tunables, masters_per_s_1t: speed?.mastersPerSecond,
                            impressions_per_s_1t: speed?.impressionsPerSecond, genuine_ratio: ratio,
                            impostor_ratio: impostorRatio)
        if json {
            print(try Output.json(report))
            return
        }
        print(SyntheticStatistics.table(real + (pooled.map { [$0] } ?? []) + [synthetic]))
        if let ratio {
            print("synthetic / pooled real genuine quantiles (p10 p25 p50 p75 p90): "
                  + ratio.map { String(format: "%.2f", $0) }.joined(separator: " ")
                  + (ratio.allSatisfy { $0 <= 1 } ? "  (no easier: all ≤ 1)" : "  (EASIER somewhere: a ratio > 1)"))
        }
        if let impostorRatio {
            print("synthetic / pooled real impostor quantiles (p50 p99 p99.9): "
                  + impostorRatio.map { String(format: "%.2f", $0) }.joined(separator: " "))
        }
        if let speed {
            print(String(format: "generation, one thread: %.0f masters/s, %.0f impressions/s", speed.mastersPerSecond, speed.impressionsPerSecond))
        }
        print("synthetic: seed \(seed), \(fingers) fingers x 8 impressions"
              + (overrides.isEmpty ? ", default options" : ", options " + overrides.joined(separator: " ")))
    }
}
