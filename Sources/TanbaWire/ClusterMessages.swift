import TanbaCore

/// Messages inside the cluster: coordinator → worker shard operations, and admin → coordinator
/// scaling requests. They ride in the same signed envelope as the station messages (new type
/// codes, no version bump: an older node answers them with ERROR 5). Layouts are in
/// docs/protocol.md ("Cluster-internal messages").
///
/// Shards are identified by u16 IDs; persons inside shards by a u64 subject number
/// (TanbaCluster uses the IIN's value, so a worker's answer maps back to an IIN without a
/// table).
public enum ClusterLimits {
    /// Persons in one SHARD_LOAD batch (a ten-print is a few KB, so a full batch stays far
    /// below the 1 MiB payload limit; the sender also cuts batches by size).
    public static let maximumLoadBatch = 512
    /// Hits in one SHARD_SEARCH answer.
    public static let maximumHits = 1000
    /// Admin answers carry a JSON document (cluster status).
    public static let maximumDocument = 256 << 10
}

/// One person in a SHARD_LOAD batch.
public struct ShardEntry: Equatable, Sendable {
    public var subject: UInt64
    public var record: FingerprintRecord
    public init(subject: UInt64, record: FingerprintRecord) { self.subject = subject; self.record = record }
}

/// One person found by a shard search, with the fused score and the per-finger scores.
public struct ShardHit: Equatable, Sendable {
    public var subject: UInt64
    public var fusedScore: Float
    public var fingerScores: [FingerScore]
    public init(subject: UInt64, fusedScore: Float, fingerScores: [FingerScore]) {
        self.subject = subject
        self.fusedScore = fusedScore
        self.fingerScores = fingerScores
    }
}

/// SHARD_LOAD: a batch of a shard's persons. `reset` clears the shard first (the first batch
/// of a full load); `complete` marks the shard loaded, after which the worker serves it.
public struct ShardLoad: Equatable, Sendable {
    public var mapVersion: UInt64
    public var shard: UInt16
    public var reset: Bool
    public var complete: Bool
    public var entries: [ShardEntry]
    public init(mapVersion: UInt64, shard: UInt16, reset: Bool, complete: Bool, entries: [ShardEntry]) {
        self.mapVersion = mapVersion
        self.shard = shard
        self.reset = reset
        self.complete = complete
        self.entries = entries
    }
}

/// SHARD_SEARCH: 1:N search of one or more shards a worker holds.
public struct ShardSearch: Equatable, Sendable {
    public var shards: [UInt16]
    public var probe: FingerprintRecord
    public var limit: Int
    /// Share of each finger gallery passed to the full comparator (0 = the worker's default).
    public var penetration: Double
    public init(shards: [UInt16], probe: FingerprintRecord, limit: Int, penetration: Double = 0) {
        self.shards = shards
        self.probe = probe
        self.limit = limit
        self.penetration = penetration
    }
}

public struct ShardSearchAnswer: Equatable, Sendable {
    public var hits: [ShardHit]
    /// Shards searched (contributed) and asked for but not served here (missing: not held,
    /// or still loading).
    public var coverage: ShardCoverage
    public init(hits: [ShardHit], coverage: ShardCoverage) { self.hits = hits; self.coverage = coverage }
}

/// SHARD_VERIFY: 1:1 of a probe against one subject of one shard.
public struct ShardVerify: Equatable, Sendable {
    public var shard: UInt16
    public var subject: UInt64
    public var probe: FingerprintRecord
    public init(shard: UInt16, subject: UInt64, probe: FingerprintRecord) {
        self.shard = shard
        self.subject = subject
        self.probe = probe
    }
}

public struct ShardVerifyAnswer: Equatable, Sendable {
    /// The shard is served here and the subject was found in it.
    public var found: Bool
    public var fusedScore: Float
    public var fingerScores: [FingerScore]
    public var coverage: ShardCoverage
    public init(found: Bool, fusedScore: Float, fingerScores: [FingerScore], coverage: ShardCoverage) {
        self.found = found
        self.fusedScore = fusedScore
        self.fingerScores = fingerScores
        self.coverage = coverage
    }
}

/// The acknowledgement of a shard change (load, upsert, remove, drop).
public struct ShardAck: Equatable, Sendable {
    public var shard: UInt16
    /// Persons in the shard after the change.
    public var persons: UInt64
    /// Whether the shard is complete (served) on this worker.
    public var serving: Bool
    /// Whether the operation changed anything (a removal of an absent subject did not).
    public var changed: Bool
    public init(shard: UInt16, persons: UInt64, serving: Bool, changed: Bool) {
        self.shard = shard
        self.persons = persons
        self.serving = serving
        self.changed = changed
    }
}

/// Admin → coordinator (`tanba cluster …`); accepted only from senders the coordinator
/// lists as administrators.
public struct AdminRequest: Equatable, Sendable {
    public enum Action: UInt8, Sendable, CaseIterable {
        case addWorker = 1, removeWorker = 2, drain = 3, status = 4, reconcile = 5
    }
    public var action: Action
    /// Worker node name (empty for status / reconcile).
    public var worker: String
    /// Worker address (add-worker only).
    public var address: String
    public init(action: Action, worker: String = "", address: String = "") {
        self.action = action
        self.worker = worker
        self.address = address
    }
}

public enum ClusterMessage: Equatable, Sendable {
    case shardLoad(ShardLoad)
    case shardSearch(ShardSearch)
    case shardVerify(ShardVerify)
    /// Adds or replaces one person (all fingers replaced).
    case shardUpsert(shard: UInt16, entry: ShardEntry)
    case shardRemove(shard: UInt16, subject: UInt64)
    /// Forgets a whole shard (after it moved elsewhere).
    case shardDrop(shard: UInt16)
    case admin(AdminRequest)

    case shardLoadAnswer(ShardAck)
    case shardSearchAnswer(ShardSearchAnswer)
    case shardVerifyAnswer(ShardVerifyAnswer)
    case shardUpsertAnswer(ShardAck)
    case shardRemoveAnswer(ShardAck)
    case shardDropAnswer(ShardAck)
    /// A JSON document (the cluster status after the action).
    case adminAnswer(document: String)

    public var type: MessageType {
        switch self {
        case .shardLoad: .shardLoad
        case .shardSearch: .shardSearch
        case .shardVerify: .shardVerify
        case .shardUpsert: .shardUpsert
        case .shardRemove: .shardRemove
        case .shardDrop: .shardDrop
        case .admin: .admin
        case .shardLoadAnswer: .shardLoadAnswer
        case .shardSearchAnswer: .shardSearchAnswer
        case .shardVerifyAnswer: .shardVerifyAnswer
        case .shardUpsertAnswer: .shardUpsertAnswer
        case .shardRemoveAnswer: .shardRemoveAnswer
        case .shardDropAnswer: .shardDropAnswer
        case .adminAnswer: .adminAnswer
        }
    }

    func encode(into w: inout WireWriter) {
        switch self {
        case .shardLoad(let m):
            w.u64(m.mapVersion); w.u16(m.shard); w.bool(m.reset); w.bool(m.complete)
            let entries = m.entries.prefix(ClusterLimits.maximumLoadBatch)
            w.u16(UInt16(entries.count))
            for e in entries { w.u64(e.subject); w.record(e.record) }
        case .shardSearch(let m):
            w.shards(m.shards); w.record(m.probe); w.u16(UInt16(clamping: m.limit)); w.f64(m.penetration)
        case .shardVerify(let m):
            w.u16(m.shard); w.u64(m.subject); w.record(m.probe)
        case .shardUpsert(let shard, let entry):
            w.u16(shard); w.u64(entry.subject); w.record(entry.record)
        case .shardRemove(let shard, let subject):
            w.u16(shard); w.u64(subject)
        case .shardDrop(let shard):
            w.u16(shard)
        case .admin(let m):
            w.u8(m.action.rawValue); w.text(m.worker); w.text(m.address)
        case .shardLoadAnswer(let a), .shardUpsertAnswer(let a), .shardRemoveAnswer(let a), .shardDropAnswer(let a):
            w.u16(a.shard); w.u64(a.persons); w.bool(a.serving); w.bool(a.changed)
        case .shardSearchAnswer(let m):
            let hits = m.hits.prefix(ClusterLimits.maximumHits)
            w.u16(UInt16(hits.count))
            for h in hits { w.u64(h.subject); w.f32(h.fusedScore); w.fingerScores(h.fingerScores) }
            w.coverage(m.coverage)
        case .shardVerifyAnswer(let m):
            w.bool(m.found); w.f32(m.fusedScore); w.fingerScores(m.fingerScores); w.coverage(m.coverage)
        case .adminAnswer(let document):
            var bytes = Array(document.utf8.prefix(ClusterLimits.maximumDocument))
            while String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
            w.blob(bytes)
        }
    }

    static func decode(type: MessageType, reader r: inout WireReader) throws(DecodeError) -> ClusterMessage? {
        switch type {
        case .shardLoad:
            let version = try r.u64("map version"), shard = try r.u16("shard")
            let reset = try r.bool("reset"), complete = try r.bool("complete")
            let n = try r.count16("entry count", limit: ClusterLimits.maximumLoadBatch, minItemSize: 12)
            var entries: [ShardEntry] = []
            for _ in 0..<n {
                entries.append(ShardEntry(subject: try r.u64("subject"), record: try r.record("record", views: 1...10)))
            }
            return .shardLoad(ShardLoad(mapVersion: version, shard: shard, reset: reset, complete: complete, entries: entries))
        case .shardSearch:
            let shards = try r.shards("shards")
            let probe = try r.record("probe", views: BodyLimits.fingersPerProbe)
            let limit = Int(try r.u16("limit"))
            guard BodyLimits.topK.contains(limit) else { throw .invalidValue(field: "limit", reason: "\(limit) not in 1…1000") }
            let penetration = try r.f64("penetration")
            guard penetration >= 0, penetration <= 1 else { throw .invalidValue(field: "penetration", reason: "must be in [0, 1]") }
            return .shardSearch(ShardSearch(shards: shards, probe: probe, limit: limit, penetration: penetration))
        case .shardVerify:
            return .shardVerify(ShardVerify(shard: try r.u16("shard"), subject: try r.u64("subject"),
                                            probe: try r.record("probe", views: BodyLimits.fingersPerProbe)))
        case .shardUpsert:
            let shard = try r.u16("shard")
            return .shardUpsert(shard: shard, entry: ShardEntry(subject: try r.u64("subject"), record: try r.record("record", views: 1...10)))
        case .shardRemove:
            return .shardRemove(shard: try r.u16("shard"), subject: try r.u64("subject"))
        case .shardDrop:
            return .shardDrop(shard: try r.u16("shard"))
        case .admin:
            let code = try r.u8("action")
            guard let action = AdminRequest.Action(rawValue: code) else { throw .invalidValue(field: "action", reason: "unknown code \(code)") }
            let worker = try r.text("worker")
            guard worker.isEmpty || NodeName.isValid(worker) else { throw .invalidValue(field: "worker", reason: "not a node name") }
            return .admin(AdminRequest(action: action, worker: worker, address: try r.text("address")))
        case .shardLoadAnswer, .shardUpsertAnswer, .shardRemoveAnswer, .shardDropAnswer:
            let ack = ShardAck(shard: try r.u16("shard"), persons: try r.u64("persons"), serving: try r.bool("serving"),
                               changed: try r.bool("changed"))
            switch type {
            case .shardLoadAnswer: return .shardLoadAnswer(ack)
            case .shardUpsertAnswer: return .shardUpsertAnswer(ack)
            case .shardRemoveAnswer: return .shardRemoveAnswer(ack)
            default: return .shardDropAnswer(ack)
            }
        case .shardSearchAnswer:
            let n = try r.count16("hit count", limit: ClusterLimits.maximumHits, minItemSize: 13)
            var hits: [ShardHit] = []
            for _ in 0..<n {
                hits.append(ShardHit(subject: try r.u64("subject"), fusedScore: try r.finiteF32("fused score"),
                                     fingerScores: try r.fingerScores()))
            }
            return .shardSearchAnswer(ShardSearchAnswer(hits: hits, coverage: try r.coverage()))
        case .shardVerifyAnswer:
            return .shardVerifyAnswer(ShardVerifyAnswer(found: try r.bool("found"), fusedScore: try r.finiteF32("fused score"),
                                                        fingerScores: try r.fingerScores(), coverage: try r.coverage()))
        case .adminAnswer:
            let bytes = try r.blob("document", limit: ClusterLimits.maximumDocument)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw .invalidValue(field: "document", reason: "not valid UTF-8")
            }
            return .adminAnswer(document: text)
        default:
            return nil
        }
    }
}
