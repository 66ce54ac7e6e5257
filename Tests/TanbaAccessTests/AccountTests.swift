import Foundation
import Testing
import TanbaSQLite
@testable import TanbaAccess

@Suite struct AccountTests {
    @Test func applicationIsApprovedWithinTheDayAndCreatesTheAccount() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccountRegistry(path: dir.path("access.db"), key: AccessFixtures.key, clock: clock.clock)
        let id = try registry.submit(AccountApplication(login: "inv-8", role: .investigatorPolice, action: .register,
                                                        applicant: AccessFixtures.applicant(1), reason: "new investigator"))
        let pending = try #require(try registry.application(id))
        #expect(pending.state == .pending && !pending.overdue)
        #expect(pending.submittedAt == "2026-11-21T10:00:00.000+05:00" && pending.dueAt == "2026-11-22T10:00:00.000+05:00")
        #expect(try registry.account("inv-8") == nil)
        clock.advance(3 * 3600)
        try registry.approve(id, by: "sp-1")
        let decided = try #require(try registry.application(id))
        #expect(decided.state == .approved && decided.withinDeadline == true && decided.decidedBy == "sp-1")
        let account = try #require(try registry.account("inv-8"))
        #expect(account.state == .active && account.role == .investigatorPolice && account.agreementSignedAt == nil)
        #expect(account.profile == AccessFixtures.applicant(1))
        #expect(try registry.events(for: "inv-8").map(\.kind) == ["application-submitted", "application-approved"])
        // A decided application cannot be decided again.
        #expect(throws: AccessError.self) { try registry.refuse(id, reason: "x", by: "sp-1") }
    }

    @Test func refusalNeedsAReasonAndOverdueApplicationsAreListed() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccountRegistry(path: dir.path("access.db"), key: AccessFixtures.key, clock: clock.clock)
        let a = try registry.submit(AccountApplication(login: "judge-3", role: .judge, action: .register,
                                                       applicant: AccessFixtures.applicant(2, position: "judge"), reason: "appointed"))
        let b = try registry.submit(AccountApplication(login: "bailiff-1", role: .bailiff, action: .register,
                                                       applicant: AccessFixtures.applicant(3, position: "bailiff"), reason: "hired"))
        #expect(try registry.overdueApplications().isEmpty)
        clock.advance(25 * 3600)
        #expect(Set(try registry.overdueApplications().map(\.id)) == [a, b])
        #expect(throws: AccessError.invalid("a refusal must state its reason")) { try registry.refuse(a, reason: "  ", by: "sp-1") }
        try registry.refuse(a, reason: "no court appointment order attached", by: "sp-1")
        let refused = try #require(try registry.application(a))
        #expect(refused.state == .refused && refused.decisionReason == "no court appointment order attached")
        #expect(refused.withinDeadline == false)
        #expect(try registry.account("judge-3") == nil)
        #expect(try registry.overdueApplications().map(\.id) == [b])
    }

    @Test func applicationsAreValidated() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock)
        var bad = AccessFixtures.applicant(4)
        bad.iin = "880309300000"
        #expect(throws: AccessError.self) {
            try registry.submit(AccountApplication(login: "x-1", role: .judge, action: .register, applicant: bad, reason: "r"))
        }
        #expect(throws: AccessError.self) {
            try registry.submit(AccountApplication(login: "Bad Login", role: .judge, action: .register,
                                                   applicant: AccessFixtures.applicant(4), reason: "r"))
        }
        #expect(throws: AccessError.conflict("account inv-8 already exists")) {
            try registry.submit(AccountApplication(login: "inv-8", role: .judge, action: .register,
                                                   applicant: AccessFixtures.applicant(4), reason: "r"))
        }
        #expect(throws: AccessError.notFound("account nobody")) {
            try registry.submit(AccountApplication(login: "nobody", role: .judge, action: .move,
                                                   applicant: AccessFixtures.applicant(4), reason: "r"))
        }
    }

    @Test func moveAndBlockApplications() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock)
        var moved = AccessFixtures.applicant(0, position: "head of unit")
        moved.unit = "Criminal police"
        let m = try registry.submit(AccountApplication(login: "inv-8", role: .criminalPoliceOfficer, action: .move,
                                                       applicant: moved, reason: "transferred"))
        try registry.approve(m, by: "sp-1")
        let account = try #require(try registry.account("inv-8"))
        #expect(account.role == .criminalPoliceOfficer && account.profile.unit == "Criminal police" && account.state == .active)
        let b = try registry.submit(AccountApplication(login: "inv-8", role: .criminalPoliceOfficer, action: .block,
                                                       applicant: moved, reason: "long leave"))
        try registry.approve(b, by: "sp-1")
        let blocked = try #require(try registry.account("inv-8"))
        #expect(blocked.state == .blocked && blocked.blockedKind == .application)
    }

    @Test func positionChangeIsRecordedAndLateReportsMarked() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock)
        try registry.changePosition("inv-8", position: "deputy head", effective: clock.now.addingTimeInterval(-3600), by: "hr-1")
        try registry.changePosition("inv-8", position: "head", unit: "HQ", role: .criminalPoliceOfficer,
                                    effective: clock.now.addingTimeInterval(-48 * 3600), by: "hr-1")
        let account = try #require(try registry.account("inv-8"))
        #expect(account.profile.position == "head" && account.profile.unit == "HQ" && account.role == .criminalPoliceOfficer)
        let changes = try registry.events(for: "inv-8").filter { $0.kind == "position-changed" }
        #expect(changes.count == 2 && !changes[0].detail.contains("after 24 hours") && changes[1].detail.contains("after 24 hours"))
    }

    @Test func dismissalBlocksAtOnce() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock)
        try registry.dismiss("inv-8", reason: "order 114-k of 2026-11-20", by: "hr-1")
        let account = try #require(try registry.account("inv-8"))
        #expect(account.state == .blocked && account.blockedKind == .dismissal)
        #expect(account.blockedAt == "2026-11-21T10:00:00.000+05:00")
    }

    @Test func sixtyDaysWithoutRequestsBlocksAutomatically() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock,
                                                   logins: [("inv-8", .investigatorPolice), ("judge-3", .judge), ("idle-1", .bailiff)])
        clock.advance(30 * 86400)
        try registry.recordRequest("inv-8")
        clock.advance(20 * 86400)
        try registry.recordRequest("judge-3")
        clock.advance(10 * 86400 - 60)  // 60 days minus a minute since creation
        #expect(try registry.blockInactiveAccounts().isEmpty)
        clock.advance(60)  // idle-1: exactly 60 days since creation, never a request
        #expect(try registry.blockInactiveAccounts() == ["idle-1"])
        clock.advance(30 * 86400)  // inv-8: 60 days since its request
        #expect(try registry.blockInactiveAccounts() == ["inv-8"])
        let blocked = try #require(try registry.account("inv-8"))
        #expect(blocked.state == .blocked && blocked.blockedKind == .inactivity)
        #expect(try registry.account("judge-3")?.state == .active)
        try registry.reinstate("inv-8", reason: "new application approved", by: "sp-1")
        #expect(try registry.account("inv-8")?.state == .active)
    }

    @Test func violationBlocksAtOnceAndNotifiesProsecutorAndManagement() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock)
        try registry.reportViolation("inv-8", description: "requests on a case of another unit", by: "sp-1")
        #expect(try registry.account("inv-8")?.blockedKind == .violation)
        let notices = try registry.notices(for: "inv-8")
        #expect(notices.map(\.recipient) == [.supervisingProsecutor, .management])
        #expect(notices[1].addressee == "Police Department of Astana / Investigations, Esil district")
        #expect(notices.allSatisfy { $0.message.contains("requests on a case of another unit") && $0.at.hasSuffix("+05:00") })
    }

    @Test func personalFieldsAreSealedAndBoundToTheirRow() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let registry = try AccessFixtures.registry(in: dir, clock: clock, logins: [("inv-8", .investigatorPolice), ("judge-3", .judge)])
        try registry.reportViolation("inv-8", description: "x", by: "sp-1")
        try registry.db.checkpointTruncate()
        let file = try Data(contentsOf: URL(fileURLWithPath: dir.path("access.db")))
        for needle in [AccessFixtures.iin(0).digits, "Исаев", "Police Department", "+7 701"] {
            #expect(file.range(of: Data(needle.utf8)) == nil, "\(needle) in plaintext")
        }
        // A sealed profile copied to another account does not open.
        try registry.db.execute("UPDATE access_accounts SET sealed_profile = (SELECT sealed_profile FROM access_accounts WHERE login = 'inv-8') WHERE login = 'judge-3'")
        #expect(throws: AccessError.self) { try registry.account("judge-3") }
        // A wrong key does not open anything.
        let other = try AccountRegistry(path: dir.path("access.db"), key: .init(size: .bits256), clock: clock.clock)
        #expect(throws: AccessError.self) { try other.account("inv-8") }
    }
}
