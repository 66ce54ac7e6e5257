import Crypto
import Foundation

/// Size limits shared by every socket and decoder. One place, so that the nng receive
/// limit, the decoder checks and docs/protocol.md cannot drift apart.
public enum WireLimits {
    /// Largest envelope payload: one template at TanbaCore's own 1 MiB cap plus room for
    /// the fields around it. A ten-print in the native format is a few kilobytes.
    public static let maximumPayload = (1 << 20) + (64 << 10)
    /// Largest whole message on the wire; also NNG_OPT_RECVMAXSZ on every socket.
    public static let maximumMessage = maximumPayload + 1024
    /// Longest node name (sender field, certificate name).
    public static let maximumNodeName = 64
}

/// 128-bit request identifier chosen by the sender. Retries reuse it, so the receiver can
/// answer a retry with its first answer instead of doing the work twice.
public struct RequestID: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    /// A fresh random ID (SystemRandomNumberGenerator is a CSPRNG on Linux and macOS).
    public static func random() -> RequestID {
        var rng = SystemRandomNumberGenerator()
        return RequestID(high: rng.next(), low: rng.next())
    }

    public var description: String {
        let h = String(high, radix: 16), l = String(low, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }
}

/// Node names: 1–64 characters of [A-Za-z0-9._-]. Restricted so that a name is also a valid
/// certificate DNS name, a file name and a log token.
public enum NodeName {
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= WireLimits.maximumNodeName else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == 0x2E || c == 0x5F || c == 0x2D
        }
    }
}

/// The signed frame around every message.
///
/// ```
/// offset   size  field
///      0      4  magic "TNBW"
///      4      1  protocol version (1)
///      5      1  message type
///      6     16  request ID (high 8 bytes, then low 8 bytes, each little-endian)
///     22      1  sender name length L (1…64)
///     23      L  sender name, ASCII [A-Za-z0-9._-]
///   23+L      8  timestamp, milliseconds since 1970-01-01T00:00:00Z, signed
///   31+L      4  payload length P (≤ WireLimits.maximumPayload)
///   35+L      P  payload (the message body for the type)
/// 35+L+P     64  Ed25519 signature over every byte before it
/// ```
///
/// The signature binds the sender's node identity to the request: nng 1.5.2 verifies the
/// peer's certificate chain but cannot tell us *whose* certificate it was.
public struct Envelope: Equatable, Sendable {
    public static let magic: [UInt8] = Array("TNBW".utf8)
    /// The newest protocol version this node speaks; it decodes every version in
    /// `supportedVersions`. Senders use the oldest version that can carry the message
    /// (`WireMessage.protocolVersion`), so version-1 nodes keep working in a mixed cluster.
    public static let currentVersion: UInt8 = 3
    public static let supportedVersions: ClosedRange<UInt8> = 1...3
    public static let signatureSize = 64

    public var version: UInt8

    public var type: MessageType
    public var requestID: RequestID
    public var sender: String
    /// Milliseconds since the Unix epoch (UTC), set by the sender.
    public var timestamp: Int64
    public var payload: [UInt8]
    /// Ed25519 signature; empty until signed.
    public var signature: [UInt8]

    public init(type: MessageType, requestID: RequestID, sender: String, timestamp: Int64,
                payload: [UInt8], signature: [UInt8] = [], version: UInt8 = 1) {
        self.version = version
        self.type = type
        self.requestID = requestID
        self.sender = sender
        self.timestamp = timestamp
        self.payload = payload
        self.signature = signature
    }

    /// The bytes the signature covers: everything but the signature itself.
    func signedBytes() -> [UInt8] {
        var w = WireWriter(capacity: 40 + sender.utf8.count + payload.count + Self.signatureSize)
        w.raw(Self.magic)
        w.u8(version)
        w.u8(type.rawValue)
        w.u64(requestID.high)
        w.u64(requestID.low)
        w.shortString(sender)
        w.i64(timestamp)
        w.blob(payload)
        return w.bytes
    }

    /// The whole frame. Only meaningful once `signature` holds 64 bytes.
    public func encoded() -> [UInt8] { signedBytes() + signature }

    /// Parses the frame without checking the signature: `Keyring.open` does that.
    /// Rejects anything over `WireLimits.maximumMessage` before reading a field.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Envelope {
        guard bytes.count <= WireLimits.maximumMessage else {
            throw .oversized(field: "message", size: bytes.count, limit: WireLimits.maximumMessage)
        }
        var r = WireReader(bytes)
        guard try r.take(4, "magic").elementsEqual(magic) else { throw .badMagic }
        let version = try r.u8("version")
        guard supportedVersions.contains(version) else { throw .unsupportedVersion(version) }
        let code = try r.u8("message type")
        guard let type = MessageType(rawValue: code) else { throw .unknownMessageType(code) }
        let high = try r.u64("request ID"), low = try r.u64("request ID")
        let sender = try r.shortString("sender", limit: WireLimits.maximumNodeName)
        guard NodeName.isValid(sender) else { throw .invalidValue(field: "sender", reason: "not a node name") }
        let timestamp = try r.i64("timestamp")
        let payload = try r.blob("payload", limit: WireLimits.maximumPayload)
        let signature = Array(try r.take(signatureSize, "signature"))
        try r.finish()
        return Envelope(type: type, requestID: RequestID(high: high, low: low), sender: sender,
                        timestamp: timestamp, payload: payload, signature: signature, version: version)
    }

    /// The message carried, decoded according to `type`.
    public func message() throws(DecodeError) -> WireMessage {
        try WireMessage.decode(type: type, payload: payload, version: version)
    }
}

/// A node's own name and Ed25519 signing key: what it signs its envelopes with.
public struct NodeIdentity: Sendable {
    public let name: String
    // Raw 32-byte seed: swift-crypto 3.x keys are not Sendable, their bytes are.
    private let seed: [UInt8]

    public init(name: String, signingKey: Curve25519.Signing.PrivateKey) throws(EnvelopeError) {
        guard NodeName.isValid(name) else { throw .invalidNodeName(name) }
        self.name = name
        self.seed = Array(signingKey.rawRepresentation)
    }

    public var signingKey: Curve25519.Signing.PrivateKey {
        // The seed came from a valid key, so it always parses.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    public var publicKey: Curve25519.Signing.PublicKey { signingKey.publicKey }

    /// Signs `message` into an envelope and returns its bytes.
    public func seal(_ message: WireMessage, requestID: RequestID, timestamp: Int64 = WireClock.nowMilliseconds()) -> [UInt8] {
        var envelope = Envelope(type: message.type, requestID: requestID, sender: name,
                                timestamp: timestamp, payload: message.encodedBody(), version: message.protocolVersion)
        let signed = envelope.signedBytes()
        // Signing with an in-memory Ed25519 key cannot fail short of memory exhaustion.
        envelope.signature = Array(try! signingKey.signature(for: signed))
        return signed + envelope.signature
    }
}

/// Wall clock in the envelope's unit. A function so tests can pass their own time instead.
public enum WireClock {
    public static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}

/// Why an envelope was refused.
public enum EnvelopeError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(DecodeError)
    /// The sender name is not in the keyring.
    case unknownSigner(String)
    /// The signature does not verify with the sender's key: forged or damaged in transit.
    case badSignature(sender: String)
    /// The timestamp is outside the freshness window: an old message replayed, or a clock
    /// that is badly off. Either way it is not accepted.
    case stale(timestamp: Int64, now: Int64, windowMilliseconds: Int64)
    /// A valid answer from a node other than the one asked.
    case unexpectedSender(expected: String, found: String)
    /// An answer whose request ID does not match the request.
    case requestIDMismatch
    case invalidNodeName(String)

    public var description: String {
        switch self {
        case .malformed(let e): "malformed envelope: \(e)"
        case .unknownSigner(let s): "unknown signer '\(s)'"
        case .badSignature(let s): "bad signature from '\(s)'"
        case .stale(let t, let now, let w): "stale timestamp \(t) (now \(now), window ±\(w) ms): replayed or clock skew"
        case .unexpectedSender(let e, let f): "answer signed by '\(f)', expected '\(e)'"
        case .requestIDMismatch: "answer request ID does not match the request"
        case .invalidNodeName(let n): "invalid node name '\(n)'"
        }
    }
}

/// The public keys of trusted peers, by node name, and the freshness window.
///
/// Why a window and not only a nonce list: a replayed envelope older than the window is
/// refused outright; one inside the window carries a request ID the receiver's
/// `RequestDeduplicator` still remembers (its lifetime must be at least twice the window),
/// so the replay gets the first answer again and never repeats the work.
public struct Keyring: Sendable {
    /// Raw 32-byte Ed25519 public keys by node name.
    public private(set) var keys: [String: [UInt8]] = [:]
    /// Largest accepted |sender timestamp − receiver clock|.
    public var windowMilliseconds: Int64

    public init(windowMilliseconds: Int64 = 30_000) { self.windowMilliseconds = windowMilliseconds }

    public mutating func trust(_ name: String, key: Curve25519.Signing.PublicKey) throws(EnvelopeError) {
        guard NodeName.isValid(name) else { throw .invalidNodeName(name) }
        keys[name] = Array(key.rawRepresentation)
    }

    public mutating func revoke(_ name: String) { keys[name] = nil }

    /// Decodes and authenticates an envelope: structure, known signer, signature, freshness.
    /// The signature is checked before the timestamp is trusted for anything.
    public func open(_ bytes: [UInt8], now: Int64 = WireClock.nowMilliseconds()) throws(EnvelopeError) -> Envelope {
        let envelope: Envelope
        do { envelope = try Envelope.decode(bytes) } catch { throw .malformed(error) }
        guard let raw = keys[envelope.sender],
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw .unknownSigner(envelope.sender)
        }
        let signed = bytes[..<(bytes.count - Envelope.signatureSize)]
        guard key.isValidSignature(envelope.signature, for: signed) else {
            throw .badSignature(sender: envelope.sender)
        }
        let skew = envelope.timestamp.subtractingReportingOverflow(now)
        guard !skew.overflow, skew.partialValue.magnitude <= windowMilliseconds.magnitude else {
            throw .stale(timestamp: envelope.timestamp, now: now, windowMilliseconds: windowMilliseconds)
        }
        return envelope
    }

    /// Opens an answer and checks that it comes from `expectedSender` and answers `requestID`.
    public func openAnswer(_ bytes: [UInt8], from expectedSender: String, to requestID: RequestID,
                           now: Int64 = WireClock.nowMilliseconds()) throws(EnvelopeError) -> Envelope {
        let envelope = try open(bytes, now: now)
        guard envelope.sender == expectedSender else {
            throw .unexpectedSender(expected: expectedSender, found: envelope.sender)
        }
        guard envelope.requestID == requestID else { throw .requestIDMismatch }
        return envelope
    }
}
