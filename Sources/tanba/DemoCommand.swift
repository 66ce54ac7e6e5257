import ArgumentParser
import Foundation
import TanbaCore
import TanbaImaging
import TanbaMatch
import TanbaSynth

/// The main job on embedded defaults: synthetic persons through the whole matching path.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate synthetic persons, extract, enroll in an in-memory gallery, identify and verify.")

    @Option(help: "Number of synthetic persons.") var persons: Int = 8
    @Option(help: "Random seed.") var seed: UInt64 = 2026

    func run() throws {
        guard (2...200).contains(persons) else { throw ValidationError("--persons must be 2-200") }
        let fingers: [FingerPosition] = [.rightIndex, .leftIndex]
        let generator = SyntheticFingerprintGenerator(seed: seed)
        let extractor = MinutiaeExtractor()
        let gallery = GalleryShard()

        print("Tanba demo: \(persons) synthetic persons, fingers \(fingers.map(\.displayName).joined(separator: ", "))")
        print("kernel: \(SimilarityKernel.best.level.rawValue)\n")

        // Enrollment: impression 0 of every finger.
        var iins = [IIN]()
        var probes = [[FingerTemplate]]()
        let start = Date()
        for p in 0..<persons {
            let iin = IIN.make(birthDate: .init(year: 1960 + p % 40, month: 1 + p % 12, day: 1 + p % 28),
                               sex: p % 2 == 0 ? .male : .female, serial: 100 + p)
                ?? IIN.make(birthDate: .init(year: 1960 + p % 40, month: 1 + p % 12, day: 1 + p % 28),
                            sex: p % 2 == 0 ? .male : .female, serial: 5000 + p)!
            iins.append(iin)
            var personProbes = [FingerTemplate]()
            var line = "enroll \(iin)  "
            for (f, position) in fingers.enumerated() {
                let master = generator.master(finger: p * fingers.count + f)
                let enrolled = try extractor.extract(generator.impression(of: master, index: 0), position: position)
                personProbes.append(try extractor.extract(generator.impression(of: master, index: 1), position: position))
                gallery.add(GalleryKey(subject: UInt64(p), position: position), template: enrolled)
                line += "\(position.displayName): \(enrolled.minutiae.count) minutiae q\(enrolled.quality)  "
            }
            probes.append(personProbes)
            print(line)
        }
        print(String(format: "\n%d fingers enrolled in %.1f s (synthesis + extraction)\n", gallery.count, Date().timeIntervalSince(start)))

        let encoder = CylinderEncoder()
        let comparator = TemplateComparator()
        let threshold = ScoreScale.threshold(forFMR: 1e-3)

        // Identification: a second impression of one person's right index, unknown identity.
        let who = persons / 2
        let probe = encoder.encode(probes[who][0])
        print("IDENTIFY a new impression of person \(iins[who])'s RIGHT INDEX (identity withheld):")
        let hits = gallery.search(probe, options: SearchOptions(limit: 5))
        for (rank, c) in hits.enumerated() {
            print(String(format: "  %d. %@  %-12@ score %.3f%@", rank + 1, iins[Int(c.key.subject)].digits,
                         c.key.position.displayName, c.score, c.score >= threshold ? "  <- hit" : ""))
        }
        let top = hits.first.map { Int($0.key.subject) }
        print(top == who ? "  rank-1 is the right person\n" : "  rank-1 is NOT the right person\n")

        // Verification: the claimed identity's enrolled finger against a fresh impression.
        print(String(format: "VERIFY (threshold %.3f, FMR 1e-3):", threshold))
        for (label, claimed, actual) in [("genuine claim", who, who), ("impostor claim", (who + 1) % persons, who)] {
            guard let reference = gallery.template(GalleryKey(subject: UInt64(claimed), position: .leftIndex)) else { continue }
            let s = comparator.score(encoder.encode(probes[actual][1]), reference)
            print(String(format: "  %@: probe of %@ claims %@  score %.3f  -> %@", label, iins[actual].digits,
                         iins[claimed].digits, s, s >= threshold ? "ACCEPT" : "REJECT"))
        }
    }
}
