import TanbaCore
import TanbaSQLite
import CSQLite
import Crypto
import Foundation

/// One committed write transaction of the primary, as a SQLite session changeset.
///
/// hash(n) = SHA-256("tanba-repl-v1" ‖ hash(n-1) ‖ seq ‖ changeset), 32 zero bytes before
/// the first. A standby that holds hash(n) has applied exactly entries 1…n of this
/// primary: a missing, altered or foreign entry cannot produce the same running hash.
public struct ChangesetEntry: Sendable, Equatable, Codable {
    public let seq: Int64
    public let hash: [UInt8]
    public let changeset: [UInt8]
    public init(seq: Int64, hash: [UInt8], changeset: [UInt8]) {
        self.seq = seq
        self.hash = hash
        self.changeset = changeset
    }

    static let genesis = [UInt8](repeating: 0, count: 32)

    static func chain(previous: [UInt8], seq: Int64, changeset: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: Array("tanba-repl-v1".utf8))
        h.update(data: previous)
        withUnsafeBytes(of: seq.bigEndian) { h.update(bufferPointer: $0) }
        h.update(data: changeset)
        return Array(h.finalize())
    }
}

public enum ReplicationError: Error, Equatable, CustomStringConvertible, Sendable {
    /// An entry arrived out of order; the standby waits for `expected`.
    case gap(expected: Int64, received: Int64)
    /// The standby no longer mirrors the primary; it refuses every further entry.
    case diverged(String)
    case session(String)
    case link(String)

    public var description: String {
        switch self {
        case .gap(let expected, let received):
            "replication gap: the standby expects entry \(expected) but received \(received)"
        case .diverged(let why): "the standby has diverged and refuses to apply or serve: \(why)"
        case .session(let m): "SQLite session error: \(m)"
        case .link(let m): "replication link: \(m)"
        }
    }
}

/// Records the changes of one write transaction on `db` (sqlite3session_*).
///
/// Tables are attached in the given order and the changeset lists them in that order,
/// so archive rows precede the live-log deletions they justify when a standby replays
/// an audit rotation.
final class ChangeCapture {
    private var session: OpaquePointer?

    init(db: Database, tables: [String]) throws {
        var s: OpaquePointer?
        guard sqlite3session_create(db.handle, "main", &s) == SQLITE_OK, let s else {
            throw ReplicationError.session("cannot create a session: \(db.errorMessage)")
        }
        session = s
        for table in tables where sqlite3session_attach(s, table) != SQLITE_OK {
            throw ReplicationError.session("cannot attach \(table): \(db.errorMessage)")
        }
    }

    deinit { if let session { sqlite3session_delete(session) } }

    func changeset() throws -> [UInt8] {
        var n: Int32 = 0
        var p: UnsafeMutableRawPointer?
        let rc = sqlite3session_changeset(session, &n, &p)
        defer { sqlite3_free(p) }
        guard rc == SQLITE_OK else { throw ReplicationError.session("sqlite3session_changeset failed (\(rc))") }
        guard let p, n > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: p, count: Int(n)))
    }
}

/// The primary's log of changesets, kept in `replication_log` of the same database and
/// written in the same transaction as the change, so the log and the data never disagree.
public struct ReplicationLog {
    let db: Database
    public init(db: Database) { self.db = db }

    /// Appends `changeset` (skipped when empty: a transaction that changed nothing).
    @discardableResult
    func record(_ changeset: [UInt8]) throws -> ChangesetEntry? {
        guard !changeset.isEmpty else { return nil }
        let head = try self.head()
        let seq = head.seq + 1
        let entry = ChangesetEntry(seq: seq, hash: ChangesetEntry.chain(previous: head.hash, seq: seq, changeset: changeset),
                                   changeset: changeset)
        try db.run("INSERT INTO replication_log (seq, hash, changeset, created_at) VALUES (?, ?, ?, ?)",
                   [.integer(seq), .blob(entry.hash), .blob(changeset), .text(AstanaTime.now())])
        return entry
    }

    /// The last entry's sequence number and hash (0 and zeros when empty).
    public func head() throws -> (seq: Int64, hash: [UInt8]) {
        guard let row = try db.query("SELECT seq, hash FROM replication_log ORDER BY seq DESC LIMIT 1").first else {
            return (0, ChangesetEntry.genesis)
        }
        return (row[0].int64!, row[1].bytes ?? [])
    }

    /// Removes entries up to `seq`. Call it only with the position every standby has
    /// acknowledged: a pruned entry cannot be sent again.
    @discardableResult
    public func prune(through seq: Int64) throws -> Int {
        // The head stays, so the next entry still chains from its hash.
        let head = try self.head().seq
        return try db.run("DELETE FROM replication_log WHERE seq <= ? AND seq < ?", [.integer(seq), .integer(head)])
    }

    /// Entries after `seq`, in order, at most `limit`.
    public func entries(after seq: Int64, limit: Int = 1000) throws -> [ChangesetEntry] {
        // Empty changesets are anchors (a promoted standby's starting point), never entries.
        try db.query("SELECT seq, hash, changeset FROM replication_log WHERE seq > ? AND length(changeset) > 0 ORDER BY seq LIMIT ?",
                     [.integer(seq), .integer(Int64(limit))]).map {
            ChangesetEntry(seq: $0[0].int64!, hash: $0[1].bytes ?? [], changeset: $0[2].bytes ?? [])
        }
    }
}

/// Carries changesets to a standby. `send` returns only once the standby has committed
/// the entry durably (that is what makes synchronous replication synchronous). The nng
/// mutual-TLS transport implements this; `InMemoryReplicationLink` serves tests.
public protocol ReplicationLink: Sendable {
    func send(_ entry: ChangesetEntry) async throws -> ReplicationAck
    /// Sends key-store changes; returns the standby key store's version once it has
    /// them durably. Key deltas go before the data changesets that need them.
    func sendKeys(_ delta: KeyStoreDelta) async throws -> Int64
}

/// The standby's durable position after applying an entry.
public struct ReplicationAck: Sendable, Equatable, Codable {
    public let seq: Int64
    public let hash: [UInt8]
    public init(seq: Int64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }
}

/// Applies changesets on a standby, strictly in order.
///
/// - A gap (an entry other than the next one) is refused and the standby keeps waiting
///   for the missing entry: nothing is lost, the sender resends from `position`.
/// - Divergence — the running hash does not match, or the changeset conflicts with the
///   standby's rows — is latched in `replica_state.diverged_reason` (it survives
///   restarts), and every later entry is refused with that reason until an operator
///   rebuilds the standby from a backup of the primary.
public final class StandbyApplier: @unchecked Sendable {
    public let db: Database
    let lock = NSLock()

    /// Opens (or creates) the standby database at `path`.
    public convenience init(path: String) throws {
        try self.init(db: Database(path: path))
    }

    public init(db: Database) throws {
        self.db = db
        try Migrator.migrate(db, StoreSchema.migrations)
        // The primary enforced foreign keys and ran the cascades; its changesets already
        // hold every cascaded row. Cascading again here would make those rows conflict.
        try db.execute("PRAGMA foreign_keys = OFF")
        try db.run("INSERT OR IGNORE INTO replica_state (id, last_seq, last_hash) VALUES (1, 0, ?)",
                   [.blob(ChangesetEntry.genesis)])
    }

    /// Sequence number and hash of the last applied entry.
    public var position: ReplicationAck {
        get throws {
            try lock.withLock {
                let row = try db.query("SELECT last_seq, last_hash FROM replica_state WHERE id = 1")[0]
                return ReplicationAck(seq: row[0].int64!, hash: row[1].bytes ?? [])
            }
        }
    }

    /// Why the standby stopped, or nil while it is in step with the primary.
    public var divergedReason: String? {
        get throws { try lock.withLock { try db.query("SELECT diverged_reason FROM replica_state WHERE id = 1")[0][0].string } }
    }

    @discardableResult
    public func apply(_ entry: ChangesetEntry) throws -> ReplicationAck {
        try lock.withLock {
            let state = try db.query("SELECT last_seq, last_hash, diverged_reason FROM replica_state WHERE id = 1")[0]
            if let reason = state[2].string { throw ReplicationError.diverged(reason) }
            let lastSeq = state[0].int64!, lastHash = state[1].bytes ?? []
            guard entry.seq == lastSeq + 1 else {
                if entry.seq <= lastSeq {
                    return ReplicationAck(seq: lastSeq, hash: lastHash)   // a resend of what we have: idempotent
                }
                throw ReplicationError.gap(expected: lastSeq + 1, received: entry.seq)
            }
            let expected = ChangesetEntry.chain(previous: lastHash, seq: entry.seq, changeset: entry.changeset)
            guard expected == entry.hash else {
                return try latch("entry \(entry.seq): running hash mismatch (expected \(hex(expected).prefix(16))…, got \(hex(entry.hash).prefix(16))…)")
            }
            let conflicts = ConflictLog()
            do {
                try db.transaction {
                    let rc = entry.changeset.withUnsafeBytes { raw -> Int32 in
                        sqlite3changeset_apply(db.handle, Int32(raw.count), UnsafeMutableRawPointer(mutating: raw.baseAddress),
                                               nil, recordConflict, Unmanaged.passUnretained(conflicts).toOpaque())
                    }
                    guard rc == SQLITE_OK, conflicts.kinds.isEmpty else {
                        throw ReplicationError.diverged(conflicts.kinds.isEmpty
                            ? "entry \(entry.seq): apply failed: \(db.errorMessage)"
                            : "entry \(entry.seq): conflict (\(conflicts.kinds.joined(separator: ", "))) on table \(conflicts.tables.joined(separator: ", "))")
                    }
                    try db.run("UPDATE replica_state SET last_seq = ?, last_hash = ? WHERE id = 1",
                               [.integer(entry.seq), .blob(entry.hash)])
                }
            } catch ReplicationError.diverged(let reason) {
                return try latch(reason)
            }
            return ReplicationAck(seq: entry.seq, hash: entry.hash)
        }
    }

    private func latch(_ reason: String) throws -> ReplicationAck {
        try db.run("UPDATE replica_state SET diverged_reason = ? WHERE id = 1", [.text(reason)])
        throw ReplicationError.diverged(reason)
    }
}

final class ConflictLog {
    var kinds: [String] = []
    var tables: [String] = []
}

/// C callback: record the conflict and abort the whole changeset (a standby never
/// resolves a conflict by guessing). Nonisolated, captures nothing.
private func recordConflict(_ context: UnsafeMutableRawPointer?, _ kind: Int32, _ iterator: OpaquePointer?) -> Int32 {
    let log = Unmanaged<ConflictLog>.fromOpaque(context!).takeUnretainedValue()
    let names: [Int32: String] = [SQLITE_CHANGESET_DATA: "data", SQLITE_CHANGESET_NOTFOUND: "row not found",
                                  SQLITE_CHANGESET_CONFLICT: "row exists", SQLITE_CHANGESET_CONSTRAINT: "constraint",
                                  SQLITE_CHANGESET_FOREIGN_KEY: "foreign key"]
    log.kinds.append(names[kind] ?? "kind \(kind)")
    var table: UnsafePointer<CChar>?
    var columns: Int32 = 0, op: Int32 = 0, indirect: Int32 = 0
    if kind != SQLITE_CHANGESET_FOREIGN_KEY, let iterator,
       sqlite3changeset_op(iterator, &table, &columns, &op, &indirect) == SQLITE_OK, let table {
        log.tables.append(String(cString: table))
    }
    return SQLITE_CHANGESET_ABORT
}

/// A link straight into a standby in the same process, for tests and for the
/// single-host development setup.
public final class InMemoryReplicationLink: ReplicationLink, @unchecked Sendable {
    public let standby: StandbyApplier
    public let standbyKeys: KeyStoreReplica?
    public init(standby: StandbyApplier, keys: KeyStoreReplica? = nil) {
        self.standby = standby
        self.standbyKeys = keys
    }

    public func send(_ entry: ChangesetEntry) async throws -> ReplicationAck {
        try standby.apply(entry)
    }

    public func sendKeys(_ delta: KeyStoreDelta) async throws -> Int64 {
        guard let standbyKeys else { throw ReplicationError.link("this standby has no key store") }
        return try standbyKeys.apply(delta)
    }
}

/// Ships the primary's log to a standby: everything after the standby's position, in
/// order, each entry acknowledged before the next is sent.
public enum Replicator {
    /// Sends entries after `position` and returns the last acknowledged position.
    public static func ship(from log: ReplicationLog, after position: Int64, over link: any ReplicationLink,
                            batch: Int = 256) async throws -> Int64 {
        var position = position
        while true {
            let entries = try log.entries(after: position, limit: batch)
            if entries.isEmpty { return position }
            for entry in entries {
                let ack = try await link.send(entry)
                guard ack.seq == entry.seq, ack.hash == entry.hash else {
                    throw ReplicationError.diverged("standby acknowledged \(ack.seq) with another hash than entry \(entry.seq)")
                }
                position = ack.seq
            }
        }
    }
}

/// Synchronous replication for one standby: `flush()` returns once the standby holds every
/// committed change, so a caller that acknowledges an enrollment or deletion only after
/// `flush()` never acknowledges something the standby could lose.
public actor SynchronousReplica {
    private let store: Store
    private let link: any ReplicationLink
    private let withKeys: Bool
    public private(set) var acknowledged: Int64
    public private(set) var keysAcknowledged: Int64

    /// `keyVersion` is the standby key store's version (`KeyStoreReplica.version`), or
    /// nil to replicate data only.
    public init(store: Store, link: any ReplicationLink, standbyPosition: Int64, keyVersion: Int64? = nil) {
        self.store = store
        self.link = link
        self.acknowledged = standbyPosition
        self.withKeys = keyVersion != nil
        self.keysAcknowledged = keyVersion ?? -1
    }

    /// Ships everything not yet acknowledged — keys first, so that no data reaches the
    /// standby before the key that opens it, and a shredding reaches it before the
    /// deletion of the rows. Returns the standby's data position. After a failure the
    /// next flush starts again from the last acknowledged positions: the standby
    /// acknowledges what it already holds without applying it twice.
    @discardableResult
    public func flush() async throws -> Int64 {
        if withKeys {
            while true {
                let delta = try store.keys.delta(after: keysAcknowledged)
                keysAcknowledged = try await link.sendKeys(delta)
                if delta.to == delta.from { break }
            }
        }
        acknowledged = try await Replicator.ship(from: store.replicationLog, after: acknowledged, over: link)
        return acknowledged
    }
}
