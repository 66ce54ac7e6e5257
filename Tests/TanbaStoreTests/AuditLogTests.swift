import TanbaCore
import TanbaSQLite
import Foundation
import Testing
@testable import TanbaStore

@Suite struct AuditLogTests {
    /// A store with `count` audit entries and the append-only triggers dropped, as an
    /// attacker with write access to the file would do before tampering.
    static func log(_ count: Int, in dir: TempDir) throws -> Store {
        let store = try Fixtures.store(in: dir)
        let judge = Actor(login: "judge-3", role: "judge", basis: "civil", caseNumber: "2-1401/2026")
        for i in 0..<count {
            try store.record(judge, operation: "identify", subject: Fixtures.iin(i), result: "candidates: \(i % 3)")
        }
        for trigger in ["audit_log_no_update", "audit_log_delete_only_archived"] { try store.db.execute("DROP TRIGGER \(trigger)") }
        return store
    }

    @Test func entriesCarryEveryFieldInAstanaTime() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        let actor = Actor(login: "inv-8", role: "investigator", basis: "criminal", caseNumber: "261500031000117")
        try store.record(actor, operation: "identify", subject: Fixtures.iin(4), result: "no match")
        let entry = try #require(try store.audit.entries().last?.entry)
        #expect(entry.actor == "inv-8" && entry.role == "investigator" && entry.basis == "criminal")
        #expect(entry.caseNumber == "261500031000117" && entry.operation == "identify" && entry.result == "no match")
        #expect(entry.subjectRef == store.subjectReference(Fixtures.iin(4)))
        #expect(entry.subjectRef != Fixtures.iin(4).digits)
        #expect(entry.at.hasSuffix("+05:00"))
        #expect(AstanaTime.parse(entry.at).map { abs($0.timeIntervalSinceNow) < 60 } == true)
        #expect(AstanaTime.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T05:00:00.000+05:00")
    }

    @Test func intactLogVerifies() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        let result = try store.audit.verify()
        #expect(result.ok && result.entriesChecked == 10 && result.headSeq == 10)
        #expect(try store.audit.verify(anchor: (result.headSeq, result.headHash)).ok)
    }

    @Test func databaseRefusesUpdatesAndUnarchivedDeletes() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        try store.record(Fixtures.operatorActor, operation: "x", result: "ok")
        #expect(throws: SQLiteError.self) { try store.db.run("UPDATE audit_log SET result = 'changed'") }
        #expect(throws: SQLiteError.self) { try store.db.run("DELETE FROM audit_log") }
    }

    @Test func detectsAnEditedEntry() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        try store.db.run("UPDATE audit_log SET result = 'no match' WHERE seq = 4")
        let r = try store.audit.verify()
        #expect(r.problem == .edited && r.firstBadSeq == 4)
    }

    @Test func detectsAnEditedEntryWhoseHashWasRecomputed() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        let row = try store.db.query("SELECT prev_hash FROM audit_log WHERE seq = 6")[0]
        var entry = try store.audit.entries()[5].entry
        entry.caseNumber = "forged"
        try store.db.run("UPDATE audit_log SET case_number = 'forged', hash = ? WHERE seq = 6",
                         [.blob(AuditLog.hash(previous: row[0].bytes!, seq: 6, entry: entry))])
        let r = try store.audit.verify()
        #expect(r.problem == .edited && r.firstBadSeq == 6)
    }

    @Test func detectsADeletedEntry() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        try store.db.run("DELETE FROM audit_log WHERE seq = 5")
        let r = try store.audit.verify()
        #expect(r.problem == .deleted && r.firstBadSeq == 5)
    }

    @Test func detectsADeletedEntryHiddenByRenumbering() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        try store.db.run("DELETE FROM audit_log WHERE seq = 5")
        try store.db.run("UPDATE audit_log SET seq = seq - 1 WHERE seq > 5")
        let r = try store.audit.verify()
        #expect(r.problem == .deleted && r.firstBadSeq == 5)
    }

    @Test func detectsATruncatedTailAgainstAnAnchor() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        let head = try store.audit.verify()
        try store.db.run("DELETE FROM audit_log WHERE seq > 8")
        #expect(try store.audit.verify().ok)   // without an anchor a clean cut is invisible
        let r = try store.audit.verify(anchor: (head.headSeq, head.headHash))
        #expect(r.problem == .truncated && r.firstBadSeq == 9)
    }

    /// Shifts entries from `seq` on up by one, leaving a hole at `seq`.
    static func openHole(at seq: Int64, in store: Store) throws {
        try store.db.run("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= ?", [.integer(seq)])
        try store.db.run("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000")
    }

    static func insert(_ entry: AuditEntry, seq: Int64, prev: [UInt8], hash: [UInt8], into store: Store) throws {
        try store.db.run("""
            INSERT INTO audit_log (seq, at, actor, role, basis, case_number, operation, subject_ref, result, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(seq), .text(entry.at), .text(entry.actor), .text(entry.role), .text(entry.basis), .null,
                  .text(entry.operation), .null, .text(entry.result), .blob(prev), .blob(hash)])
    }

    @Test func detectsAnInsertedEntry() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        try Self.openHole(at: 4, in: store)
        let forged = AuditEntry(actor: "ghost", role: "prosecutor", basis: "search", operation: "identify", result: "ok",
                                at: "2026-11-21T10:00:00.000+05:00")
        try Self.insert(forged, seq: 4, prev: [UInt8](repeating: 9, count: 32), hash: [UInt8](repeating: 7, count: 32), into: store)
        let r = try store.audit.verify()
        #expect(r.problem == .inserted && r.firstBadSeq == 4)
    }

    @Test func detectsAnInsertedEntryWithAValidLocalHash() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        let prev = try store.db.query("SELECT hash FROM audit_log WHERE seq = 3")[0][0].bytes!
        try Self.openHole(at: 4, in: store)
        let forged = AuditEntry(actor: "ghost", role: "prosecutor", basis: "search", operation: "identify", result: "ok",
                                at: "2026-11-21T10:00:00.000+05:00")
        try Self.insert(forged, seq: 4, prev: prev, hash: AuditLog.hash(previous: prev, seq: 4, entry: forged), into: store)
        let r = try store.audit.verify()
        #expect(r.problem == .inserted && r.firstBadSeq == 4)
    }

    @Test func detectsAppendedForgery() throws {
        let dir = TempDir()
        let store = try Self.log(5, in: dir)
        let forged = AuditEntry(actor: "ghost", role: "judge", basis: "civil", operation: "identify", result: "ok",
                                at: "2026-11-21T10:00:00.000+05:00")
        let prev = [UInt8](repeating: 1, count: 32)
        try Self.insert(forged, seq: 6, prev: prev, hash: AuditLog.hash(previous: prev, seq: 6, entry: forged), into: store)
        let r = try store.audit.verify()
        #expect(r.problem == .inserted && r.firstBadSeq == 6)
    }

    @Test func detectsReorderedEntries() throws {
        let dir = TempDir()
        let store = try Self.log(10, in: dir)
        try store.db.run("UPDATE audit_log SET seq = 1003 WHERE seq = 3")
        try store.db.run("UPDATE audit_log SET seq = 3 WHERE seq = 7")
        try store.db.run("UPDATE audit_log SET seq = 7 WHERE seq = 1003")
        let r = try store.audit.verify()
        #expect(r.problem == .reordered && r.firstBadSeq == 3)
    }

    @Test func archivedSegmentsContinueTheChain() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        for i in 0..<12 { try store.record(Fixtures.operatorActor, operation: "verify", subject: Fixtures.iin(i), result: "match") }
        #expect(try store.archiveAuditSegment(through: 5) == 1)
        #expect(try store.archiveAuditSegment(through: 9) == 2)
        #expect(try store.archiveAuditSegment(through: 9) == nil)
        try store.record(Fixtures.operatorActor, operation: "verify", result: "no match")
        #expect(try store.db.query("SELECT COUNT(*) FROM audit_log")[0][0].int == 4)
        #expect(try store.db.query("SELECT COUNT(*) FROM audit_archive")[0][0].int == 9)
        #expect(try store.db.query("SELECT first_seq, last_seq FROM audit_segments ORDER BY segment").map { $0.compactMap(\.int) } == [[1, 5], [6, 9]])
        let entries = try store.audit.entries()
        #expect(entries.map(\.seq) == Array(1...13))
        let r = try store.audit.verify()
        #expect(r.ok && r.entriesChecked == 13 && r.headSeq == 13)
        // Tampering inside an archived segment is caught too.
        try store.db.execute("DROP TRIGGER audit_archive_no_update")
        try store.db.run("UPDATE audit_archive SET actor = 'someone else' WHERE seq = 2")
        let bad = try store.audit.verify()
        #expect(bad.problem == .edited && bad.firstBadSeq == 2)
    }

    /// One subject's entries come from the per-subject indexes of the live log and the
    /// archive — the same entries, in the same order, as filtering the whole log.
    @Test func entriesOfOneSubjectSpanArchiveAndLiveLogThroughTheIndexes() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        for i in 0..<30 { try store.record(Fixtures.operatorActor, operation: "verify", subject: Fixtures.iin(i % 4), result: "r\(i)") }
        try store.record(Fixtures.operatorActor, operation: "status", result: "ok")   // no subject
        try store.archiveAuditSegment(through: 17)
        for i in 0..<4 {
            let ref = store.subjectReference(Fixtures.iin(i))
            let indexed = try store.audit.entries(subjectRef: ref)
            let scanned = try store.audit.entries().filter { $0.entry.subjectRef == ref }
            #expect(indexed.map(\.seq) == scanned.map(\.seq) && indexed.map(\.entry.result) == scanned.map(\.entry.result))
            #expect(indexed.count == 30 / 4 + (i < 30 % 4 ? 1 : 0))
            #expect(indexed.contains { $0.seq <= 17 } && indexed.contains { $0.seq > 17 }, "archive and live log both answer")
        }
        #expect(try store.audit.entries(subjectRef: store.subjectReference(Fixtures.iin(9))).isEmpty)
        for table in ["audit_log", "audit_archive"] {
            let plan = try store.db.query("EXPLAIN QUERY PLAN SELECT seq FROM \(table) WHERE subject_ref = ?1", [.text("x")])
                .map { $0.compactMap(\.string).joined(separator: " ") }.joined(separator: "; ")
            #expect(plan.contains("\(table)_by_subject"), "\(table): \(plan)")
        }
    }

    @Test func archivedEntryRemovedFromLiveLogStillCounts() throws {
        let dir = TempDir()
        let store = try Self.log(6, in: dir)
        try store.archiveAuditSegment(through: 3)
        try store.db.execute("DROP TRIGGER audit_archive_no_delete")
        try store.db.run("DELETE FROM audit_archive WHERE seq = 2")
        let r = try store.audit.verify()
        #expect(r.problem == .deleted && r.firstBadSeq == 2)
    }
}
