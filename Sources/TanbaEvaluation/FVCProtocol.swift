import Foundation
import TanbaCore
import TanbaImaging
import TanbaMatch

/// One FVC-style set: files `<finger>_<impression>.<ext>` in a folder, at a known resolution.
public struct FingerprintSet: Sendable {
    public struct Image: Sendable {
        public let path: String
        public let finger: String
        public let impression: Int
    }

    public let name: String
    public let dpi: Double
    public let images: [Image]

    /// Nominal resolutions of the FVC sets (datasets README): their TIFF tags say 1 dpi.
    public static let knownResolutions: [String: Double] = [
        "fvc2002_db1_b": 500, "fvc2002_db2_b": 569, "fvc2002_db3_b": 500, "fvc2002_db4_b": 500,
        "fvc2004_db1_b": 500, "fvc2004_db2_b": 500, "fvc2004_db3_b": 512, "fvc2004_db4_b": 500,
    ]

    /// Reads a folder. `dpi` overrides the known resolution; unknown folders default to 500.
    public init(folder: String, dpi: Double? = nil) throws {
        let url = URL(fileURLWithPath: folder)
        name = url.lastPathComponent
        self.dpi = dpi ?? Self.knownResolutions[name] ?? 500
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        var images = [Image]()
        for file in files {
            let stem = (file as NSString).deletingPathExtension
            let parts = stem.split(separator: "_")
            let ext = (file as NSString).pathExtension.lowercased()
            guard parts.count == 2, let impression = Int(parts[1]),
                  ["tif", "tiff", "png", "bmp", "pgm", "jpg", "jpeg", "wsq"].contains(ext) else { continue }
            images.append(Image(path: url.appendingPathComponent(file).path, finger: String(parts[0]), impression: impression))
        }
        self.images = images.sorted { ($0.finger, $0.impression) < ($1.finger, $1.impression) }
        guard !self.images.isEmpty else { throw EvaluationError.emptySet(folder) }
    }

    /// Parses `DIR[:DPI]`.
    public init(argument: String) throws {
        if let colon = argument.lastIndex(of: ":"), let dpi = Double(argument[argument.index(after: colon)...]) {
            try self.init(folder: String(argument[..<colon]), dpi: dpi)
        } else {
            try self.init(folder: argument)
        }
    }
}

public enum EvaluationError: Error, CustomStringConvertible {
    case emptySet(String)
    public var description: String {
        switch self {
        case .emptySet(let f): return "no images named <finger>_<impression>.<ext> in \(f)"
        }
    }
}

/// Results of the FVC protocol on one set (rates are fractions).
public struct SetResult: Sendable, Codable {
    public var eer: Double
    public var eer_fvc: Double
    public var fnmr_at_fmr_1e2: Double
    public var fnmr_at_fmr_1e3: Double
    public var genuine: Int
    public var impostor: Int
    public var fte: Int
    public var extract_ms: Double
    public var match_us: Double
}

/// Templates of a set, extracted once (in parallel) and shared by the protocol and benchmarks.
public struct ExtractedSet: Sendable {
    public let set: FingerprintSet
    /// nil where extraction failed (counted as failure to extract).
    public let templates: [FingerTemplate?]
    public let failures: [String]
    /// Mean single-thread wall time per image, decoding excluded.
    public let extractMilliseconds: Double

    public init(_ set: FingerprintSet, extractor: MinutiaeExtractor, progress: Progress? = nil) {
        let n = set.images.count
        let results = ResultSlots<(FingerTemplate?, String?, Double)>(count: n)
        DispatchQueue.concurrentPerform(iterations: n) { k in
            let image = set.images[k]
            do {
                let decoded = try ImageDecoder.decode(contentsOf: image.path)
                let start = DispatchTime.now().uptimeNanoseconds
                let t = try extractor.extract(decoded, dpi: set.dpi)
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                results.set(k, (t, nil, ms))
            } catch {
                results.set(k, (nil, "\(image.path): \(error)", 0))
            }
            progress?.advance()
        }
        let values = results.values
        self.set = set
        templates = values.map { $0.0 }
        failures = values.compactMap { $0.1 }
        let times = values.filter { $0.0 != nil }.map { $0.2 }
        extractMilliseconds = times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count)
    }
}

/// The accuracy protocol of ../shared/datasets/README.md.
public enum FVCProtocol {
    public struct Scores: Sendable {
        public var genuine = [Float](), impostor = [Float](), impostorFVC = [Float]()
        public var comparisons = 0
        public var seconds = 0.0
    }

    /// Genuine: every pair of impressions of a finger. Impostor (all-pairs): every pair of
    /// images of different fingers. Impostor (FVC): first impressions of different fingers.
    /// A template that failed to extract scores the minimum (0) in all its comparisons.
    public static func scores(_ extracted: ExtractedSet, encoder: CylinderEncoder, comparator: TemplateComparator,
                              progress: Progress? = nil) -> Scores {
        let images = extracted.set.images
        let prepared = extracted.templates.map { $0.map(encoder.encode) }
        let n = images.count
        // Row i compares image i with every later image; rows run in parallel.
        let rows = ResultSlots<([Float], [Float], [Float], Double)>(count: n)
        DispatchQueue.concurrentPerform(iterations: n) { i in
            var scratch = TemplateComparator.Scratch()
            var g = [Float](), imp = [Float](), fvc = [Float]()
            let start = DispatchTime.now().uptimeNanoseconds
            for j in (i + 1)..<max(n, i + 1) {
                var s: Float = 0
                if let a = prepared[i], let b = prepared[j] { s = comparator.score(a, b, scratch: &scratch) }
                if images[i].finger == images[j].finger {
                    g.append(s)
                } else {
                    imp.append(s)
                    if images[i].impression == 1 && images[j].impression == 1 { fvc.append(s) }
                }
            }
            rows.set(i, (g, imp, fvc, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            progress?.advance()
        }
        var out = Scores()
        for r in rows.values {
            out.genuine += r.0; out.impostor += r.1; out.impostorFVC += r.2; out.seconds += r.3
        }
        out.comparisons = out.genuine.count + out.impostor.count
        return out
    }

    public static func evaluate(_ extracted: ExtractedSet, encoder: CylinderEncoder, comparator: TemplateComparator,
                                progress: Progress? = nil) -> SetResult {
        let s = scores(extracted, encoder: encoder, comparator: comparator, progress: progress)
        let all = ErrorRates(genuine: s.genuine, impostor: s.impostor)
        let fvc = ErrorRates(genuine: s.genuine, impostor: s.impostorFVC)
        return SetResult(eer: all.equalErrorRate, eer_fvc: fvc.equalErrorRate,
                         fnmr_at_fmr_1e2: all.falseNonMatchRate(atFalseMatchRate: 0.01),
                         fnmr_at_fmr_1e3: all.falseNonMatchRate(atFalseMatchRate: 0.001),
                         genuine: s.genuine.count, impostor: s.impostor.count,
                         fte: extracted.templates.filter { $0 == nil }.count,
                         extract_ms: extracted.extractMilliseconds,
                         match_us: s.comparisons > 0 ? s.seconds * 1e6 / Double(s.comparisons) : 0)
    }
}

