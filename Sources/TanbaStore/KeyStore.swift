import TanbaCore
import TanbaSQLite
import Crypto
import Foundation

/// Per-owner data keys, wrapped by the master key, in their own SQLite file next to the
/// data store (`<store>.keys`).
///
/// Why a separate file: crypto-shredding must hold against copies. Data backups and the
/// data store's replication log carry only ciphertext; the key that opens a person's
/// ciphertext exists only here. Destroying the row here (overwritten, deleted, page
/// zeroed by secure_delete, WAL truncated) makes every copy of that person's data —
/// including backups taken before the deletion — undecryptable. docs/security.md has
/// the whole argument, including how this file itself is protected and copied.
public final class KeyStore: @unchecked Sendable {
    static let migrations: [Migration] = [
        Migration(version: 1, name: "keys", sql: """
            CREATE TABLE master_keys (
                key_id      TEXT PRIMARY KEY,
                check_value BLOB NOT NULL,     -- HMAC(key, constant): detects a wrong key
                state       TEXT NOT NULL CHECK (state IN ('current', 'previous', 'retired')),
                added_at    TEXT NOT NULL
            );
            -- Store-wide secrets (the index key behind IIN look-up hashes), wrapped.
            CREATE TABLE store_secrets (
                name    TEXT PRIMARY KEY,
                key_id  TEXT NOT NULL REFERENCES master_keys(key_id),
                wrapped BLOB NOT NULL
            );
            CREATE TABLE data_keys (
                owner_id   BLOB PRIMARY KEY,   -- person_id or account_id
                key_id     TEXT NOT NULL REFERENCES master_keys(key_id),
                wrapped    BLOB NOT NULL,      -- AES key wrap (RFC 3394) of the 256-bit data key
                created_at TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX data_keys_by_master ON data_keys(key_id);
            -- Tombstones of shredded keys: no key material, only the fact and the date.
            -- Used to replay deletions onto restored copies (see docs/security.md).
            CREATE TABLE shredded (
                owner_id    BLOB PRIMARY KEY,
                shredded_at TEXT NOT NULL
            ) WITHOUT ROWID;
            """),
        Migration(version: 2, name: "key replication", sql: """
            -- Every key written and every tombstone gets the next value of a counter, so a
            -- standby can ask for "everything after version v" (KeyStore.delta). State, not
            -- a log: a shredded key leaves no copy of itself in any replication backlog.
            ALTER TABLE data_keys ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE shredded ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX data_keys_by_version ON data_keys(version);
            CREATE INDEX shredded_by_version ON shredded(version);
            CREATE TABLE key_clock (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
            INSERT INTO key_clock VALUES (1, 0);
            -- On a standby: the primary's version applied so far (-1: nothing yet).
            CREATE TABLE replica_position (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
            INSERT INTO replica_position VALUES (1, -1);
            """),
    ]

    let db: Database
    private let lock = NSLock()
    private var loaded: [String: MasterKey] = [:]
    public private(set) var currentKeyID: String
    /// Root of the keyed hashes (IIN look-up, subject references). Random, created with
    /// the store, wrapped like a data key; so rotation of the master key changes no hash.
    let indexKey: SymmetricKey

    /// Opens (or creates) the key store. `master` is the current key; `previous` keys are
    /// needed only while a rotation is unfinished.
    public init(path: String, master: MasterKey, previous: [MasterKey] = []) throws {
        let db = try Database(path: path)
        self.db = db
        try Migrator.migrate(db, KeyStore.migrations)
        let registered = try db.query("SELECT key_id, check_value, state FROM master_keys")
        var known: [String: (check: [UInt8], state: String)] = [:]
        for row in registered { known[row[0].string!] = (row[1].bytes ?? [], row[2].string!) }

        if known.isEmpty {
            let index = SymmetricKey(size: .bits256)
            let wrapped = Array(try AES.KeyWrap.wrap(index, using: master.key))
            _ = try db.transaction {
                try db.run("INSERT INTO master_keys VALUES (?, ?, 'current', ?)",
                           [.text(master.id), .blob(master.checkValue), .text(AstanaTime.now())])
                try db.run("INSERT INTO store_secrets VALUES ('index', ?, ?)", [.text(master.id), .blob(wrapped)])
            }
            known[master.id] = (master.checkValue, "current")
        }
        var loadedKeys: [String: MasterKey] = [:]
        for key in [master] + previous {
            guard let entry = known[key.id] else {
                throw KeyError.unknownMasterKey(id: key.id, known: known.keys.sorted())
            }
            guard entry.check == key.checkValue else { throw KeyError.wrongMasterKey(id: key.id) }
            loadedKeys[key.id] = key
        }
        guard known[master.id]?.state == "current" else {
            let current = known.first { $0.value.state == "current" }?.key ?? "?"
            throw KeyError.malformed("key '\(master.id)' is not the current master key (current: '\(current)')")
        }
        currentKeyID = master.id
        let secret = try db.query("SELECT key_id, wrapped FROM store_secrets WHERE name = 'index'")
        guard let row = secret.first else { throw KeyError.malformed("the key store has no index key") }
        indexKey = try KeyStore.unwrap(row[1].bytes ?? [], keyID: row[0].string!, loaded: loadedKeys)
        loaded = loadedKeys
    }

    private static func unwrap(_ wrapped: [UInt8], keyID: String, loaded: [String: MasterKey]) throws -> SymmetricKey {
        guard let master = loaded[keyID] else { throw KeyError.masterKeyNotLoaded(id: keyID) }
        do { return try AES.KeyWrap.unwrap(wrapped, using: master.key) } catch {
            throw KeyError.integrity("cannot unwrap a key wrapped by '\(keyID)'")
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Data keys

    /// Creates and stores a fresh data key for `owner`.
    func createDataKey(owner: [UInt8]) throws -> SymmetricKey {
        try locked {
            let key = SymmetricKey(size: .bits256)
            let wrapped = Array(try AES.KeyWrap.wrap(key, using: loaded[currentKeyID]!.key))
            _ = try db.transaction {
                try db.run("INSERT INTO data_keys (owner_id, key_id, wrapped, created_at, version) VALUES (?, ?, ?, ?, ?)",
                           [.blob(owner), .text(currentKeyID), .blob(wrapped), .text(AstanaTime.now()), .integer(try nextVersion())])
            }
            return key
        }
    }

    /// Fresh data keys for many owners in one transaction (bulk loading).
    func createDataKeys(owners: [[UInt8]]) throws -> [SymmetricKey] {
        try locked {
            var keys: [SymmetricKey] = []
            _ = try db.transaction {
                for owner in owners {
                    let key = SymmetricKey(size: .bits256)
                    let wrapped = Array(try AES.KeyWrap.wrap(key, using: loaded[currentKeyID]!.key))
                    try db.run("INSERT INTO data_keys (owner_id, key_id, wrapped, created_at, version) VALUES (?, ?, ?, ?, ?)",
                               [.blob(owner), .text(currentKeyID), .blob(wrapped), .text(AstanaTime.now()), .integer(try nextVersion())])
                    keys.append(key)
                }
            }
            return keys
        }
    }

    /// The owner's data key; `dataKeyDestroyed` once shredded.
    func dataKey(owner: [UInt8]) throws -> SymmetricKey {
        try locked {
            guard let row = try db.query("SELECT key_id, wrapped FROM data_keys WHERE owner_id = ?", [.blob(owner)]).first else {
                throw KeyError.dataKeyDestroyed
            }
            return try KeyStore.unwrap(row[1].bytes ?? [], keyID: row[0].string!, loaded: loaded)
        }
    }

    func hasDataKey(owner: [UInt8]) throws -> Bool {
        try locked { try !db.query("SELECT 1 FROM data_keys WHERE owner_id = ?", [.blob(owner)]).isEmpty }
    }

    func isShredded(owner: [UInt8]) throws -> Bool {
        try locked {
            try !db.query("SELECT 1 FROM shredded WHERE owner_id = ?", [.blob(owner)]).isEmpty
        }
    }

    /// Crypto-shredding: the wrapped key is overwritten in place, then deleted (its page
    /// is zeroed by secure_delete), a tombstone is written, and the WAL is checkpointed
    /// and truncated so no older page image holding the key survives on disk.
    func shred(owner: [UInt8]) throws {
        try locked {
            _ = try db.transaction {
                try db.run("UPDATE data_keys SET wrapped = zeroblob(length(wrapped)) WHERE owner_id = ?", [.blob(owner)])
                try db.run("DELETE FROM data_keys WHERE owner_id = ?", [.blob(owner)])
                try db.run("INSERT OR IGNORE INTO shredded (owner_id, shredded_at, version) VALUES (?, ?, ?)",
                           [.blob(owner), .text(AstanaTime.now()), .integer(try nextVersion())])
            }
            try db.checkpointTruncate()
        }
    }

    /// The next value of the replication counter (inside the caller's transaction).
    private func nextVersion() throws -> Int64 {
        try db.run("UPDATE key_clock SET version = version + 1 WHERE id = 1")
        return try db.query("SELECT version FROM key_clock WHERE id = 1")[0][0].int64!
    }

    // MARK: Replication

    /// Everything a standby at `version` lacks: master-key records and wrapped secrets
    /// (few, always sent whole), then wrapped data keys and tombstones with a version
    /// above `version`, about `limit` at a time. Only wrapped keys travel.
    public func delta(after version: Int64, limit: Int = 10_000) throws -> KeyStoreDelta {
        try locked {
            let versions = try db.query("""
                SELECT version FROM (SELECT version FROM data_keys WHERE version > ?1
                                     UNION ALL SELECT version FROM shredded WHERE version > ?1)
                ORDER BY version LIMIT ?2
                """, [.integer(version), .integer(Int64(limit))])
            let to = versions.last?[0].int64 ?? version
            return KeyStoreDelta(
                from: version, to: to,
                masterKeys: try db.query("SELECT key_id, check_value, state, added_at FROM master_keys").map {
                    .init(id: $0[0].string!, checkValue: $0[1].bytes ?? [], state: $0[2].string!, addedAt: $0[3].string!)
                },
                secrets: try db.query("SELECT name, key_id, wrapped FROM store_secrets").map {
                    .init(owner: Array($0[0].string!.utf8), keyID: $0[1].string!, wrapped: $0[2].bytes ?? [], version: 0)
                },
                keys: try db.query("SELECT owner_id, key_id, wrapped, version FROM data_keys WHERE version > ? AND version <= ?",
                                   [.integer(version), .integer(to)]).map {
                    .init(owner: $0[0].bytes ?? [], keyID: $0[1].string!, wrapped: $0[2].bytes ?? [], version: $0[3].int64!)
                },
                shredded: try db.query("SELECT owner_id FROM shredded WHERE version > ? AND version <= ?",
                                       [.integer(version), .integer(to)]).compactMap { $0[0].bytes })
        }
    }

    /// Owners whose keys were shredded (for reconciling restored copies).
    public func shreddedOwners() throws -> Set<[UInt8]> {
        try locked { Set(try db.query("SELECT owner_id FROM shredded").compactMap { $0[0].bytes }) }
    }

    // MARK: Keyed hashes

    /// Derived with HKDF so the look-up key and the subject-reference key are unrelated:
    /// a reference printed in an audit report cannot be matched against the look-up index.
    func derivedKey(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: indexKey, salt: Array("tanba".utf8),
                               info: Array("tanba/\(purpose)/v1".utf8), outputByteCount: 32)
    }

    // MARK: Rotation

    /// Registers `newKey` as the current master key; the old one stays usable until
    /// `rotateBatch` has re-wrapped everything. New data keys are wrapped by `newKey`
    /// from now on. Returns the number of keys still to re-wrap.
    @discardableResult
    public func beginRotation(to newKey: MasterKey) throws -> Int {
        try locked {
            if let row = try db.query("SELECT check_value FROM master_keys WHERE key_id = ?", [.text(newKey.id)]).first {
                guard row[0].bytes == newKey.checkValue else { throw KeyError.wrongMasterKey(id: newKey.id) }
            }
            _ = try db.transaction {
                try db.run("UPDATE master_keys SET state = 'previous' WHERE state = 'current'")
                try db.run("""
                    INSERT INTO master_keys VALUES (?, ?, 'current', ?)
                    ON CONFLICT(key_id) DO UPDATE SET state = 'current'
                    """, [.text(newKey.id), .blob(newKey.checkValue), .text(AstanaTime.now())])
            }
            loaded[newKey.id] = newKey
            currentKeyID = newKey.id
            return try remainingToRewrap()
        }
    }

    private func remainingToRewrap() throws -> Int {
        let keys = try db.query("SELECT COUNT(*) FROM data_keys WHERE key_id != ?", [.text(currentKeyID)])[0][0].int ?? 0
        let secrets = try db.query("SELECT COUNT(*) FROM store_secrets WHERE key_id != ?", [.text(currentKeyID)])[0][0].int ?? 0
        return keys + secrets
    }

    /// Re-wraps up to `limit` keys in one short transaction, so writers are held up for
    /// one batch at most and the store keeps serving between batches. When nothing is
    /// left, older master keys are marked retired. Returns the number still to do.
    @discardableResult
    public func rotateBatch(limit: Int = 500) throws -> Int {
        try locked {
            let current = loaded[currentKeyID]!
            _ = try db.transaction {
                for row in try db.query("SELECT name, key_id, wrapped FROM store_secrets WHERE key_id != ?", [.text(current.id)]) {
                    let key = try KeyStore.unwrap(row[2].bytes ?? [], keyID: row[1].string!, loaded: loaded)
                    try db.run("UPDATE store_secrets SET key_id = ?, wrapped = ? WHERE name = ?",
                               [.text(current.id), .blob(Array(try AES.KeyWrap.wrap(key, using: current.key))), row[0]])
                }
                let rows = try db.query("SELECT owner_id, key_id, wrapped FROM data_keys WHERE key_id != ? LIMIT ?",
                                        [.text(current.id), .integer(Int64(limit))])
                for row in rows {
                    let key = try KeyStore.unwrap(row[2].bytes ?? [], keyID: row[1].string!, loaded: loaded)
                    try db.run("UPDATE data_keys SET key_id = ?, wrapped = ?, version = ? WHERE owner_id = ?",
                               [.text(current.id), .blob(Array(try AES.KeyWrap.wrap(key, using: current.key))),
                                .integer(try nextVersion()), row[0]])
                }
            }
            let remaining = try remainingToRewrap()
            if remaining == 0 {
                try db.run("UPDATE master_keys SET state = 'retired' WHERE state = 'previous'")
            }
            return remaining
        }
    }

    /// Master key IDs and their states, for operators.
    public func masterKeys() throws -> [(id: String, state: String)] {
        try locked {
            try db.query("SELECT key_id, state FROM master_keys ORDER BY added_at").map { ($0[0].string!, $0[1].string!) }
        }
    }
}

/// What a key-store standby needs to catch up (see `KeyStore.delta`).
public struct KeyStoreDelta: Sendable, Equatable, Codable {
    public struct MasterKeyRecord: Sendable, Equatable, Codable {
        public let id: String
        public let checkValue: [UInt8]
        public let state: String
        public let addedAt: String
        public init(id: String, checkValue: [UInt8], state: String, addedAt: String) {
            self.id = id; self.checkValue = checkValue; self.state = state; self.addedAt = addedAt
        }
    }
    public struct WrappedKey: Sendable, Equatable, Codable {
        public let owner: [UInt8]
        public let keyID: String
        public let wrapped: [UInt8]
        public let version: Int64
        public init(owner: [UInt8], keyID: String, wrapped: [UInt8], version: Int64) {
            self.owner = owner; self.keyID = keyID; self.wrapped = wrapped; self.version = version
        }
    }
    public let from: Int64
    public let to: Int64
    public let masterKeys: [MasterKeyRecord]
    /// Store secrets by name (UTF-8 in `owner`).
    public let secrets: [WrappedKey]
    public let keys: [WrappedKey]
    public let shredded: [[UInt8]]
    public init(from: Int64, to: Int64, masterKeys: [MasterKeyRecord], secrets: [WrappedKey], keys: [WrappedKey],
                shredded: [[UInt8]]) {
        self.from = from; self.to = to; self.masterKeys = masterKeys; self.secrets = secrets; self.keys = keys
        self.shredded = shredded
    }
}

/// The standby's copy of the key store. It applies deltas without ever unwrapping a key
/// (it needs no master key until it is promoted and opened as a `KeyStore`), and it
/// shreds exactly as the primary does: overwrite, delete, tombstone, truncate the WAL.
public final class KeyStoreReplica: @unchecked Sendable {
    let db: Database
    private let lock = NSLock()

    public init(path: String) throws {
        db = try Database(path: path)
        try Migrator.migrate(db, KeyStore.migrations)
    }

    /// The primary's key version applied so far (-1 before the first delta).
    public var version: Int64 {
        get throws { try lock.withLock { try db.query("SELECT version FROM replica_position WHERE id = 1")[0][0].int64! } }
    }

    /// Applies `delta`; returns the new version. A delta that starts after the replica's
    /// version would skip changes and is refused with `gap`.
    @discardableResult
    public func apply(_ delta: KeyStoreDelta) throws -> Int64 {
        try lock.withLock {
            let current = try db.query("SELECT version FROM replica_position WHERE id = 1")[0][0].int64!
            guard delta.from <= current else { throw ReplicationError.gap(expected: current, received: delta.from) }
            _ = try db.transaction {
                for m in delta.masterKeys {
                    try db.run("""
                        INSERT INTO master_keys VALUES (?, ?, ?, ?)
                        ON CONFLICT(key_id) DO UPDATE SET state = excluded.state
                        """, [.text(m.id), .blob(m.checkValue), .text(m.state), .text(m.addedAt)])
                }
                for s in delta.secrets {
                    try db.run("INSERT OR REPLACE INTO store_secrets VALUES (?, ?, ?)",
                               [.text(String(decoding: s.owner, as: UTF8.self)), .text(s.keyID), .blob(s.wrapped)])
                }
                for k in delta.keys {
                    try db.run("""
                        INSERT INTO data_keys (owner_id, key_id, wrapped, created_at, version) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(owner_id) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped,
                                                            version = excluded.version
                        """, [.blob(k.owner), .text(k.keyID), .blob(k.wrapped), .text(AstanaTime.now()), .integer(k.version)])
                }
                for owner in delta.shredded {
                    try db.run("UPDATE data_keys SET wrapped = zeroblob(length(wrapped)) WHERE owner_id = ?", [.blob(owner)])
                    try db.run("DELETE FROM data_keys WHERE owner_id = ?", [.blob(owner)])
                    try db.run("INSERT OR IGNORE INTO shredded (owner_id, shredded_at, version) VALUES (?, ?, ?)",
                               [.blob(owner), .text(AstanaTime.now()), .integer(delta.to)])
                }
                try db.run("UPDATE replica_position SET version = ? WHERE id = 1", [.integer(max(current, delta.to))])
            }
            if !delta.shredded.isEmpty { try db.checkpointTruncate() }
            return max(current, delta.to)
        }
    }
}

/// AES-256-GCM sealing of one value under an owner's data key.
///
/// The associated data names the column and the owner, so a sealed value copied into
/// another row or column fails authentication instead of being read as someone else's.
/// Output: 12-byte nonce ‖ ciphertext ‖ 16-byte tag (random nonce per value).
enum Sealer {
    static func seal(_ plaintext: [UInt8], key: SymmetricKey, column: String, owner: [UInt8]) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: context(column, owner))
        return Array(box.combined!)
    }

    static func open(_ sealed: [UInt8], key: SymmetricKey, column: String, owner: [UInt8]) throws -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: context(column, owner)))
        } catch {
            throw KeyError.integrity("\(column) of this record does not authenticate")
        }
    }

    static func seal<T: Encodable>(json value: T, key: SymmetricKey, column: String, owner: [UInt8]) throws -> [UInt8] {
        try seal(Array(try JSONEncoder().encode(value)), key: key, column: column, owner: owner)
    }

    static func open<T: Decodable>(json type: T.Type, _ sealed: [UInt8], key: SymmetricKey, column: String, owner: [UInt8]) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try open(sealed, key: key, column: column, owner: owner)))
    }

    private static func context(_ column: String, _ owner: [UInt8]) -> [UInt8] {
        Array("tanba/v1|\(column)|".utf8) + owner
    }
}
