import TanbaCore
import TanbaSQLite
import Crypto
import Foundation

/// The key that wraps every data key. It never touches the database: it is loaded at
/// start from a file readable only by its owner or from the environment, and identified
/// by a key ID so that rotation can tell which key wrapped what.
// @unchecked: SymmetricKey is immutable but not marked Sendable in swift-crypto 3.
public struct MasterKey: @unchecked Sendable {
    public static let environmentVariable = "TANBA_MASTER_KEY"

    public let id: String
    let key: SymmetricKey

    public init(id: String, key: SymmetricKey) throws(KeyError) {
        guard key.bitCount == 256 else { throw .malformed("the master key must be 32 bytes, got \(key.bitCount / 8)") }
        guard !id.isEmpty, id.utf8.count <= 64, !id.contains(":") else {
            throw .malformed("the key ID must be 1-64 characters without ':'")
        }
        self.id = id
        self.key = key
    }

    /// A fresh random key (for `tanba store keygen`-style tooling and tests).
    public static func generate(id: String) -> MasterKey {
        try! MasterKey(id: id, key: SymmetricKey(size: .bits256))
    }

    /// The text form kept in the key file or variable: `<key id>:<base64 of 32 bytes>`.
    public var exported: String {
        id + ":" + key.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public static func parse(_ text: String) throws(KeyError) -> MasterKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let colon = trimmed.firstIndex(of: ":") else {
            throw .malformed("expected '<key id>:<base64 key>'")
        }
        guard let raw = Data(base64Encoded: String(trimmed[trimmed.index(after: colon)...])) else {
            throw .malformed("the key is not valid base64")
        }
        return try MasterKey(id: String(trimmed[..<colon]), key: SymmetricKey(data: raw))
    }

    /// Loads the key from `file` when given, else from `TANBA_MASTER_KEY`. A key file
    /// that group or others can read is refused: a leaked master key opens every record.
    public static func load(file: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(KeyError) -> MasterKey {
        if let file {
            let attributes: [FileAttributeKey: Any]
            do { attributes = try FileManager.default.attributesOfItem(atPath: file) } catch {
                throw .missing("cannot read the master key file \(file)")
            }
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
            guard mode & 0o077 == 0 else {
                throw .insecureFile(path: file, mode: String(mode, radix: 8))
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .missing("cannot read the master key file \(file)")
            }
            return try parse(String(decoding: data, as: UTF8.self))
        }
        guard let text = environment[environmentVariable], !text.isEmpty else {
            throw .missing("no master key: set \(environmentVariable) or give a key file")
        }
        return try parse(text)
    }

    /// Writes the key to a new file with mode 0600.
    public func write(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((exported + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw KeyError.missing("cannot create the key file \(path)")
        }
    }

    /// Key-check value: proves a key is the one registered under its ID without ever
    /// decrypting anything (a wrong key is reported as wrong, not as garbage).
    var checkValue: [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("tanba/key-check/v1".utf8), using: key).prefix(16))
    }
}

public enum KeyError: Error, Equatable, CustomStringConvertible, Sendable {
    case missing(String)
    case malformed(String)
    case insecureFile(path: String, mode: String)
    /// The key has a known ID but different bytes.
    case wrongMasterKey(id: String)
    /// No key with this ID was ever registered with the store.
    case unknownMasterKey(id: String, known: [String])
    /// A data key is wrapped by a key that was not supplied (e.g. during rotation).
    case masterKeyNotLoaded(id: String)
    /// The owner's data key was destroyed (crypto-shredded) or never existed.
    case dataKeyDestroyed
    /// Authenticated decryption failed: the ciphertext or its context was altered.
    case integrity(String)

    public var description: String {
        switch self {
        case .missing(let m): m
        case .malformed(let m): "malformed master key: \(m)"
        case .insecureFile(let path, let mode):
            "the master key file \(path) has mode \(mode); it must be readable by its owner only (chmod 600)"
        case .wrongMasterKey(let id): "the master key given for ID '\(id)' is not the key registered under that ID"
        case .unknownMasterKey(let id, let known):
            "the store does not know master key ID '\(id)' (known: \(known.joined(separator: ", ")))"
        case .masterKeyNotLoaded(let id): "data is wrapped by master key '\(id)', which was not loaded"
        case .dataKeyDestroyed: "the data key was destroyed: the data is deleted and cannot be decrypted"
        case .integrity(let m): "authentication failed: \(m)"
        }
    }
}
