import Crypto
import Foundation
import TanbaCore

/// The only way an image leaves the station, and only when `imageExport` is "encrypted":
/// each captured image as a binary PGM sealed with AES-256-GCM (file = 12-byte nonce,
/// ciphertext, 16-byte tag; the file name is bound as associated data). Without this
/// setting images exist only in memory while their template is extracted.
public struct EncryptedImageExporter: Sendable {
    public let directory: String
    private let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// `keyFile` holds 32 raw bytes or 64 hex digits.
    public init(directory: String, keyFile: String) throws {
        guard let data = FileManager.default.contents(atPath: keyFile) else {
            throw StationConfigError("cannot read image export key \(keyFile)")
        }
        var bytes = [UInt8](data)
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count == 64, let hex = EncryptedImageExporter.hex(text) { bytes = hex }
        guard bytes.count == 32 else { throw StationConfigError("image export key must be 32 bytes (or 64 hex digits)") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.keyBytes = bytes
    }

    static func hex(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var it = s.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let v = UInt8(String([a, b]), radix: 16) else { return nil }
            out.append(v)
        }
        return out
    }

    static func pgm(_ image: FingerprintImage) -> [UInt8] {
        Array("P5\n\(image.width) \(image.height)\n255\n".utf8) + image.pixels
    }

    /// Writes one sealed image; returns its path.
    @discardableResult
    public func export(_ image: FingerprintImage, label: String) throws -> String {
        let name = "\(label)-\(UUID().uuidString.lowercased()).pgm.sealed"
        let sealed = try AES.GCM.seal(EncryptedImageExporter.pgm(image), using: key, authenticating: Array(name.utf8))
        let path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: path, contents: sealed.combined, attributes: [.posixPermissions: 0o600]) else {
            throw StationConfigError("cannot write \(path)")
        }
        return path
    }

    /// Opens a sealed file (for the authorised reader at the other end, and tests).
    public func open(path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw StationConfigError("cannot read \(path)") }
        let name = (path as NSString).lastPathComponent
        return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: Array(name.utf8)))
    }
}
