import TanbaSQLite
import Foundation
import Testing
@testable import TanbaStore

/// A fresh directory per test, removed afterwards.
final class TempDir {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-store-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite struct SQLiteTests {
    @Test func opensInWALModeWithSecureDelete() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        #expect(try db.query("PRAGMA journal_mode")[0][0].string == "wal")
        #expect(try db.query("PRAGMA secure_delete")[0][0].int == 1)
        #expect(try db.query("PRAGMA foreign_keys")[0][0].int == 1)
    }

    @Test func bindsAndReadsEveryType() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try db.execute("CREATE TABLE t (a INTEGER, b REAL, c TEXT, d BLOB, e BLOB)")
        try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                   [.integer(-7), .real(2.5), .text("Қазақстан"), .blob([0, 1, 255]), .null])
        let row = try db.query("SELECT a, b, c, d, e FROM t")[0]
        #expect(row == [.integer(-7), .real(2.5), .text("Қазақстан"), .blob([0, 1, 255]), .null])
    }

    @Test func transactionRollsBackOnError() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.run("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(try db.query("SELECT COUNT(*) FROM t")[0][0].int == 0)
        #expect(!db.isInTransaction)
    }

    @Test func constraintErrorCarriesSQLiteMessage() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try db.run("INSERT INTO t VALUES (1)")
        let error = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t VALUES (1)") }
        guard case .constraint(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("UNIQUE constraint failed"))
    }

    @Test func fullDiskIsReportedAsDiskFull() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try db.execute("CREATE TABLE t (b BLOB)")
        // max_page_count caps the file: SQLite then fails exactly as on a full disk (SQLITE_FULL).
        let pages = try db.query("PRAGMA page_count")[0][0].int ?? 1
        _ = try db.query("PRAGMA max_page_count = \(pages + 2)")
        do {
            try db.transaction {
                for _ in 0..<20 { try db.run("INSERT INTO t VALUES (?)", [.blob([UInt8](repeating: 7, count: 4096))]) }
            }
            Issue.record("expected diskFull")
        } catch let error as SQLiteError {
            guard case .diskFull = error else { Issue.record("got \(error)"); return }
            #expect(error.description.contains("full"))
        }
        #expect(try db.query("SELECT COUNT(*) FROM t")[0][0].int == 0)
    }

    @Test func busyTimeoutReportsBusy() throws {
        let dir = TempDir()
        var options = Database.Options()
        options.busyTimeoutMilliseconds = 50
        let a = try Database(path: dir.path("a.db"), options: options)
        let b = try Database(path: dir.path("a.db"), options: options)
        try a.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try a.execute("BEGIN IMMEDIATE")
        let error = #expect(throws: SQLiteError.self) { try b.execute("BEGIN IMMEDIATE") }
        guard case .busy? = error else { Issue.record("got \(String(describing: error))"); return }
        try a.execute("COMMIT")
    }

    @Test func openFailureNamesThePath() throws {
        let error = #expect(throws: SQLiteError.self) { _ = try Database(path: "/nonexistent-dir/x/y.db") }
        #expect(error?.description.contains("/nonexistent-dir/x/y.db") == true)
    }
}

@Suite struct MigrationTests {
    @Test func freshDatabaseGetsEveryMigration() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        #expect(try Migrator.version(of: db) == 0)
        try Migrator.migrate(db, StoreSchema.migrations)
        #expect(try Migrator.version(of: db) == StoreSchema.migrations.count)
        let tables = Set(try db.query("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0[0].string })
        for t in ["persons", "enrollments", "enrollment_templates", "consents", "archive", "deletion_records",
                  "accounts", "audit_log", "audit_archive", "replication_log", "replica_state"] {
            #expect(tables.contains(t), "missing table \(t)")
        }
    }

    @Test func upgradesFromVersionOneKeepingData() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try Migrator.migrate(db, Array(StoreSchema.migrations.prefix(1)))
        #expect(try Migrator.version(of: db) == 1)
        try db.run("INSERT INTO deletion_records (deletion_id, subject_ref, owner_id, requested_by, branch, basis, requested_at, deleted_at, actor) VALUES (x'01', 'ref', x'02', 'subject', 'Astana-1', 'BIO 11', 't', 't', 'op1')")
        try Migrator.migrate(db, StoreSchema.migrations)
        #expect(try Migrator.version(of: db) == StoreSchema.migrations.count)
        #expect(try db.query("SELECT branch FROM deletion_records")[0][0].string == "Astana-1")
        #expect(try db.query("SELECT COUNT(*) FROM schema_version")[0][0].int == StoreSchema.migrations.count)
    }

    /// Version 7 indexes the audit log by subject: entries already there stay and are
    /// found through the new indexes.
    @Test func upgradesFromVersionSixIndexingTheAuditLogBySubject() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try Migrator.migrate(db, Array(StoreSchema.migrations.prefix(6)))
        try db.run("""
            INSERT INTO audit_log (seq, at, actor, role, basis, case_number, operation, subject_ref, result, prev_hash, hash)
            VALUES (1, 't', 'a', 'r', 'b', NULL, 'verify', 'ref-1', 'ok', x'00', x'01')
            """)
        #expect(try db.query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_log_by_subject'")[0][0].int == 0)
        try Migrator.migrate(db, StoreSchema.migrations)
        #expect(try Migrator.version(of: db) == 7)
        #expect(try db.query("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('audit_log_by_subject', 'audit_archive_by_subject')")[0][0].int == 2)
        #expect(try db.query("SELECT result FROM audit_log WHERE subject_ref = 'ref-1'")[0][0].string == "ok")
    }

    /// Version 6 adds `held_enrollments` to a version-5 store (the previous release):
    /// rows already there stay, the table is empty and replicated.
    @Test func upgradesFromVersionFiveAddingHeldEnrollments() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try Migrator.migrate(db, Array(StoreSchema.migrations.prefix(5)))
        #expect(try Migrator.version(of: db) == 5)
        try db.run("INSERT INTO answered_requests VALUES ('station-1', x'00112233445566778899aabbccddeeff', x'01', x'81', 't')")
        #expect(try db.query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'held_enrollments'")[0][0].int == 0)
        try Migrator.migrate(db, Array(StoreSchema.migrations.prefix(6)))
        #expect(try Migrator.version(of: db) == 6)
        #expect(try db.query("SELECT COUNT(*) FROM held_enrollments")[0][0].int == 0)
        #expect(try db.query("SELECT sender FROM answered_requests")[0][0].string == "station-1")
        #expect(StoreSchema.replicatedTables.contains("held_enrollments"))
        // One pending hold per IIN, any number of decided ones.
        try db.run("INSERT INTO held_enrollments (hold_id, iin_hash, subject_ref, status, candidates, sealed_hold, held_at) VALUES (x'01', x'aa', 'r', 'held', 1, x'00', 't')")
        try db.run("INSERT INTO held_enrollments (hold_id, iin_hash, subject_ref, status, candidates, sealed_hold, held_at) VALUES (x'02', x'aa', 'r', 'rejected', 1, x'00', 't')")
        #expect(throws: SQLiteError.self) {
            try db.run("INSERT INTO held_enrollments (hold_id, iin_hash, subject_ref, status, candidates, sealed_hold, held_at) VALUES (x'03', x'aa', 'r', 'held', 1, x'00', 't')")
        }
    }

    @Test func refusesANewerDatabase() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        try Migrator.migrate(db, StoreSchema.migrations)
        let future = StoreSchema.migrations.count + 1
        try db.run("INSERT INTO schema_version VALUES (?, 'from the future', 'now')", [.integer(Int64(future))])
        #expect(throws: MigrationError.newerSchema(found: future, supported: StoreSchema.migrations.count)) {
            try Migrator.migrate(db, StoreSchema.migrations)
        }
    }

    @Test func failedMigrationLeavesPreviousVersion() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        let list = [Migration(version: 1, name: "ok", sql: "CREATE TABLE a (id INTEGER PRIMARY KEY)"),
                    Migration(version: 2, name: "bad", sql: "CREATE TABLE b (id INTEGER PRIMARY KEY); SELECT * FROM nowhere")]
        #expect(throws: SQLiteError.self) { try Migrator.migrate(db, list) }
        #expect(try Migrator.version(of: db) == 1)
        #expect(try db.query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'")[0][0].int == 0)
    }

    @Test func rejectsMisnumberedList() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path("a.db"))
        #expect(throws: MigrationError.self) {
            try Migrator.migrate(db, [Migration(version: 2, name: "x", sql: "SELECT 1")])
        }
    }
}
