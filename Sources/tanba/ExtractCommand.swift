import ArgumentParser
import Foundation
import TanbaCore
import TanbaImaging

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract", abstract: "Extract minutiae templates from fingerprint images.")

    @Argument(help: "Images (PNG, TIFF, BMP, PGM, JPEG, WSQ).") var images: [String]
    @Option(help: "Resolution in dpi when the files do not state it (or to override them).") var dpi: Double?
    @Option(help: "Template format: iso, ansi or native.") var format: String = "iso"
    @Option(name: [.short, .customLong("output")], help: "Output folder (default: current folder).") var output: String = "."
    @Option(help: "Finger position code 0-10 written into the templates.") var position: UInt8 = 0

    func run() throws {
        guard let fmt = TemplateFormat(rawValue: format) else {
            throw ValidationError("unknown format '\(format)': use iso, ansi or native")
        }
        guard let pos = FingerPosition(rawValue: position) else { throw ValidationError("finger position must be 0-10") }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let extractor = MinutiaeExtractor()
        let ext = fmt == .native ? "tnb" : fmt.rawValue
        var failures = 0
        for path in images {
            do {
                let image = try ImageDecoder.decode(contentsOf: path, dpi: dpi)
                let start = DispatchTime.now().uptimeNanoseconds
                let template = try extractor.extract(image, position: pos)
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                let bytes = try TemplateCodec.encode(FingerprintRecord(views: [template]), as: fmt)
                let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                let out = (output as NSString).appendingPathComponent("\(stem).\(ext)")
                try Data(bytes).write(to: URL(fileURLWithPath: out))
                print(String(format: "%@: %d minutiae, quality %d, %.1f ms -> %@", path, template.minutiae.count,
                             Int(template.quality), ms, out))
            } catch {
                failures += 1
                FileHandle.standardError.write("tanba extract: \(path): \(error)\n".data(using: .utf8)!)
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
