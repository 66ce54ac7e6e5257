import Crypto
import Foundation
import Logging
import TanbaAccess
@testable import TanbaCompliance
import TanbaCore
import TanbaOps
import TanbaStore
import TanbaTestSupport
import Testing

final class TempDir {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-compliance-test-\(UUID().uuidString)")
    init() { try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite(.serialized) struct ComplianceCheckTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs")

    /// The issue-6 acceptance: every rule passes, at least 32 of them, each in the map.
    @Test func wholeCheckPassesEveryRule() async throws {
        let dir = TempDir()
        let start = ContinuousClock.now
        let report = await ComplianceCheck.run(directory: dir.url.path)
        let elapsed = ContinuousClock.now - start
        for r in report.rules where r.status != "pass" { Issue.record("\(r.id): \(r.evidence)") }
        #expect(report.failed == 0 && report.passed == report.rules.count)
        #expect(Set(report.rules.map(\.id)).count == report.rules.count, "a rule ID appears twice")
        #expect(report.rules.count >= 32, "only \(report.rules.count) rules")
        #expect(elapsed < .seconds(60), "the check took \(elapsed); CI budget is 60 s")
        // Each rule is in the compliance map with the scenario named, and evidence says
        // what both halves observed.
        let map = try String(contentsOf: Self.docs.appendingPathComponent("compliance.md"), encoding: .utf8)
        for r in report.rules {
            let row = map.split(separator: "\n").first { $0.hasPrefix("| \(r.id) |") }
            #expect(row?.contains("`compliance check`") == true, "\(r.id): no row naming the scenario in docs/compliance.md")
            #expect(r.evidence.contains("lawful: ") && r.evidence.contains("broken rule refused: "), "\(r.id): \(r.evidence)")
        }
    }

    /// The runner fails a rule whose negative twin goes through, or whose lawful case fails:
    /// a scenario can fail.
    @Test func ruleFailsWhenItsNegativeTwinIsAccepted() async throws {
        let dir = TempDir()
        let world = ComplianceWorld(directory: dir.url.path)
        let accepted = RuleScenario(id: "T-1", title: "t", layer: .store, lawful: { _ in "ok" }, violation: { _ in
            try await refused("a request that should be refused") { 42 }
        })
        let failing = RuleScenario(id: "T-2", title: "t", layer: .store, lawful: { _ in throw RuleBroken("lawful refused") },
                                   violation: { _ in "refused" })
        let r1 = await ComplianceCheck.run(accepted, in: world), r2 = await ComplianceCheck.run(failing, in: world)
        #expect(r1.status == "fail" && r1.evidence.contains("negative twin not refused") && r1.evidence.contains("was accepted"))
        #expect(r2.status == "fail" && r2.evidence.contains("lawful case failed"))
        // A real twin against a real rule: a 17-year-old citizen is refused by the station.
        let station = try StationKit(world)
        let minor = try await refused("a minor") { try station.check(try station.lawfulCase(station.subject(world.iin(age: 17)))) }
        #expect(minor.contains("BIO 4"))
    }

    @Test func onlyRunsTheNamedRules() async throws {
        let dir = TempDir()
        let report = await ComplianceCheck.run(directory: dir.url.path, only: ["ENR-2", "LEX-3"])
        #expect(report.rules.map(\.id) == ["ENR-2", "LEX-3"] && report.failed == 0)
    }
}

/// Starts the ops endpoint on a random loopback port, trying another when the port turns out
/// to be taken (the machine runs other servers beside the tests).
enum OpsServerFixture {
    static func start(_ endpoint: OpsEndpoint) async throws -> (base: String, server: Task<Void, any Error>) {
        var logger = Logger(label: "ops-test")
        logger.logLevel = .critical
        for _ in 0..<5 {
            let port = Int.random(in: 21000...39000)
            let app = try endpoint.application(listen: "127.0.0.1:\(port)", logger: logger)
            let server = Task { try await app.runService() }
            let base = "http://127.0.0.1:\(port)"
            if try await HTTPProbe.waitUntilUp(base) { return (base, server) }
            server.cancel()
        }
        throw OpsError("the ops endpoint did not come up on any of 5 ports")
    }
}

/// The subject report on the ops endpoint, over real HTTP, from a store the cluster wrote.
@Suite(.serialized) struct SubjectReportEndpointTests {
    func get(_ url: String, token: String? = nil) async throws -> (Int, String) { try await HTTPProbe.request(url, token: token) }

    @Test func showsTheOperationsOfThisTestAndHidesLawEnforcement() async throws {
        let dir = TempDir()
        let world = ComplianceWorld(directory: dir.url.path)
        let cluster = try await world.cluster()
        defer { Task { await world.shutdown() } }
        // What this test does to the person: a station enrolls and verifies them, an
        // investigator views the record on a criminal case, then the branch asks for the report.
        let iin = world.iin(age: 29)
        #expect(try await cluster.enroll(iin, LocalCluster.record(40, impression: 0)).outcome == .enrolled)
        #expect(try await cluster.verify(iin, LocalCluster.record(40, impression: 1)).isMatch)
        let access = try AccessWorld(world)
        try access.account("op-7", .branchOperator)
        try access.account("inv-7", .investigatorPolice)
        let investigator = try await access.session("inv-7", client: "ops-http")
        let look = try access.control.authorize(token: investigator, action: .viewRecord, basis: .legal(.criminal, caseNumber: "261500031000555"),
                                                subjectRef: cluster.store.subjectReference(iin))
        #expect(look.allowed)
        try SubjectReports.record(look, in: cluster.store, subject: iin)
        // Over HTTP only sessions of a login from the ops-http client node count; the same
        // operator's sessions from a station, or opened in-process, are refused there.
        let branch = try await access.session("op-7", client: "ops-http")
        let atStation = try await access.session("op-7", client: "station-1")
        let inProcess = try await access.session("op-7")

        let store = cluster.store, control = access.control
        let endpoint = OpsEndpoint(ready: { true }, metrics: { "" }, cluster: { "{}" }, subjectReport: { iin, request, session in
            SubjectReports.answer(store: store, control: control, session: session, iin: iin, request: request, httpClient: "ops-http")
        })
        let (base, server) = try await OpsServerFixture.start(endpoint)
        defer { server.cancel() }

        let url = base + "/subjects/\(iin.digits)/report?request=req-2026-11"
        let (status, body) = try await get(url, token: branch)
        #expect(status == 200, "\(body)")
        let report = try JSONDecoder().decode(SubjectReport.self, from: Data(body.utf8))
        #expect(report.actions.map(\.operation) == ["consent", "enroll", "verify"])   // the station's CONSENT is an action too
        #expect(report.actions.allSatisfy { $0.who == "station-1" && $0.at.hasSuffix("+05:00") })
        #expect(!body.contains("inv-7") && !body.contains("investigator") && !body.contains("261500031000555"))
        #expect(!body.contains(iin.digits), "the IIN is masked in the report")
        #expect(report.consentHolders.count == 1)

        #expect(try await get(url).0 == 401)
        #expect(try await get(url, token: "not-a-session").0 == 401)
        let fromStation = try await get(url, token: atStation)
        #expect(fromStation.0 == 401 && fromStation.1.contains("not-authenticated") && fromStation.1.contains("issued to client station-1")
                && !fromStation.1.contains("consent"), "\(fromStation)")
        let unbound = try await get(url, token: inProcess)
        #expect(unbound.0 == 401 && unbound.1.contains("in-process"), "\(unbound)")
        // The station's session still works where it was issued (the wire): only HTTP is closed to it.
        #expect(try control.authorize(token: atStation, claimedLogin: "op-7", claimedRole: "branch-operator", action: .verify,
                                      basis: .consent(reference: "c-1"), client: "station-1").allowed)
        let asInvestigator = try await get(url, token: investigator)
        #expect(asInvestigator.0 == 403 && asInvestigator.1.contains("action-not-allowed"))
        #expect(try await get(base + "/subjects/\(iin.digits)/report", token: branch).0 == 403, "no request reference")
        #expect(try await get(base + "/subjects/123/report?request=r", token: branch).0 == 400)
        // Every request, refused ones included, is in the store's log.
        let logged = try cluster.store.audit.entries().map(\.entry).filter { $0.operation == "subject-report" }
        #expect(logged.count == 6 && logged.filter { $0.result == "allowed" }.count == 1)
        #expect(logged.filter { $0.actor == "op-7" && $0.result.hasPrefix("refused: not-authenticated: not authenticated: the session was issued to") }.count == 2)
    }
}

/// The subject's own record [DACT 140] on the ops endpoint, over real HTTP, from a store the
/// cluster wrote: ISO/IEC 19794-2 templates per finger, capture facts, exceptions and a
/// manifest; gated like the report; audited as an export the subject report lists as a
/// transfer.
@Suite(.serialized) struct SubjectExportEndpointTests {
    @Test func exportsTheCurrentEnrollmentAsISOTemplatesWithAManifest() async throws {
        let dir = TempDir()
        let world = ComplianceWorld(directory: dir.url.path)
        let cluster = try await world.cluster()
        defer { Task { await world.shutdown() } }
        let iin = world.iin(age: 31)
        let record = LocalCluster.record(41, impression: 0)
        #expect(try await cluster.enroll(iin, record).outcome == .enrolled)
        let access = try AccessWorld(world)
        try access.account("op-8", .branchOperator)
        try access.account("inv-8", .investigatorPolice)
        let branch = try await access.session("op-8", client: "ops-http"), investigator = try await access.session("inv-8", client: "ops-http")
        let atStation = try await access.session("op-8", client: "station-1")

        let store = cluster.store, control = access.control
        let endpoint = OpsEndpoint(ready: { true }, metrics: { "" }, cluster: { "{}" }, subjectExport: { iin, request, session in
            SubjectExports.answer(store: store, control: control, session: session, iin: iin, request: request, httpClient: "ops-http")
        })
        let (base, server) = try await OpsServerFixture.start(endpoint)
        defer { server.cancel() }

        let url = base + "/subjects/\(iin.digits)/export?request=req-export-1"
        let (status, body) = try await HTTPProbe.request(url, token: branch)
        #expect(status == 200, "\(body)")
        let export = try JSONDecoder().decode(SubjectExports.Export.self, from: Data(body.utf8))
        let m = export.manifest
        #expect(m.format == SubjectExports.format && m.subject.iin == iin.digits && m.subject.fullName == "Compliance Person")
        #expect(m.request == "req-export-1" && m.exportedBy == "op-8" && m.role == "branch-operator" && m.exportedAt.hasSuffix("+05:00"))
        #expect(m.enrollment.branch == "Astana-Esil-3" && m.enrollment.station == "station-1" && m.enrollment.capturedAt.hasSuffix("+05:00"))
        // One ISO/IEC 19794-2 record per captured finger, as stored, with its digest.
        #expect(m.fingers.map(\.position) == LocalCluster.fingers.map { Int($0.rawValue) }.sorted())
        #expect(Set(export.files.keys) == Set(m.fingers.map(\.file)))
        for f in m.fingers {
            let bytes = [UInt8](export.files[f.file] ?? Data())
            #expect(TemplateCodec.detect(bytes) == .iso19794_2_2005 && f.format == "ISO/IEC 19794-2:2005", "\(f.file)")
            let decoded = try TemplateCodec.decode(bytes, as: .iso19794_2_2005)
            let stored = try #require(record.view(for: FingerPosition(rawValue: UInt8(f.position))!))
            #expect(decoded.views.count == 1 && decoded.views[0].minutiae.count == stored.minutiae.count && f.minutiae == stored.minutiae.count)
            #expect(f.sha256 == SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() && f.bytes == bytes.count)
        }
        // The six fingers not captured, with the reason the station gave.
        #expect(m.exceptions.count == 6 && m.exceptions.allSatisfy { $0.reason == "bandaged: compliance fixture: four-finger record" }, "\(m.exceptions)")
        let out = dir.url.appendingPathComponent("export").path
        try SubjectExports.write(export, to: out)
        #expect(FileManager.default.fileExists(atPath: out + "/manifest.json")
                && m.fingers.allSatisfy { FileManager.default.fileExists(atPath: out + "/" + $0.file) })

        // Gated like the report: an investigator, no session, no request, a stranger's IIN.
        let asInvestigator = try await HTTPProbe.request(url, token: investigator)
        #expect(asInvestigator.0 == 403 && asInvestigator.1.contains("action-not-allowed") && !asInvestigator.1.contains("fmr"))
        #expect(try await HTTPProbe.request(url).0 == 401)
        // A session the same operator opened at a station: refused over HTTP, nothing exported.
        let fromStation = try await HTTPProbe.request(url, token: atStation)
        #expect(fromStation.0 == 401 && fromStation.1.contains("issued to client station-1") && !fromStation.1.contains("fmr"), "\(fromStation)")
        #expect(try await HTTPProbe.request(base + "/subjects/\(iin.digits)/export", token: branch).0 == 403)
        let stranger = try await HTTPProbe.request(base + "/subjects/\(world.iin(age: 60).digits)/export?request=req-9", token: branch)
        #expect(stranger.0 == 404, "\(stranger)")

        // Audited: one entry per request; the export is a transfer in the person's report.
        let logged = try cluster.store.audit.entries().map(\.entry).filter { $0.operation == "export-own-record" }
        #expect(logged.count == 5 && logged[0].result.hasPrefix("allowed") && logged[0].result.contains("4 ISO/IEC 19794-2:2005 templates, 6 exceptions exported")
                && logged[2].result.hasPrefix("refused: not-authenticated: not authenticated: the session was issued to client station-1")
                && logged[4].result.hasSuffix("not enrolled, nothing exported"),
                "\(logged.map(\.result))")
        let report = try #require(try SubjectReports.report(store: store, control: control, token: branch, iin: iin, request: "req-2").value)
        #expect(report.actions.contains { $0.operation == "export-own-record" && $0.kind == .transfer && $0.who == "op-8" },
                "\(report.actions.map(\.operation))")
    }
}
