import ArgumentParser
import Foundation
import TanbaCore
import TanbaEvaluation
import TanbaImaging
import TanbaMatch

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Speed benchmarks.",
        subcommands: [ComparatorBench.self, SearchBench.self, CalibrateBench.self, SynthStatsBench.self,
                      StoreThroughputBench.self, StoreLoadBench.self, PrefilterStudyBench.self, TenPrintBench.self])
}

/// Where the real sets live unless told otherwise.
enum Datasets {
    static var defaultRoot: String {
        ProcessInfo.processInfo.environment["TANBA_DATASETS"] ?? "../shared/datasets"
    }
    static let fvcSets = ["fvc2002_db1_b", "fvc2002_db2_b", "fvc2002_db3_b", "fvc2002_db4_b",
                          "fvc2004_db1_b", "fvc2004_db2_b", "fvc2004_db3_b", "fvc2004_db4_b"]

    /// The FVC sets present under `root` (none when ../shared is absent).
    static func fvc(root: String) -> [FingerprintSet] {
        fvcSets.compactMap { try? FingerprintSet(folder: (root as NSString).appendingPathComponent($0)) }
    }
}

struct ComparatorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comparator",
        abstract: "Comparisons per second on real templates (synthetic if ../shared is absent).")

    @Option(help: "Folder holding the FVC sets.") var datasets: String = Datasets.defaultRoot
    @Option(help: "Seconds per measurement.") var seconds: Double = 3
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let sets = Datasets.fvc(root: datasets)
        var templates = [FingerTemplate]()
        var source = "synthetic"
        if sets.isEmpty {
            FileHandle.standardError.write("tanba bench: \(datasets) has no FVC sets; using synthetic templates\n".data(using: .utf8)!)
            templates = ComparatorBenchmark.synthetic(count: 640)
        } else {
            source = "fvc (\(sets.count) sets)"
            for set in sets {
                let e = ExtractedSet(set, extractor: MinutiaeExtractor(), progress: Progress("extracting \(set.name)", total: set.images.count))
                templates += e.templates.compactMap { $0 }
            }
        }
        let encoder = CylinderEncoder()
        let prepared = templates.map(encoder.encode)
        let r = ComparatorBenchmark.run(templates: prepared, source: source, seconds: seconds)
        if json {
            print(try Output.json(r))
        } else {
            print(String(format: "kernel %@: %.0f comparisons/s on one thread, %.0f on all, scalar reference %.0f/s (%.1fx); %d templates (%@), %.1f minutiae",
                         r.kernel, r.comparisons_per_s_1t, r.comparisons_per_s_all, r.scalar_per_s_1t,
                         r.comparisons_per_s_1t / max(1, r.scalar_per_s_1t), r.templates, r.source, r.mean_minutiae))
        }
    }
}

struct CalibrateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Score thresholds for target false-match rates, from pooled impostor comparisons.",
        discussion: "Impostors: all-pairs impostor comparisons of every FVC set present, plus synthetic impostor pairs.")

    @Option(help: "Folder holding the FVC sets.") var datasets: String = Datasets.defaultRoot
    @Option(help: "Synthetic impostor comparisons to add (template-level generator).") var synthetic: Int = 200_000
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let encoder = CylinderEncoder()
        let comparator = TemplateComparator()
        var real = [Float](), genuine = [Float]()
        for set in Datasets.fvc(root: datasets) {
            let e = ExtractedSet(set, extractor: MinutiaeExtractor(), progress: Progress("extracting \(set.name)", total: set.images.count))
            let s = FVCProtocol.scores(e, encoder: encoder, comparator: comparator)
            real += s.impostor
            genuine += s.genuine
        }
        var synthetic = [Float]()
        if self.synthetic > 0 {
            let templates = ComparatorBenchmark.synthetic(count: 2000, seed: 99).map(encoder.encode)
            synthetic = CalibrateBench.impostors(templates, count: self.synthetic)
        }
        let targets = [1e-2, 1e-3, 1e-4, 1e-5]
        struct Row: Encodable { let fmr: Double; let threshold_fvc: Float?; let threshold_synthetic: Float?; let fnmr_fvc: Double? }
        var rows = [Row]()
        for t in targets {
            let r = ErrorRates(genuine: genuine, impostor: real)
            let realOK = Double(real.count) * t >= 1
            let synOK = Double(synthetic.count) * t >= 1
            let tr = realOK ? r.threshold(forFalseMatchRate: t) : nil
            let ts = synOK ? ErrorRates(genuine: [], impostor: synthetic).threshold(forFalseMatchRate: t) : nil
            rows.append(Row(fmr: t, threshold_fvc: tr, threshold_synthetic: ts, fnmr_fvc: tr.map { r.falseNonMatchRate(at: $0) }))
        }
        if json {
            struct Report: Encodable { let impostors_fvc: Int; let impostors_synthetic: Int; let genuine_fvc: Int; let rows: [Row] }
            print(try Output.json(Report(impostors_fvc: real.count, impostors_synthetic: synthetic.count, genuine_fvc: genuine.count, rows: rows)))
        } else {
            print("impostors: \(real.count) FVC all-pairs, \(synthetic.count) synthetic; genuine: \(genuine.count) FVC")
            for r in rows {
                print(String(format: "FMR %.0e: threshold FVC %@  synthetic %@  (FNMR on FVC %@)", r.fmr,
                             r.threshold_fvc.map { String(format: "%.4f", $0) } ?? "  n/a ",
                             r.threshold_synthetic.map { String(format: "%.4f", $0) } ?? "  n/a ",
                             r.fnmr_fvc.map { String(format: "%.2f%%", $0 * 100) } ?? "n/a"))
            }
        }
    }

    /// Scores of `count` pairs of templates of different synthetic fingers. Templates come in
    /// groups of eight impressions per finger, so an offset that is a non-zero multiple of 8
    /// (mod n) always lands on another finger.
    static func impostors(_ t: [MatchTemplate], count: Int) -> [Float] {
        let n = t.count, fingers = n / 8
        guard fingers > 1 else { return [] }
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let out = ResultSlots<[Float]>(count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { w in
            var scratch = TemplateComparator.Scratch()
            var scores = [Float]()
            let comparator = TemplateComparator()
            var k = w
            while k < count {
                let i = (k &* 7919) % n
                let j = (i + 8 * (1 + k % (fingers - 1))) % n
                scores.append(comparator.score(t[i], t[j], scratch: &scratch))
                k += threads
            }
            out.set(w, scores)
        }
        return out.values.flatMap { $0 }
    }
}


struct PrefilterStudyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefilter-study",
        abstract: "Research bench: where candidate prefilter scores rank each probe's mate (slow; cylinders resident).",
        discussion: "Same gallery and probes as `bench search`. See PrefilterStudy in Sources/TanbaEvaluation.")

    @Option(help: "Gallery size (fingers).") var gallery: Int = 20_000
    @Option(help: "Use every n-th probe.") var probeStride: Int = 4
    @Option(help: "Folder holding the FVC sets.") var datasets: String = Datasets.defaultRoot
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let r = PrefilterStudy.run(gallerySize: gallery, realSets: Datasets.fvc(root: datasets), probeStride: probeStride)
        if json { print(try Output.json(r)) } else { print(r.summary) }
    }
}

struct SearchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "1:N search speed and hit rate over a gallery of real and synthetic fingers.",
        discussion: """
        The gallery holds impression 1 of every real FVC finger plus synthetic background fingers up to \
        --gallery; probes are the other real impressions (synthetic mates when ../shared is absent).
        """)

    @Option(help: "Gallery size (fingers).") var gallery: Int = 100_000
    @Option(help: "Share of the gallery the prefilter passes to the full comparator.") var penetration: Double = SearchOptions().penetration
    @Option(help: "Probes used for the exhaustive (penetration 1) hit rate; 0 skips it.") var exhaustiveProbes: Int = 40
    @Flag(help: "Keep every gallery finger's cylinders resident for the exhaustive figure (bench only, ~3.5 KiB per finger): affordable exhaustive search over all probes at 1M.")
    var residentExhaustive = false
    @Flag(inversion: .prefixedNo, help: "Count penetration in minutiae rather than fingers (SearchOptions.budgetByCylinders).")
    var budgetByCylinders = SearchOptions().budgetByCylinders
    @Option(help: "Prefilter vote weighting: \(VoteWeighting.allCases.map(\.rawValue).joined(separator: ", ")).")
    var voteWeighting: String = SearchOptions().voteWeighting.rawValue
    @Flag(inversion: .prefixedNo, help: "Prefilter visits multi-probe neighbours of each probe key (SearchOptions.multiProbe).")
    var multiProbe = SearchOptions().multiProbe
    @Option(help: "More penetrations to search the same gallery at, comma-separated (hit rate and time of each).")
    var alsoPenetrations: String = ""
    @Option(help: "File caching the exhaustive answers between runs that change only prefilter settings.")
    var exhaustiveCache: String?
    @Option(help: "Folder holding the FVC sets.") var datasets: String = Datasets.defaultRoot
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard let weighting = VoteWeighting(rawValue: voteWeighting) else {
            throw ValidationError("unknown --vote-weighting \(voteWeighting); one of \(VoteWeighting.allCases.map(\.rawValue))")
        }
        let r = try SearchBenchmark.run(gallerySize: gallery, penetration: penetration, exhaustiveProbes: exhaustiveProbes,
                                        residentExhaustive: residentExhaustive, budgetByCylinders: budgetByCylinders,
                                        voteWeighting: weighting, multiProbe: multiProbe, exhaustiveCache: exhaustiveCache,
                                        otherPenetrations: try alsoPenetrations.split(separator: ",").map {
                                            guard let p = Double($0.trimmingCharacters(in: .whitespaces)), p > 0, p <= 1 else {
                                                throw ValidationError("--also-penetrations: \($0) is not a share in (0, 1]")
                                            }
                                            return p
                                        },
                                        realSets: Datasets.fvc(root: datasets))
        if json { print(try Output.json(r)) } else { print(r.summary) }
    }
}
