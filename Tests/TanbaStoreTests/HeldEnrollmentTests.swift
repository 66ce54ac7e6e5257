import Foundation
import TanbaCore
import TanbaSQLite
import TanbaTestSupport
import Testing
@testable import TanbaStore

/// Enrollments held for adjudication live in the store (schema v6): sealed, surviving a
/// reopen, decided once with one audit entry, shredded with the IIN.
@Suite struct HeldEnrollmentTests {
    static let examiner = Actor(login: "exam-07", role: "examiner", basis: "adjudication")

    static func hold(_ serial: Int, seed: UInt64 = 900) -> HeldEnrollment {
        let record = Fixtures.enrollment(seed: seed).record
        return HeldEnrollment(iin: Fixtures.iin(serial), record: record,
                              exceptions: [FingerException(position: .leftLittle, kind: .wound, reason: "open wound")],
                              station: "station-7",
                              candidates: [HeldCandidate(iin: Fixtures.iin(0).digits, fusedScore: 0.41,
                                                         fingerScores: [.init(position: .rightThumb, score: 0.5)])],
                              heldAt: "2026-11-21T10:00:00.000+05:00")
    }

    @Test func aHoldSurvivesReopeningAndIsSealed() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<1)
        let before = try store.audit.entries().count
        let hold = Self.hold(5)
        try store.holdEnrollment(hold, by: Fixtures.operatorActor)
        #expect(try store.audit.entries().count == before + 1)
        #expect(try store.audit.entries().last?.entry.result == "held for adjudication: 1 possible duplicate")
        #expect(throws: AdjudicationError.alreadyHeld) { try store.holdEnrollment(hold, by: Fixtures.operatorActor) }
        #expect(try store.person(iin: hold.iin) == nil, "nothing enrolled")
        // A restart: a new Store on the same files still has it, templates and all.
        let reopened = try Store(path: dir.path("store.db"), master: Fixtures.master)
        #expect(try reopened.heldEnrollmentCount() == 1)
        #expect(try reopened.heldEnrollment(iin: hold.iin) == hold)
        #expect(try reopened.heldEnrollments() == [hold])
        // Ciphertext only: neither the IIN nor template bytes in the file.
        try reopened.db.checkpointTruncate()
        let file = Fixtures.fileBytes(dir.path("store.db"))
        #expect(!Fixtures.contains(file, Array(hold.iin.digits.utf8)))
        let native = try TemplateCodec.encode(FingerprintRecord(views: [hold.record.views[0]]), as: .native)
        #expect(!Fixtures.contains(file, Array(native[(native.count / 2)..<(native.count / 2 + 24)])))
        #expect(Fixtures.contains(file, Array("held_enrollments".utf8)), "the search matches what is there")
    }

    @Test func acceptingEnrollsThePersonWithOneAuditEntry() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<1)
        let hold = Self.hold(6)
        try store.holdEnrollment(hold, by: Fixtures.operatorActor)
        let before = try store.audit.entries().count
        let enrollment = Enrollment(record: hold.record, missing: [MissingFinger(position: .leftLittle, reason: "wound: open wound")],
                                    capture: CaptureInfo(branch: "b", station: hold.station, operatorLogin: "op", device: "station",
                                                         capturedAt: hold.heldAt))
        try store.adjudicate(iin: hold.iin, decision: AdjudicationDecision(outcome: .accepted, examiner: "exam-07", reason: "different person"),
                             person: (PersonIdentity(fullName: Fixtures.name(6), iin: hold.iin), enrollment, Fixtures.consent()),
                             by: Self.examiner)
        let added = try store.audit.entries().dropFirst(before)
        #expect(added.count == 1)
        #expect(added.first?.entry.operation == "adjudicate" && added.first?.entry.actor == "exam-07")
        #expect(added.first?.entry.result.hasPrefix("accepted") == true)
        #expect(try store.currentEnrollment(iin: hold.iin)?.record == hold.record)
        #expect(try store.heldEnrollmentCount() == 0 && store.heldEnrollment(iin: hold.iin) == nil)
        let decided = try store.adjudications(iin: hold.iin)
        #expect(decided.count == 1 && decided[0].decision.outcome == .accepted && decided[0].candidates == hold.candidates)
        #expect(throws: AdjudicationError.notHeld) {
            try store.adjudicate(iin: hold.iin, decision: AdjudicationDecision(outcome: .rejected, examiner: "x", reason: "y"),
                                 person: nil, by: Self.examiner)
        }
        #expect(try store.audit.verify().ok)
    }

    @Test func rejectingKeepsARecordWithoutBiometricsAndDeletionShredsIt() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<1)
        let hold = Self.hold(7)
        try store.holdEnrollment(hold, by: Fixtures.operatorActor)
        try store.adjudicate(iin: hold.iin, decision: AdjudicationDecision(outcome: .rejected, examiner: "exam-07", reason: "same person as candidate"),
                             person: nil, by: Self.examiner)
        #expect(try store.person(iin: hold.iin) == nil && store.heldEnrollmentCount() == 0)
        let decided = try store.adjudications(iin: hold.iin)
        #expect(decided.map(\.decision.reason) == ["same person as candidate"])
        // A new hold for the same IIN is possible once the first is decided.
        try store.holdEnrollment(Self.hold(7, seed: 901), by: Fixtures.operatorActor)
        #expect(try store.heldEnrollmentCount() == 1)
        // DELETE of the IIN: every hold's key destroyed, rows gone, a deletion record kept.
        let shreddedBefore = try store.keys.shreddedOwners().count
        #expect(try store.delete(iin: hold.iin, request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                                 by: Fixtures.operatorActor))
        #expect(try store.keys.shreddedOwners().count == shreddedBefore + 2)
        #expect(try store.heldEnrollmentCount() == 0 && store.adjudications(iin: hold.iin).isEmpty)
        #expect(try store.db.query("SELECT COUNT(*) FROM held_enrollments")[0][0].int == 0, "no row left, decided or pending")
        #expect(try store.deletionRecords().count == 2)
        #expect(try store.audit.entries().last?.entry.result == "ok: not enrolled; 2 held enrollments shredded")
    }

    @Test func aBackupTakenWhileHeldCannotBeReadAfterDeletion() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<1)
        let hold = Self.hold(8)
        try store.holdEnrollment(hold, by: Fixtures.operatorActor)
        try store.backup(to: dir.path("before.db"))
        try store.delete(iin: hold.iin, request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"), by: Fixtures.operatorActor)
        let restored = try Store.restore(from: dir.path("before.db"), to: dir.path("restored.db"),
                                         keyStorePath: Store.keyStorePath(for: dir.path("store.db")), master: Fixtures.master,
                                         by: Fixtures.operatorActor)
        #expect(try restored.heldEnrollmentCount() == 0, "the restored hold's undecryptable row is removed")
        #expect(try restored.heldEnrollment(iin: hold.iin) == nil)
    }
}
