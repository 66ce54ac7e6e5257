import Crypto
import Foundation
import TanbaCore

/// The time source of the access layer. Injected so tests can move time (the 60-day
/// block, the one-day application deadline, session expiry, TOTP steps).
public struct AccessClock: Sendable {
    public let now: @Sendable () -> Date
    public init(_ now: @escaping @Sendable () -> Date) { self.now = now }
    public static let system = AccessClock { Date() }
}

public enum AccessError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalid(String)
    case notFound(String)
    case conflict(String)
    case badKey
    case integrity(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .notFound(let what): "\(what) not found"
        case .conflict(let why): why
        case .badKey: "the access key must be 256 bits"
        case .integrity(let what): "sealed value \(what) failed authentication (wrong key or moved value)"
        }
    }
}

/// AES-256-GCM sealing of personal fields, as the store does it: a fresh nonce per value,
/// stored as nonce ‖ ciphertext ‖ tag, associated data `tanba-access/v1|<column>|<owner>`
/// so a value copied to another row or column fails to open.
// SymmetricKey is immutable but not marked Sendable by swift-crypto.
struct FieldSealer: @unchecked Sendable {
    let key: SymmetricKey

    init(key: SymmetricKey) throws(AccessError) {
        guard key.bitCount == 256 else { throw .badKey }
        self.key = key
    }

    private static func aad(_ column: String, _ owner: String) -> Data { Data("tanba-access/v1|\(column)|\(owner)".utf8) }

    func seal<T: Encodable>(_ value: T, column: String, owner: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let box = try AES.GCM.seal(encoder.encode(value), using: key, authenticating: Self.aad(column, owner))
        guard let combined = box.combined else { throw AccessError.invalid("AES-GCM produced no combined form") }
        return Array(combined)
    }

    func open<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], column: String, owner: String) throws -> T {
        do {
            let box = try AES.GCM.SealedBox(combined: bytes)
            let plain = try AES.GCM.open(box, using: key, authenticating: Self.aad(column, owner))
            return try JSONDecoder().decode(T.self, from: plain)
        } catch {
            throw AccessError.integrity("\(column) of \(owner)")
        }
    }
}

public enum AccessKey {
    /// The access layer's sealing key derived from 32 bytes of the store's key material
    /// (the coordinator passes the master key): HKDF-SHA256, info `tanba/access/v1`, so it
    /// is independent of every key the store derives itself.
    public static func derive(from master: SymmetricKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Data("tanba/access/v1".utf8), outputByteCount: 32)
    }
}

extension Date {
    var astana: String { AstanaTime.format(self) }
}

func parseAstana(_ text: String?) -> Date? { text.flatMap(AstanaTime.parse) }

func randomHex(_ bytes: Int) -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
}
