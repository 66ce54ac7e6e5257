import ArgumentParser
import Foundation
import TanbaCore
import TanbaImaging
import TanbaSynth

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate synthetic fingerprints: images (SFinGe-style) or templates (fast, for large galleries).")

    @Option(help: "Number of fingers.") var fingers: Int = 4
    @Option(help: "Impressions per finger.") var impressions: Int = 3
    @Option(help: "Random seed (same seed, same output).") var seed: UInt64 = 1
    @Option(help: "What to generate: images or templates.") var kind: String = "images"
    @Option(help: "Template format for --kind templates: iso, ansi or native.") var format: String = "native"
    @Option(name: [.short, .customLong("output")], help: "Output folder.") var output: String = "synthetic"

    func run() throws {
        guard fingers > 0, impressions > 0 else { throw ValidationError("--fingers and --impressions must be positive") }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        switch kind {
        case "images":
            let generator = SyntheticFingerprintGenerator(seed: seed)
            for f in 0..<fingers {
                let master = generator.master(finger: f)
                for i in 0..<impressions {
                    let image = generator.impression(of: master, index: i)
                    let path = (output as NSString).appendingPathComponent(String(format: "%d_%d.png", f + 1, i + 1))
                    try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: path))
                }
                print("finger \(f + 1): \(master.fingerprintClass.rawValue), \(impressions) impressions")
            }
        case "templates":
            guard let fmt = TemplateFormat(rawValue: format) else { throw ValidationError("unknown format '\(format)'") }
            let generator = SyntheticTemplateGenerator(seed: seed)
            for f in 0..<fingers {
                let master = generator.master(finger: UInt64(f))
                for i in 0..<impressions {
                    let t = generator.impression(of: master, index: i)
                    let bytes = try TemplateCodec.encode(FingerprintRecord(views: [t]), as: fmt)
                    let ext = fmt == .native ? "tnb" : fmt.rawValue
                    let path = (output as NSString).appendingPathComponent("\(f + 1)_\(i + 1).\(ext)")
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                }
            }
            print("\(fingers) fingers x \(impressions) impressions written to \(output)")
        default:
            throw ValidationError("--kind must be images or templates")
        }
    }
}
