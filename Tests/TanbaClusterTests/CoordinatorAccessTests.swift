import Foundation
import TanbaAccess
import TanbaCluster
import TanbaCore
import TanbaStore
import Testing
import TanbaWire

/// Issue 6 at the coordinator: every IDENTIFY, VERIFY and VIEW_RECORD decided by the access
/// policy on the requester's session and basis, one audit entry per decision, branch
/// stations as branch operators, and the account lifecycle and incident journal on a
/// schedule. Over `EmbeddedTransport` (signed envelopes, the same code as nng).
@Suite(.serialized) struct CoordinatorAccessTests {
    static let criminalCase = "261500031000117"

    static func cluster(_ accounts: AccessAccounts) async throws -> Cluster {
        var options = Coordinator.Options()
        options.access = accounts.coordinatorAccess
        return try await Cluster(transport: EmbeddedTransport(), workers: 2, shards: 4, options: options)
    }

    /// The entries the coordinator wrote since `count`.
    static func newEntries(_ c: Cluster, after count: Int) throws -> [AuditEntry] {
        try c.coordinator.store.audit.entries().dropFirst(count).map(\.entry)
    }

    static func errorCode(_ answer: WireMessage) -> (WireErrorCode, String)? {
        if case .error(let code, let text) = answer { return (code, text) }
        return nil
    }

    /// Acceptance (a): all 19 authorities × 6 basis kinds, allowed exactly where the roles x
    /// basis table has a '+', plus Tanba's own roles — each request through the coordinator,
    /// each decision logged once with actor, role, basis, case number, operation and result.
    @Test func everyRoleAndBasisKindIsDecidedAtTheCoordinator() async throws {
        let accounts = try AccessAccounts()
        var tokens: [Role: String] = [:]
        for role in Role.allCases {
            try accounts.account("u-\(role.rawValue)", role)
            tokens[role] = try await accounts.session("u-\(role.rawValue)")
        }
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        _ = try await c.enroll(0)
        var allowedCells = 0, refusedCells = 0
        for role in Role.authorities {
            for kind in CaseKind.allCases {
                let before = try c.coordinator.store.audit.entries().count
                let requester = accounts.requester(tokens[role]!, "u-\(role.rawValue)", role, .init(kind), Self.criminalCase)
                let answer = try await c.answer(.identify(IdentifyRequest(probe: People.probe(0), topK: 3, requester: requester)))
                let logged = try Self.newEntries(c, after: before)
                #expect(logged.count == 1, "\(role.rawValue)/\(kind.rawValue): \(logged.count) audit entries")
                let entry = logged.first
                #expect(entry?.actor == "u-\(role.rawValue)" && entry?.role == role.rawValue && entry?.basis == kind.rawValue
                        && entry?.caseNumber == Self.criminalCase && entry?.operation == "identify"
                        && entry?.at.hasSuffix("+05:00") == true, "\(String(describing: entry))")
                if RolesTable.allows(role, kind) {
                    guard case .identifyAnswer(let a) = answer else {
                        Issue.record("\(role.rawValue) on \(kind.rawValue) refused: \(answer)"); continue
                    }
                    #expect(a.candidates.first?.iin == People.iin(0))
                    #expect(entry?.result.hasPrefix("allowed") == true && entry?.result.contains("candidates") == true, "\(entry?.result ?? "")")
                    allowedCells += 1
                } else {
                    let error = Self.errorCode(answer)
                    #expect(error?.0 == .accessDenied && error?.1.hasPrefix("basis-kind-not-allowed") == true,
                            "\(role.rawValue) on \(kind.rawValue): \(answer)")
                    #expect(entry?.result.hasPrefix("refused: basis-kind-not-allowed") == true)
                    refusedCells += 1
                }
            }
        }
        #expect(allowedCells == 45 && refusedCells == 69)

        // Tanba's own roles: only the examiner searches, and only for an adjudication.
        let own: [(Role, Requester.BasisKind, String, String?)] = [
            (.examiner, .adjudication, "adj-2026-1", nil),
            (.examiner, .criminal, Self.criminalCase, "wrong-basis-for-action"),
            (.branchOperator, .consent, "form-1", "action-not-allowed"),
            (.branchSupervisor, .subjectRequest, "req-1", "action-not-allowed"),
            (.auditor, .none, "", "action-not-allowed"),
            (.opsAdministrator, .none, "", "action-not-allowed"),
            (.supervisingProsecutor, .none, "", "action-not-allowed"),
        ]
        for (role, kind, reference, refusal) in own {
            let before = try c.coordinator.store.audit.entries().count
            let answer = try await c.answer(.identify(IdentifyRequest(probe: People.probe(0), topK: 3,
                                                                   requester: accounts.requester(tokens[role]!, "u-\(role.rawValue)", role, kind, reference))))
            let logged = try Self.newEntries(c, after: before)
            #expect(logged.count == 1 && logged.first?.role == role.rawValue)
            if let refusal {
                #expect(Self.errorCode(answer)?.0 == .accessDenied && Self.errorCode(answer)?.1.hasPrefix(refusal) == true,
                        "\(role.rawValue): \(answer)")
                #expect(logged.first?.result.hasPrefix("refused: \(refusal)") == true)
            } else {
                guard case .identifyAnswer = answer else { Issue.record("\(role.rawValue): \(answer)"); continue }
                #expect(logged.first?.basis == "adjudication" && logged.first?.caseNumber == reference)
            }
        }
    }

    /// A request without basis or case number is refused and logged; VERIFY and VIEW_RECORD
    /// are decided the same way, VIEW_RECORD shows identity and enrollment facts only.
    @Test func verifyAndViewRecordNeedABasisAndACaseNumber() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        let token = try await accounts.session("inv-1")
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        _ = try await c.enroll(1)
        let iin = People.iin(1)
        let ok = accounts.requester(token, "inv-1", .investigatorPolice, .criminal, Self.criminalCase)
        guard case .verifyAnswer(let v) = try await c.answer(.verify(VerifyRequest(claimedIIN: iin, probe: People.probe(1), requester: ok))) else {
            Issue.record("verify on a criminal case refused"); return
        }
        #expect(v.isMatch)
        guard case .recordAnswer(let view) = try await c.answer(.viewRecord(ViewRecordRequest(iin: iin, requester: ok))) else {
            Issue.record("record view refused"); return
        }
        #expect(view.iin == iin && view.fullName.contains("Test Person") && view.captured == People.fingers && view.missing.count == 6)
        let subject = c.coordinator.store.subjectReference(iin)
        let cases: [(Requester, String)] = [
            (accounts.requester(token, "inv-1", .investigatorPolice, .none, ""), "missing-basis"),
            (accounts.requester(token, "inv-1", .investigatorPolice, .criminal, "  "), "missing-case-number"),
            (accounts.requester(token, "inv-1", .investigatorPolice, .criminal, "see file"), "malformed-case-number"),
            (accounts.requester(token, "inv-1", .investigatorPolice, .civil, "2-117"), "basis-kind-not-allowed"),
        ]
        for (requester, code) in cases {
            for message in [WireMessage.verify(VerifyRequest(claimedIIN: iin, probe: People.probe(1), requester: requester)),
                            .viewRecord(ViewRecordRequest(iin: iin, requester: requester))] {
                let before = try c.coordinator.store.audit.entries().count
                let answer = try await c.answer(message)
                #expect(Self.errorCode(answer)?.0 == .accessDenied && Self.errorCode(answer)?.1.hasPrefix(code) == true, "\(code): \(answer)")
                let logged = try Self.newEntries(c, after: before)
                #expect(logged.count == 1 && logged[0].subjectRef == subject && logged[0].result.hasPrefix("refused: \(code)"),
                        "\(logged)")
            }
        }
    }

    /// A session that is not live, belongs to someone else, or whose agreement is unsigned
    /// is refused with ERROR 18; a dismissed officer's open session stops working at once.
    @Test func sessionProblemsAreRefusedAndLogged() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        try accounts.account("inv-2", .investigatorPolice)
        try accounts.account("bf-1", .bailiff)
        let t1 = try await accounts.session("inv-1")
        let unsigned = try await accounts.session("inv-2", agreement: false)
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        func ask(_ r: Requester) async throws -> (WireMessage, AuditEntry?) {
            let before = try c.coordinator.store.audit.entries().count
            let answer = try await c.answer(.identify(IdentifyRequest(probe: People.probe(2), topK: 3, requester: r)))
            let logged = try Self.newEntries(c, after: before)
            #expect(logged.count == 1)
            return (answer, logged.first)
        }
        let cases: [(Requester, String, String)] = [
            (accounts.requester(String(repeating: "00", count: 32), "inv-1", .investigatorPolice, .criminal, Self.criminalCase),
             "not-authenticated", "inv-1"),
            // inv-1's token presented as a bailiff's: the claim does not match the session.
            (accounts.requester(t1, "bf-1", .bailiff, .criminal, Self.criminalCase), "not-authenticated", "bf-1"),
            (accounts.requester(t1, "inv-1", .prosecutor, .civil, "2-1"), "not-authenticated", "inv-1"),
            (accounts.requester(unsigned, "inv-2", .investigatorPolice, .criminal, Self.criminalCase), "agreement-not-signed", "inv-2"),
        ]
        for (requester, code, actor) in cases {
            let (answer, entry) = try await ask(requester)
            #expect(Self.errorCode(answer)?.0 == .sessionRequired && Self.errorCode(answer)?.1.hasPrefix(code) == true, "\(answer)")
            #expect(entry?.actor == actor && entry?.result.hasPrefix("refused: \(code)") == true, "\(String(describing: entry))")
        }
        let good = accounts.requester(t1, "inv-1", .investigatorPolice, .criminal, Self.criminalCase)
        guard case .identifyAnswer = try await ask(good).0 else { Issue.record("a serving officer was refused"); return }
        try accounts.registry.dismiss("inv-1", reason: "order 17", by: "hr")
        let (after, entry) = try await ask(good)
        #expect(Self.errorCode(after)?.0 == .sessionRequired && entry?.result.hasPrefix("refused: not-authenticated") == true)
    }

    /// Branch stations keep working as branch operators: VERIFY at the counter on the
    /// person's consent, never a 1:N search, and no VERIFY once the consent is revoked.
    @Test func stationsVerifyOnConsentAndCannotSearch() async throws {
        let accounts = try AccessAccounts()
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        #expect(try await c.enroll(3).outcome == .enrolled)
        let iin = People.iin(3)
        var before = try c.coordinator.store.audit.entries().count
        guard case .verifyAnswer(let v) = try await c.answer(.verify(VerifyRequest(claimedIIN: iin, probe: People.probe(3)))) else {
            Issue.record("the station's VERIFY was refused"); return
        }
        #expect(v.isMatch)
        var logged = try Self.newEntries(c, after: before)
        let consentID = try c.coordinator.store.consents(iin: iin).last?.signed?.id
        #expect(logged.count == 1 && logged[0].actor == "station-1" && logged[0].role == "branch-operator" && logged[0].basis == "consent"
                && logged[0].caseNumber == consentID && logged[0].result == "allowed: match", "\(logged)")

        before = try c.coordinator.store.audit.entries().count
        let search = try await c.answer(.identify(IdentifyRequest(probe: People.probe(3), topK: 3)))
        #expect(Self.errorCode(search)?.0 == .accessDenied && Self.errorCode(search)?.1.hasPrefix("action-not-allowed") == true, "\(search)")
        logged = try Self.newEntries(c, after: before)
        #expect(logged.count == 1 && logged[0].result.hasPrefix("refused: action-not-allowed"))

        // The person revokes the consent: no more verification at the counter.
        let revocation = ConsentRevocation(subjectIIN: iin, subjectName: "Test Person \(iin)", date: EnrollmentRules(now: Date()).today,
                                           operatorEmployee: "op-1", branch: "astana-01", station: "station-1",
                                           formReference: "rev-1", deleteData: false)
        let document = revocation.canonicalJSON()
        _ = try await c.answer(.consent(ConsentRequest(iin: iin, action: .revoked, document: document,
                                                    signature: Array(try c.identities["station-1"]!.signingKey.signature(for: document)))))
        let refused = try await c.answer(.verify(VerifyRequest(claimedIIN: iin, probe: People.probe(3))))
        #expect(Self.errorCode(refused)?.0 == .accessDenied && Self.errorCode(refused)?.1.contains("no valid consent") == true, "\(refused)")
    }

    /// Proceedings registry checks reach the supervisor report: a case outside the user's
    /// proceedings is refused, an unknown user's case is allowed with a note, and the report
    /// built from the coordinator's audit log flags both [LEX 5, 9, 10].
    @Test func proceedingsChecksFeedTheSupervisorReport() async throws {
        let registry = StaticProceedings(["inv-1": [Self.criminalCase]])
        let accounts = try AccessAccounts(proceedings: registry)
        try accounts.account("inv-1", .investigatorPolice)
        try accounts.account("inv-9", .investigatorPolice)
        let t1 = try await accounts.session("inv-1"), t9 = try await accounts.session("inv-9")
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        let start = Date()
        let own = try await c.answer(.identify(IdentifyRequest(probe: People.probe(4), topK: 3,
                                                            requester: accounts.requester(t1, "inv-1", .investigatorPolice, .criminal, Self.criminalCase))))
        guard case .identifyAnswer = own else { Issue.record("own case refused: \(own)"); return }
        let foreign = try await c.answer(.identify(IdentifyRequest(probe: People.probe(4), topK: 3,
                                                                requester: accounts.requester(t1, "inv-1", .investigatorPolice, .criminal, "261500031000999"))))
        #expect(Self.errorCode(foreign)?.1.hasPrefix("case-not-in-user-proceedings") == true, "\(foreign)")
        let unknown = try await c.answer(.identify(IdentifyRequest(probe: People.probe(4), topK: 3,
                                                                requester: accounts.requester(t9, "inv-9", .investigatorPolice, .criminal, "261500031000555"))))
        guard case .identifyAnswer = unknown else { Issue.record("unverifiable case refused: \(unknown)"); return }
        let events = try c.coordinator.store.audit.entries().map(\.entry).map {
            AuditEvent(at: $0.at, actor: $0.actor, role: $0.role, basis: $0.basis, caseNumber: $0.caseNumber, operation: $0.operation,
                       subjectRef: $0.subjectRef, result: $0.result)
        }
        let report = SupervisorReport.build(events: events, from: start - 60, to: Date() + 60, proceedings: registry)
        #expect(report.totalRequests == 3)
        let flags = Set(report.flags.map { "\($0.kind.rawValue) \($0.caseNumber ?? "")" })
        #expect(flags.contains("case-not-in-proceedings 261500031000999") && flags.contains("case-unverified 261500031000555"), "\(flags)")
        #expect(!flags.contains { $0.hasSuffix(Self.criminalCase) })
    }

    /// Without an access layer a request on an authority's basis cannot be checked: refused
    /// and logged, never executed.
    @Test func withoutAnAccessLayerAuthorityRequestsAreRefused() async throws {
        let c = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2)
        defer { Task { await c.shutdown() } }
        let before = try c.coordinator.store.audit.entries().count
        let answer = try await c.answer(.identify(IdentifyRequest(probe: People.probe(5), topK: 3, requester: Requester(
            session: "x", account: "inv-1", role: "investigator-police", basis: .criminal, caseNumber: Self.criminalCase))))
        #expect(Self.errorCode(answer)?.0 == .accessDenied && Self.errorCode(answer)?.1.contains("access-not-configured") == true)
        let logged = try Self.newEntries(c, after: before)
        #expect(logged.count == 1 && logged[0].actor == "inv-1" && logged[0].caseNumber == Self.criminalCase)
    }

    /// Acceptance (b), the schedule: the housekeeping blocks an account idle for 60 days
    /// (injected clock), journals a worker outage once it lasts over an hour and closes it
    /// when the worker answers again; planned maintenance is announced for the status endpoint.
    @Test func housekeepingBlocksIdleAccountsAndJournalsOutages() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        try accounts.account("inv-2", .investigatorPolice)
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        var run = await c.coordinator.runAccessHousekeeping()
        #expect(run.blocked.isEmpty && run.incidents.isEmpty)
        #expect(Set(run.observed.map(\.component)) == ["worker-1", "worker-2", "identification", "store-replication"])
        #expect(run.observed.allSatisfy { $0.status == .up }, "\(run.observed)")

        // worker-2 dies; 30 minutes is no incident, 61 minutes is.
        let address = c.coordinator.map.worker(named: "worker-2")!.address
        await c.stopWorker("worker-2")
        run = await c.coordinator.runAccessHousekeeping()
        #expect(run.observed.first { $0.component == "worker-2" }?.status == .down && run.incidents.isEmpty)
        accounts.clock.advance(30 * 60)
        #expect(await c.coordinator.runAccessHousekeeping().incidents.isEmpty)
        accounts.clock.advance(31 * 60)
        run = await c.coordinator.runAccessHousekeeping()
        #expect(run.incidents.map(\.component) == ["worker-2"] && run.incidents.first?.endedAt == nil, "\(run.incidents)")
        #expect(try c.coordinator.announcements()?.openIncidents.map(\.component) == ["worker-2"])
        // It comes back: the incident is closed with its end.
        let (_, listener) = try await c.startWorker("worker-2", at: address)
        c.workerListeners["worker-2"] = listener
        accounts.clock.advance(10 * 60)
        run = await c.coordinator.runAccessHousekeeping()
        #expect(run.incidents.count == 1 && run.incidents[0].endedAt != nil, "\(run.incidents)")
        #expect(try accounts.journal.incidents().count == 1)

        // 60 days: inv-2 made a request 30 days in, inv-1 none.
        accounts.clock.advance(30 * 86400)
        try accounts.registry.recordRequest("inv-2")
        accounts.clock.advance(30 * 86400)
        run = await c.coordinator.runAccessHousekeeping()
        #expect(run.blocked == ["inv-1"], "\(run.blocked)")
        #expect(try accounts.registry.account("inv-1")?.state == .blocked && accounts.registry.account("inv-2")?.state == .active)

        let window = try accounts.journal.announceMaintenance(starts: accounts.clock.now + 2 * 86400, ends: accounts.clock.now + 2 * 86400 + 3600,
                                                              description: "store upgrade", by: "ops-1")
        #expect(try c.coordinator.announcements()?.maintenance == [window])
    }
}
