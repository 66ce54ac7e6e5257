import TanbaCore
import TanbaSQLite
import CSQLite
import Foundation

// Pieces of replication the network layer (TanbaReplication) builds on: batches, the
// position check a primary makes before shipping, promotion and demotion.

extension ChangesetEntry {
    public static var genesisHash: [UInt8] { genesis }
}

extension ReplicationLog {
    /// The hash the log holds for `seq` (genesis for 0), or nil when the entry is not in
    /// the log (pruned, or never written). A primary compares a standby's reported
    /// position with this before shipping: a standby whose (seq, hash) the log does not
    /// hold is not a prefix of this primary's history.
    public func hash(at seq: Int64) throws -> [UInt8]? {
        if seq == 0 { return ChangesetEntry.genesis }
        return try db.query("SELECT hash FROM replication_log WHERE seq = ?", [.integer(seq)]).first?[0].bytes
    }

    /// The smallest sequence number a standby may stand at and still catch up from this
    /// log (the entry before the oldest shippable one).
    public func oldestResumable() throws -> Int64 {
        let row = try db.query("SELECT MIN(seq) FROM replication_log")[0][0]
        guard let first = row.int64 else { return 0 }
        let anchor = try db.query("SELECT length(changeset) FROM replication_log WHERE seq = ?", [.integer(first)])[0][0].int ?? 0
        return anchor == 0 ? first : first - 1
    }
}

extension StandbyApplier {
    /// Applies consecutive entries in one transaction (one fsync for the whole batch);
    /// entries the standby already holds are skipped. If any entry diverges, the batch is
    /// rolled back and replayed entry by entry, so the good prefix is kept and the
    /// divergence is latched at the entry that caused it, exactly as with `apply(_:)`.
    @discardableResult
    public func apply(batch entries: [ChangesetEntry]) throws -> ReplicationAck {
        let fresh = try lock.withLock { () throws -> [ChangesetEntry] in
                let state = try db.query("SELECT last_seq, last_hash, diverged_reason FROM replica_state WHERE id = 1")[0]
                if let reason = state[2].string { throw ReplicationError.diverged(reason) }
                let lastSeq = state[0].int64!
                var lastHash = state[1].bytes ?? []
                let todo = entries.filter { $0.seq > lastSeq }
                guard let first = todo.first else { return [] }
                guard first.seq == lastSeq + 1 else { throw ReplicationError.gap(expected: lastSeq + 1, received: first.seq) }
                let conflicts = ConflictLog()
                do {
                    try db.transaction {
                        for entry in todo {
                            guard ChangesetEntry.chain(previous: lastHash, seq: entry.seq, changeset: entry.changeset) == entry.hash else {
                                throw ReplicationError.diverged("batch")
                            }
                            let rc = entry.changeset.withUnsafeBytes { raw -> Int32 in
                                sqlite3changeset_apply(db.handle, Int32(raw.count), UnsafeMutableRawPointer(mutating: raw.baseAddress),
                                                       nil, recordBatchConflict, Unmanaged.passUnretained(conflicts).toOpaque())
                            }
                            guard rc == SQLITE_OK, conflicts.kinds.isEmpty else { throw ReplicationError.diverged("batch") }
                            lastHash = entry.hash
                        }
                        try db.run("UPDATE replica_state SET last_seq = ?, last_hash = ? WHERE id = 1",
                                   [.integer(todo.last!.seq), .blob(todo.last!.hash)])
                    }
                    return []
                } catch ReplicationError.diverged {
                    return todo   // replay one by one below, outside the lock
                }
        }
        for entry in fresh { try apply(entry) }
        return try position
    }

    /// Persons in the standby's copy (read under the applier's lock).
    public var personCount: Int {
        get throws { try lock.withLock { try db.query("SELECT COUNT(*) FROM persons")[0][0].int ?? 0 } }
    }

    /// Turns this standby's database into a primary's, before it is opened as a `Store`:
    /// the replication log restarts with an anchor row at the standby's position (its
    /// hash, no changeset), so the new primary's first entry chains on from the last
    /// entry of the old primary and a standby that holds exactly that history can follow
    /// the new primary. Refused when the standby has diverged.
    @discardableResult
    public func prepareForPromotion() throws -> ReplicationAck {
        try lock.withLock {
            let state = try db.query("SELECT last_seq, last_hash, diverged_reason FROM replica_state WHERE id = 1")[0]
            if let reason = state[2].string { throw ReplicationError.diverged(reason) }
            let seq = state[0].int64!, hash = state[1].bytes ?? []
            try db.transaction {
                try db.run("DELETE FROM replication_log")
                if seq > 0 {
                    try db.run("INSERT INTO replication_log (seq, hash, changeset, created_at) VALUES (?, ?, X'', ?)",
                               [.integer(seq), .blob(hash), .text(AstanaTime.now())])
                }
            }
            return ReplicationAck(seq: seq, hash: hash)
        }
    }

    /// Prepares a former primary's files to rejoin as a standby: its position becomes the
    /// head of its own replication log, any latched divergence is cleared (the new primary
    /// decides again by comparing positions), and the key store will be re-sent whole
    /// (its version counter belonged to the old role). Run it with the store stopped.
    public static func demote(path: String, keyStorePath: String) throws {
        let db = try Database(path: path)
        try Migrator.migrate(db, StoreSchema.migrations)
        let head = try ReplicationLog(db: db).head()
        _ = try db.transaction {
            try db.run("""
                INSERT INTO replica_state (id, last_seq, last_hash, diverged_reason) VALUES (1, ?, ?, NULL)
                ON CONFLICT(id) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash, diverged_reason = NULL
                """, [.integer(head.seq), .blob(head.hash)])
        }
        let keys = try Database(path: keyStorePath)
        try Migrator.migrate(keys, KeyStore.migrations)
        try keys.run("UPDATE replica_position SET version = -1 WHERE id = 1")
    }
}

private func recordBatchConflict(_ context: UnsafeMutableRawPointer?, _ kind: Int32, _ iterator: OpaquePointer?) -> Int32 {
    let log = Unmanaged<ConflictLog>.fromOpaque(context!).takeUnretainedValue()
    log.kinds.append("kind \(kind)")
    return SQLITE_CHANGESET_ABORT
}

extension KeyStoreReplica {
    /// Before the replica is opened as the primary's `KeyStore`: the version counter moves
    /// past every version the replica holds, so keys written by the new primary get
    /// versions its own standbys have not seen.
    public func prepareForPromotion() throws {
        try db.run("""
            UPDATE key_clock SET version = MAX(version,
                (SELECT COALESCE(MAX(version), 0) FROM data_keys),
                (SELECT COALESCE(MAX(version), 0) FROM shredded),
                (SELECT version FROM replica_position WHERE id = 1)) WHERE id = 1
            """)
    }
}

extension KeyStore {
    /// The key store's replication counter (the version of its latest change).
    public var version: Int64 {
        get throws { try db.query("SELECT version FROM key_clock WHERE id = 1")[0][0].int64! }
    }
}
