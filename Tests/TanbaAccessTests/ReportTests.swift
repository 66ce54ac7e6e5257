import Foundation
import Testing
import TanbaCore
@testable import TanbaAccess

@Suite struct TransparencyTests {
    static func event(_ at: String, _ actor: String, _ role: String, _ basis: String, _ op: String, case n: String? = nil,
                      result: String = "ok", org: String? = nil) -> AuditEvent {
        AuditEvent(at: at, actor: actor, role: role, basis: basis, caseNumber: n, operation: op, subjectRef: "ref-1",
                   result: result, organisation: org)
    }

    @Test func listsEveryActionAndHidesLawEnforcementAndCourts() throws {
        let iin = AccessFixtures.iin(5)
        let events = [
            Self.event("2026-11-21T10:00:00.000+05:00", "op-0042", "branch-operator", "consent", "enroll", case: "c-77",
                       org: "Government for Citizens, Astana-Esil-3"),
            Self.event("2026-11-22T09:00:00.000+05:00", "inv-8", "investigator-police", "criminal", "identify", case: "261500031000117"),
            Self.event("2026-11-22T11:00:00.000+05:00", "judge-3", "judge", "civil", "view-record", case: "2-1401/2026"),
            Self.event("2026-11-23T08:30:00.000+05:00", "sp-1", "supervising-prosecutor", "supervision", "view-record"),
            Self.event("2026-11-23T09:00:00.000+05:00", "pol-9", "police", "criminal", "verify"),
            Self.event("2026-11-24T12:00:00.000+05:00", "op-0050", "branch-operator", "consent", "verify", case: "c-78"),
            // UTC in the input: shown in Astana time.
            Self.event("2026-11-25T05:00:00.000Z", "ex-2", "examiner", "adjudication", "view-archive", case: "job-7"),
            Self.event("2026-11-26T10:00:00.000+05:00", "op-0050", "branch-operator", "consent", "reenroll", case: "c-79"),
            Self.event("2026-11-27T10:00:00.000+05:00", "op-0050", "branch-operator", "consent", "transfer", case: "c-79"),
            Self.event("2026-11-27T11:00:00.000+05:00", "op-0051", "branch-operator", "consent", "verify",
                       result: "refused: action-not-allowed"),
            Self.event("2026-11-28T10:00:00.000+05:00", "op-0050", "branch-supervisor", "subject-request", "block", case: "r-1"),
            Self.event("2026-11-29T10:00:00.000+05:00", "op-0050", "branch-operator", "subject-request", "delete", case: "r-2"),
        ]
        let consents = [
            ConsentHolder(operatorName: "Government for Citizens", operatorBIN: "021240001789", term: "indefinite",
                          givenAt: "2026-11-21T09:55:00.000+05:00"),
            ConsentHolder(operatorName: "Old Bank", operatorBIN: "990440001234", term: "5 years",
                          givenAt: "2020-01-01T10:00:00.000+05:00", revokedAt: "2024-01-01T10:00:00.000+05:00"),
        ]
        let report = SubjectTransparency.report(iin: iin, events: events.reversed(), consents: consents, now: AccessFixtures.start)
        #expect(report.actions.map(\.kind) == [.enrollment, .access, .view, .change, .transfer, .block, .deletion])
        #expect(report.actions.map(\.who) == ["op-0042", "op-0050", "ex-2", "op-0050", "op-0050", "op-0050", "op-0050"])
        #expect(report.actions[0].at == "2026-11-21T10:00:00.000+05:00" && report.actions[0].basis == "consent c-77")
        #expect(report.actions[0].organisation == "Government for Citizens, Astana-Esil-3")
        #expect(report.actions[2].at == "2026-11-25T10:00:00.000+05:00")
        #expect(!report.actions.contains { ["inv-8", "judge-3", "sp-1", "pol-9"].contains($0.who) })
        #expect(report.consentHolders.map(\.operatorName) == ["Government for Citizens"])
        #expect(report.subject == "\(iin.digits.prefix(6))*****\(iin.digits.suffix(1))")
        #expect(report.generatedAt == "2026-11-21T10:00:00.000+05:00")
        let text = SubjectTransparency.text(report)
        #expect(!text.contains("inv-8") && !text.contains("261500031000117") && !text.contains("criminal"))
        #expect(text.contains("Government for Citizens (BIN 021240001789)") && !text.contains("Old Bank"))
        #expect(text.contains("36.4"))
        // Nothing reveals how many actions were hidden.
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        #expect(!json.contains("hidden") && !json.contains("inv-8"))
    }

    @Test func exemptRoles() {
        for role in Role.authorities { #expect(SubjectTransparency.isExempt(role: role.rawValue)) }
        #expect(SubjectTransparency.isExempt(role: "supervising-prosecutor"))
        for role in ["branch-operator", "branch-supervisor", "examiner", "auditor", "ops-administrator", "operations"] {
            #expect(!SubjectTransparency.isExempt(role: role))
        }
        #expect(SubjectTransparency.isExempt(role: "District Court"))
    }
}

@Suite struct SupervisorReportTests {
    static func request(_ day: Int, _ hour: Int, _ login: String, _ role: String, _ basis: String, _ n: String?,
                        op: String = "identify", result: String = "allowed", subject: String = "s1") -> AuditEvent {
        let d = String(format: "2026-11-%02dT%02d:15:00.000+05:00", day, hour)
        return AuditEvent(at: d, actor: login, role: role, basis: basis, caseNumber: n, operation: op, subjectRef: subject, result: result)
    }

    static func events() -> [AuditEvent] {
        var e = [
            request(2, 10, "inv-8", "investigator-police", "criminal", "261500031000117"),
            request(2, 11, "inv-8", "investigator-police", "criminal", "261500031000999", subject: "s2"),
            request(3, 9, "judge-3", "judge", "civil", "2-1401/2026", op: "view-record"),
            request(3, 9, "judge-3", "judge", "search", "S-1", result: "refused: basis-kind-not-allowed"),
            request(4, 1, "bail-1", "bailiff", "enforcement", "E-5/26", op: "verify"),
            request(4, 2, "bail-1", "bailiff", "enforcement", "E-5/26", op: "enroll"),  // not a request: not counted
            request(20, 9, "inv-8", "investigator-police", "criminal", "261500031000117"),  // outside the period
        ]
        for i in 0..<40 { e.append(request(5, 10 + i % 8, "crim-4", "criminal-police-officer", "search", "ERDR-\(i % 3 + 1)", subject: "p\(i)")) }
        return e
    }

    static let proceedings = StaticProceedings([
        "inv-8": ["261500031000117"], "judge-3": ["2-1401/2026", "S-1"], "crim-4": ["ERDR-1", "ERDR-2", "ERDR-3"],
    ])
    static func date(_ s: String) -> Date { AstanaTime.parse(s)! }

    @Test func countsPerUserBasisAndDayWithFlags() throws {
        let report = SupervisorReport.build(events: Self.events(), from: Self.date("2026-11-01T00:00:00.000+05:00"),
                                            to: Self.date("2026-11-15T00:00:00.000+05:00"), proceedings: Self.proceedings,
                                            now: AccessFixtures.start)
        #expect(report.totalRequests == 45)
        #expect(report.byBasis == ["criminal": 2, "civil": 1, "search": 41, "enforcement": 1])
        #expect(report.byDay == ["2026-11-02": 2, "2026-11-03": 2, "2026-11-04": 1, "2026-11-05": 40])
        let inv = try #require(report.users.first { $0.login == "inv-8" })
        #expect(inv.requests == 2 && inv.distinctSubjects == 2 && inv.byBasis == ["criminal": 2] && !inv.unusualVolume)
        let judge = try #require(report.users.first { $0.login == "judge-3" })
        #expect(judge.allowed == 1 && judge.refused == 1)
        #expect(report.users.first { $0.login == "crim-4" }?.unusualVolume == true)

        let notMine = report.flags.filter { $0.kind == .caseNotInProceedings }
        #expect(notMine.count == 1 && notMine[0].login == "inv-8" && notMine[0].caseNumber == "261500031000999")
        #expect(notMine[0].at == "2026-11-02T11:15:00.000+05:00")
        #expect(report.flags.filter { $0.kind == .caseUnverified }.map(\.login) == ["bail-1"])
        #expect(report.flags.filter { $0.kind == .unusualVolume }.map(\.login) == ["crim-4"])
    }

    @Test func jsonCsvAndHtml() throws {
        var events = Self.events()
        events.append(Self.request(6, 9, "x<script>", "prosecutor", "criminal", "=HYPERLINK(\"a,b\")"))
        let report = SupervisorReport.build(events: events, from: Self.date("2026-11-01T00:00:00.000+05:00"),
                                            to: Self.date("2026-11-15T00:00:00.000+05:00"), proceedings: Self.proceedings,
                                            now: AccessFixtures.start)
        let decoded = try JSONDecoder().decode(SupervisorReport.self, from: Data(try report.json().utf8))
        #expect(decoded == report)

        let csv = report.csv()
        let lines = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines[0] == "section,login,role,basis,requests,allowed,refused,distinct_subjects,flag,at,case_number,detail")
        #expect(lines.contains("requests,inv-8,investigator-police,criminal,2,2,0,2,,,,"))
        #expect(lines.contains { $0.hasPrefix("flag,inv-8,,criminal,,,,,case-not-in-proceedings,2026-11-02T11:15:00.000+05:00,261500031000999,") })
        // Formula injection neutralised and the field quoted.
        #expect(csv.contains("\"'=HYPERLINK(\"\"a,b\"\")\""))

        let html = report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<td>inv-8</td>") && html.contains("case-not-in-proceedings"))
        #expect(!html.contains("<script>") && html.contains("x&lt;script&gt;"))
    }

    @Test func onlyTheSupervisingProsecutorMayRunIt() {
        for role in Role.allCases {
            let d = AccessPolicy().decide(AccessRequest(login: "u", role: role, action: .supervisorReport,
                                                        basis: .supervision(reference: "PG-2026/114")))
            #expect(d.allowed == (role == .supervisingProsecutor))
        }
    }
}

@Suite struct IncidentJournalTests {
    @Test func monitoringOpensIncidentsOnlyAfterAnHourAndClosesThem() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let journal = try IncidentJournal(path: dir.path("access.db"), clock: clock.clock)
        let t0 = AccessFixtures.start
        // A 40-minute outage leaves no entry.
        #expect(try journal.observe(HealthEvent(component: "worker-3", status: .down, at: t0, detail: "no answer to PING")) == nil)
        #expect(try journal.observe(HealthEvent(component: "worker-3", status: .up, at: t0 + 2400, detail: "back")) == nil)
        #expect(try journal.incidents().isEmpty)
        // A delay lasting 90 minutes becomes an incident when the hour passes.
        try journal.observe(HealthEvent(component: "identify-queue", status: .delayed, at: t0 + 3600, detail: "p95 41 s"))
        #expect(try journal.observe(HealthEvent(component: "identify-queue", status: .delayed, at: t0 + 5400, detail: "p95 50 s")) == nil)
        let opened = try #require(try journal.observe(HealthEvent(component: "identify-queue", status: .delayed, at: t0 + 7260, detail: "p95 55 s")))
        #expect(opened.source == .monitoring && opened.startedAt == "2026-11-21T11:00:00.000+05:00" && opened.endedAt == nil)
        #expect(opened.cause == "delayed: p95 41 s")
        #expect(try journal.announcements().openIncidents.map(\.id) == [opened.id])
        let closed = try #require(try journal.observe(HealthEvent(component: "identify-queue", status: .up, at: t0 + 9000, detail: "two workers added")))
        #expect(closed.id == opened.id && closed.endedAt == "2026-11-21T12:30:00.000+05:00" && closed.actions.contains("two workers added"))
        #expect(try journal.announcements().openIncidents.isEmpty)
        #expect(try journal.incidents().count == 1)
    }

    @Test func silentMonitorIsCaughtBySweep() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let journal = try IncidentJournal(path: dir.path("access.db"), clock: clock.clock)
        try journal.observe(HealthEvent(component: "store-primary", status: .down, at: clock.now, detail: "disk full"))
        clock.advance(3000)
        #expect(try journal.sweep().isEmpty)
        clock.advance(700)
        let opened = try journal.sweep()
        #expect(opened.count == 1 && opened[0].component == "store-primary" && opened[0].cause == "down: disk full")
        #expect(try journal.sweep().isEmpty)  // once
    }

    @Test func manualEntriesAndMaintenanceAnnouncements() throws {
        let dir = TempDir(), clock = TestClock(AccessFixtures.start)
        let journal = try IncidentJournal(path: dir.path("access.db"), clock: clock.clock)
        let t0 = AccessFixtures.start
        #expect(throws: AccessError.self) {
            try journal.record(component: "network", start: t0, cause: "fibre cut", actions: "rerouted", end: t0 - 1, by: "ops-1")
        }
        #expect(throws: AccessError.self) {
            try journal.record(component: "network", start: t0, cause: " ", actions: "rerouted", end: nil, by: "ops-1")
        }
        let incident = try journal.record(component: "network", start: t0 - 7200, cause: "fibre cut Astana–Karaganda",
                                          actions: "traffic rerouted", end: nil, by: "ops-1")
        #expect(incident.source == .manual && incident.recordedBy == "ops-1" && incident.startedAt == "2026-11-21T08:00:00.000+05:00")
        try journal.update(incident.id, actions: "fibre spliced", end: t0)
        let updated = try #require(try journal.incidents().first)
        #expect(updated.actions == "traffic rerouted; fibre spliced" && updated.endedAt == "2026-11-21T10:00:00.000+05:00")

        #expect(throws: AccessError.self) {
            try journal.announceMaintenance(starts: t0 + 3600, ends: t0 + 7200, description: "too soon", by: "ops-1")
        }
        let w = try journal.announceMaintenance(starts: t0 + 2 * 86400, ends: t0 + 2 * 86400 + 7200,
                                                description: "store upgrade to schema 4", by: "ops-1")
        #expect(w.startsAt == "2026-11-23T10:00:00.000+05:00" && w.announcedAt == "2026-11-21T10:00:00.000+05:00")
        #expect(try journal.announcements().maintenance == [w])
        clock.advance(3 * 86400)
        #expect(try journal.announcements().maintenance.isEmpty)  // over
        let w2 = try journal.announceMaintenance(starts: clock.now + 86400, ends: clock.now + 90000, description: "x", by: "ops-1")
        try journal.cancelMaintenance(w2.id)
        #expect(try journal.announcements().maintenance.isEmpty)
        let json = String(decoding: try JSONEncoder().encode(try journal.announcements()), as: UTF8.self)
        #expect(json.contains("\"maintenance\":[]"))
    }
}
