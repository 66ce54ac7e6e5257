import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TanbaCore
import TanbaImaging

/// Errors the command line reports as one clear line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Output {
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandError("cannot read \(path): no such file or not readable")
        }
        return [UInt8](data)
    }
}

/// A template from a file that is either a template (ISO, ANSI, native) or an image.
enum TemplateSource {
    static func load(_ path: String, dpi: Double?, extractor: MinutiaeExtractor) throws -> FingerTemplate {
        let bytes = try Output.readFile(path)
        if TemplateCodec.detect(bytes) != nil {
            let record = try TemplateCodec.decode(bytes)
            guard let view = record.views.first else { throw CommandError("\(path): the record holds no finger view") }
            return view
        }
        let image = try ImageDecoder.decode(bytes, dpi: dpi)
        do {
            return try extractor.extract(image)
        } catch .unknownResolution {
            throw CommandError("\(path): the image does not state its resolution; pass --dpi (e.g. --dpi 500)")
        }
    }
}

/// A GET with a bearer token (the coordinator's ops endpoint); status and body.
enum HTTPGet {
    static func bearer(_ url: String, token: String) async throws -> (Int, String) {
        guard let u = URL(string: url) else { throw CommandError("bad URL \(url)") }
        var request = URLRequest(url: u)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
