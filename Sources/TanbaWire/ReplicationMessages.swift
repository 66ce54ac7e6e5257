/// Messages between a store primary and its standbys and copies (issue 4): changeset
/// entries, key-store deltas, acknowledgements, replica status and promotion. They travel
/// in the same signed envelopes over the same mutual-TLS nng sockets as everything else;
/// TanbaWire knows only their layout, TanbaReplication gives them meaning.
///
/// Layouts (little-endian, as the rest of the protocol; docs/protocol.md):
///
/// ```
/// REPLICATE (0x10)          u16 n; n × { i64 seq; 32 bytes hash; u32 len; len bytes changeset }
/// REPLICATE_ANSWER (0x90)   u8 outcome (1 applied, 2 gap, 3 diverged); i64 seq; 32 bytes hash; u16 len; reason
/// REPLICATE_KEYS (0x11)     i64 from; i64 to; u16 m × master key; u16 s × secret; u32 k × key; u32 t × tombstone
/// REPLICATE_KEYS_ANSWER     u8 outcome; i64 version; u16 len; reason
/// REPLICA_STATUS (0x12)     empty
/// REPLICA_STATUS_ANSWER     u8 role (1 primary, 2 standby); bool serving; i64 seq; 32 bytes hash; i64 key version;
///                           u64 persons; u16 len; diverged reason (empty: none); u16 len; detail
/// PROMOTE (0x13)            empty
/// PROMOTE_ANSWER (0x93)     i64 seq; 32 bytes hash
/// ```
public enum ReplicationMessage: Equatable, Sendable {
    case replicate([ReplicatedEntry])
    case replicateAnswer(ReplicationAckMessage)
    case replicateKeys(KeyDeltaMessage)
    case replicateKeysAnswer(ReplicationAckMessage)
    case replicaStatus
    case replicaStatusAnswer(ReplicaStatusMessage)
    case promote
    case promoteAnswer(seq: Int64, hash: [UInt8])

    public static let maximumEntries = 4096
    public static let hashSize = 32

    public var type: MessageType {
        switch self {
        case .replicate: .replicate
        case .replicateAnswer: .replicateAnswer
        case .replicateKeys: .replicateKeys
        case .replicateKeysAnswer: .replicateKeysAnswer
        case .replicaStatus: .replicaStatus
        case .replicaStatusAnswer: .replicaStatusAnswer
        case .promote: .promote
        case .promoteAnswer: .promoteAnswer
        }
    }

    /// Bytes a REPLICATE message spends on one entry besides its changeset.
    public static let entryOverhead = 8 + 32 + 4

    func encode(into w: inout WireWriter) {
        switch self {
        case .replicate(let entries):
            let kept = entries.prefix(Self.maximumEntries)
            w.u16(UInt16(kept.count))
            for e in kept { w.i64(e.seq); w.hash(e.hash); w.blob(e.changeset) }
        case .replicateAnswer(let a), .replicateKeysAnswer(let a):
            w.u8(a.outcome.rawValue); w.i64(a.seq)
            if case .replicateAnswer = self { w.hash(a.hash) }
            w.text(a.reason)
        case .replicateKeys(let d):
            w.i64(d.from); w.i64(d.to)
            w.u16(UInt16(clamping: d.masterKeys.count))
            for m in d.masterKeys.prefix(Int(UInt16.max)) {
                w.shortString(m.id); w.shortBlob(m.checkValue); w.shortString(m.state); w.shortString(m.addedAt)
            }
            w.u16(UInt16(clamping: d.secrets.count))
            for s in d.secrets.prefix(Int(UInt16.max)) { w.shortString(s.name); w.shortString(s.keyID); w.shortBlob(s.wrapped) }
            w.u32(UInt32(d.keys.count))
            for k in d.keys { w.shortBlob(k.owner); w.shortString(k.keyID); w.shortBlob(k.wrapped); w.i64(k.version) }
            w.u32(UInt32(d.shredded.count))
            for o in d.shredded { w.shortBlob(o) }
        case .replicaStatus, .promote:
            break
        case .replicaStatusAnswer(let s):
            w.u8(s.role.rawValue); w.bool(s.serving); w.i64(s.seq); w.hash(s.hash); w.i64(s.keyVersion)
            w.u64(s.persons); w.text(s.divergedReason ?? ""); w.text(s.detail)
        case .promoteAnswer(let seq, let hash):
            w.i64(seq); w.hash(hash)
        }
    }

    static func decode(type: MessageType, reader r: inout WireReader) throws(DecodeError) -> ReplicationMessage {
        switch type {
        case .replicate:
            let n = try r.count16("entry count", limit: maximumEntries, minItemSize: entryOverhead)
            var entries: [ReplicatedEntry] = []
            entries.reserveCapacity(n)
            var previous: Int64? = nil
            for _ in 0..<n {
                let seq = try r.i64("seq")
                guard seq > 0 else { throw .invalidValue(field: "seq", reason: "must be positive") }
                if let previous, seq != previous + 1 {
                    throw .invalidValue(field: "seq", reason: "entries of one message must be consecutive")
                }
                previous = seq
                entries.append(ReplicatedEntry(seq: seq, hash: try r.hash("hash"),
                                               changeset: try r.blob("changeset", limit: WireLimits.maximumPayload)))
            }
            return .replicate(entries)
        case .replicateAnswer, .replicateKeysAnswer:
            let code = try r.u8("outcome")
            guard let outcome = ReplicationAckMessage.Outcome(rawValue: code) else {
                throw .invalidValue(field: "outcome", reason: "unknown code \(code)")
            }
            let seq = try r.i64("position")
            let hash: [UInt8] = try (type == .replicateAnswer ? r.hash("hash") : [])
            let ack = ReplicationAckMessage(outcome: outcome, seq: seq, hash: hash, reason: try r.text("reason"))
            return type == .replicateAnswer ? .replicateAnswer(ack) : .replicateKeysAnswer(ack)
        case .replicateKeys:
            let from = try r.i64("from"), to = try r.i64("to")
            guard to >= from else { throw .invalidValue(field: "to", reason: "below from") }
            let m = try r.count16("master key count", limit: 1024, minItemSize: 4)
            var masters: [KeyDeltaMessage.MasterKey] = []
            for _ in 0..<m {
                masters.append(.init(id: try r.shortString("key ID"), checkValue: try r.shortBlob("check value"),
                                     state: try r.shortString("state"), addedAt: try r.shortString("added at")))
            }
            let s = try r.count16("secret count", limit: 1024, minItemSize: 3)
            var secrets: [KeyDeltaMessage.Secret] = []
            for _ in 0..<s {
                secrets.append(.init(name: try r.shortString("secret name"), keyID: try r.shortString("key ID"),
                                     wrapped: try r.shortBlob("wrapped secret")))
            }
            let k = try r.count32("key count", minItemSize: 11)
            var keys: [KeyDeltaMessage.DataKey] = []
            keys.reserveCapacity(k)
            for _ in 0..<k {
                keys.append(.init(owner: try r.shortBlob("owner"), keyID: try r.shortString("key ID"),
                                  wrapped: try r.shortBlob("wrapped key"), version: try r.i64("version")))
            }
            let t = try r.count32("tombstone count", minItemSize: 1)
            var shredded: [[UInt8]] = []
            shredded.reserveCapacity(t)
            for _ in 0..<t { shredded.append(try r.shortBlob("shredded owner")) }
            return .replicateKeys(KeyDeltaMessage(from: from, to: to, masterKeys: masters, secrets: secrets, keys: keys,
                                                  shredded: shredded))
        case .replicaStatus: return .replicaStatus
        case .promote: return .promote
        case .replicaStatusAnswer:
            let code = try r.u8("role")
            guard let role = ReplicaStatusMessage.Role(rawValue: code) else {
                throw .invalidValue(field: "role", reason: "unknown code \(code)")
            }
            let serving = try r.bool("serving")
            let seq = try r.i64("seq"), hash = try r.hash("hash"), keyVersion = try r.i64("key version")
            let persons = try r.u64("persons")
            let reason = try r.text("diverged reason"), detail = try r.text("detail")
            return .replicaStatusAnswer(ReplicaStatusMessage(role: role, serving: serving, seq: seq, hash: hash,
                                                             keyVersion: keyVersion, persons: persons,
                                                             divergedReason: reason.isEmpty ? nil : reason, detail: detail))
        case .promoteAnswer:
            return .promoteAnswer(seq: try r.i64("seq"), hash: try r.hash("hash"))
        default:
            throw .invalidValue(field: "type", reason: "\(type) is not a replication message")
        }
    }
}

/// One changeset entry of the primary's replication log (TanbaStore's `ChangesetEntry`).
public struct ReplicatedEntry: Equatable, Sendable {
    public var seq: Int64
    public var hash: [UInt8]
    public var changeset: [UInt8]
    public init(seq: Int64, hash: [UInt8], changeset: [UInt8]) {
        self.seq = seq
        self.hash = hash
        self.changeset = changeset
    }
}

/// A standby's answer: its durable position after the message, and why it refused.
public struct ReplicationAckMessage: Equatable, Sendable {
    public enum Outcome: UInt8, Sendable {
        /// Applied (or already held): `seq`/`hash` is the standby's durable position.
        case applied = 1
        /// Out of order: `seq`/`hash` is the standby's position; resend from `seq + 1`.
        case gap = 2
        /// Latched divergence: the standby refuses everything; `reason` says why.
        case diverged = 3
    }
    public var outcome: Outcome
    public var seq: Int64
    /// 32 bytes in REPLICATE_ANSWER; empty in REPLICATE_KEYS_ANSWER.
    public var hash: [UInt8]
    public var reason: String
    public init(outcome: Outcome, seq: Int64, hash: [UInt8], reason: String = "") {
        self.outcome = outcome
        self.seq = seq
        self.hash = hash
        self.reason = reason
    }
}

/// A key-store delta (TanbaStore's `KeyStoreDelta`): only wrapped keys travel.
public struct KeyDeltaMessage: Equatable, Sendable {
    public struct MasterKey: Equatable, Sendable {
        public var id: String, checkValue: [UInt8], state: String, addedAt: String
        public init(id: String, checkValue: [UInt8], state: String, addedAt: String) {
            self.id = id; self.checkValue = checkValue; self.state = state; self.addedAt = addedAt
        }
    }
    public struct Secret: Equatable, Sendable {
        public var name: String, keyID: String, wrapped: [UInt8]
        public init(name: String, keyID: String, wrapped: [UInt8]) { self.name = name; self.keyID = keyID; self.wrapped = wrapped }
    }
    public struct DataKey: Equatable, Sendable {
        public var owner: [UInt8], keyID: String, wrapped: [UInt8], version: Int64
        public init(owner: [UInt8], keyID: String, wrapped: [UInt8], version: Int64) {
            self.owner = owner; self.keyID = keyID; self.wrapped = wrapped; self.version = version
        }
    }
    public var from: Int64, to: Int64
    public var masterKeys: [MasterKey]
    public var secrets: [Secret]
    public var keys: [DataKey]
    public var shredded: [[UInt8]]
    public init(from: Int64, to: Int64, masterKeys: [MasterKey], secrets: [Secret], keys: [DataKey], shredded: [[UInt8]]) {
        self.from = from; self.to = to; self.masterKeys = masterKeys; self.secrets = secrets; self.keys = keys
        self.shredded = shredded
    }
}

/// What a store node says about its replication state. A diverged standby answers
/// `serving = false` with the reason it latched.
public struct ReplicaStatusMessage: Equatable, Sendable {
    public enum Role: UInt8, Sendable { case primary = 1, standby = 2 }
    public var role: Role
    public var serving: Bool
    public var seq: Int64
    public var hash: [UInt8]
    public var keyVersion: Int64
    public var persons: UInt64
    public var divergedReason: String?
    /// Free text for operators (standby lag, degraded mode, …), at most 1024 bytes.
    public var detail: String
    public init(role: Role, serving: Bool, seq: Int64, hash: [UInt8], keyVersion: Int64, persons: UInt64,
                divergedReason: String?, detail: String) {
        self.role = role; self.serving = serving; self.seq = seq; self.hash = hash; self.keyVersion = keyVersion
        self.persons = persons; self.divergedReason = divergedReason; self.detail = detail
    }
}

extension WireWriter {
    /// A 32-byte hash; anything else is padded or cut (callers pass SHA-256 digests).
    mutating func hash(_ h: [UInt8]) {
        let fixed = Array(h.prefix(ReplicationMessage.hashSize))
        raw(fixed + [UInt8](repeating: 0, count: ReplicationMessage.hashSize - fixed.count))
    }
    mutating func shortBlob(_ b: [UInt8]) { let kept = b.prefix(255); u8(UInt8(kept.count)); raw(kept) }
}

extension WireReader {
    mutating func hash(_ field: String) throws(DecodeError) -> [UInt8] { Array(try take(ReplicationMessage.hashSize, field)) }
    mutating func shortBlob(_ field: String) throws(DecodeError) -> [UInt8] {
        let n = Int(try u8("\(field) length"))
        return Array(try take(n, field))
    }
    mutating func count32(_ field: String, minItemSize: Int) throws(DecodeError) -> Int {
        let n = Int(try u32(field))
        guard n * minItemSize <= remaining else { throw .truncated(field: field, offset: offset) }
        return n
    }
}
