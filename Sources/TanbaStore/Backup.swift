import TanbaCore
import TanbaSQLite
import CSQLite
import Foundation

public enum BackupError: Error, Equatable, CustomStringConvertible, Sendable {
    case damaged(path: String, detail: String)
    case destinationExists(String)

    public var description: String {
        switch self {
        case .damaged(let path, let detail): "\(path) is not a usable Tanba store backup: \(detail)"
        case .destinationExists(let path): "\(path) exists; refusing to overwrite it"
        }
    }
}

extension Database {
    /// Copies this database page by page with the online backup API into `destination`
    /// (a single self-contained file, rollback-journal mode). Writers on other
    /// connections are not blocked; if they change the source mid-copy, SQLite restarts
    /// the copy so the result is always one consistent snapshot.
    public func backup(to destination: String, pagesPerStep: Int32 = 256) throws {
        guard !FileManager.default.fileExists(atPath: destination) else { throw BackupError.destinationExists(destination) }
        var options = Database.Options()
        options.walMode = false
        let target = try Database(path: destination, options: options)
        try Database.copy(from: self, to: target, pagesPerStep: pagesPerStep)
        // The copied header says WAL like the source; switch the copy back so it stays
        // one self-contained file.
        _ = try target.query("PRAGMA journal_mode = DELETE")
    }

    static func copy(from source: Database, to target: Database, pagesPerStep: Int32) throws {
        guard let backup = sqlite3_backup_init(target.handle, "main", source.handle, "main") else {
            throw SQLiteError.from(code: sqlite3_extended_errcode(target.handle), message: target.errorMessage)
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, pagesPerStep)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { usleep(5_000) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finish == SQLITE_OK else {
            throw SQLiteError.from(code: rc == SQLITE_DONE ? finish : rc, message: target.errorMessage)
        }
    }

    /// Checks that `path` is an intact store backup this program can read: SQLite's
    /// integrity check and a schema version it supports.
    public static func checkBackup(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw BackupError.damaged(path: path, detail: "no such file") }
        var options = Database.Options()
        options.readOnly = true
        let db: Database
        do { db = try Database(path: path, options: options) } catch {
            throw BackupError.damaged(path: path, detail: "\(error)")
        }
        let check: [[SQLValue]]
        do { check = try db.query("PRAGMA integrity_check") } catch {
            throw BackupError.damaged(path: path, detail: "\(error)")
        }
        guard check.first?.first?.string == "ok" else {
            throw BackupError.damaged(path: path, detail: check.compactMap { $0.first?.string }.joined(separator: "; "))
        }
        let version = (try? db.query("SELECT MAX(version) FROM schema_version"))?.first?.first?.int ?? 0
        guard version >= 1 else { throw BackupError.damaged(path: path, detail: "no Tanba schema") }
        guard version <= StoreSchema.migrations.count else {
            throw MigrationError.newerSchema(found: version, supported: StoreSchema.migrations.count)
        }
    }

    /// Restores the backup at `backup` into a store file at `destination`, which must not
    /// be in use (stop the store first). The backup is checked before anything is written.
    public static func restore(from backup: String, to destination: String) throws {
        try checkBackup(backup)
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: destination + suffix) {
            try FileManager.default.removeItem(atPath: destination + suffix)
        }
        var options = Database.Options()
        options.readOnly = true
        let source = try Database(path: backup, options: options)
        let target = try Database(path: destination)
        try copy(from: source, to: target, pagesPerStep: 1024)
        _ = try target.query("PRAGMA journal_mode = WAL")
    }
}

extension Store {
    /// Online backup of the data store (ciphertext only; the key store is not part of it —
    /// see docs/security.md). The store keeps serving while it runs.
    public func backup(to destination: String) throws {
        try db.backup(to: destination)
    }

    /// Restores a data-store backup into `path` (the store there must be stopped) and
    /// opens it with the live key store, then removes the ciphertext of everyone deleted
    /// since the backup was taken: their keys were shredded, so it could not be
    /// decrypted anyway. Returns the opened store.
    public static func restore(from backup: String, to path: String, keyStorePath: String? = nil, master: MasterKey,
                               by actor: Actor) throws -> Store {
        try Database.restore(from: backup, to: path)
        let store = try Store(path: path, keyStorePath: keyStorePath, master: master)
        try store.reconcileShredded(by: actor)
        return store
    }
}
