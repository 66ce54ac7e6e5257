import Crypto
import Foundation
import TanbaAccess
import TanbaCluster
import TanbaCore
import TanbaWire
import X509

/// A clock the scenarios move by hand (60-day rule, one-day deadlines, certificate expiry).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var date: Date
    init(_ d: Date) { date = d }
    var now: Date { lock.lock(); defer { lock.unlock() }; return date }
    func advance(_ s: TimeInterval) { lock.lock(); date += s; lock.unlock() }
    var clock: AccessClock { AccessClock { self.now } }
}

/// A fresh access database, a throwaway certification authority standing in for the
/// national CA, and a manual clock: one per scenario.
final class AccessWorld {
    let clock: ManualClock
    let registry: AccountRegistry
    let auth: Authenticator
    let control: AccessControl
    /// The incident journal in the same access database (the coordinator feeds it).
    let journal: IncidentJournal
    let caKey = P256.Signing.PrivateKey()
    let caCertificate: Certificate
    var keys: [String: P256.Signing.PrivateKey] = [:]
    var totps: [String: TOTP] = [:]
    private var serial = 0

    init(_ world: ComplianceWorld, proceedings: (any ProceedingsRegistry)? = nil) throws {
        clock = ManualClock(world.now)
        let path = world.path("access.db")
        registry = try AccountRegistry(path: path, key: SymmetricKey(size: .bits256), clock: clock.clock)
        journal = try IncidentJournal(path: path, clock: clock.clock)
        let name = try DistinguishedName { CommonName("Compliance CA") }
        caCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: clock.now - 3600, notValidAfter: clock.now + 10 * 365 * 86400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
            issuerPrivateKey: .init(caKey))
        auth = Authenticator(registry: registry, trust: try TrustedAuthorities(pems: [caCertificate.serializeAsPEM().pemString]))
        control = AccessControl(authenticator: auth, policy: AccessPolicy(proceedings: proceedings))
    }

    func certificate(for login: String, key: P256.Signing.PrivateKey, validFor: TimeInterval = 365 * 86400,
                     issuerKey: P256.Signing.PrivateKey? = nil) throws -> String {
        try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: clock.now - 60,
            notValidAfter: clock.now + validFor, issuer: caCertificate.subject, subject: try DistinguishedName { CommonName(login) },
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(), issuerPrivateKey: .init(issuerKey ?? caKey)
        ).serializeAsPEM().pemString
    }

    func applicant() -> Applicant {
        serial += 1
        var n = serial
        var made = IIN.make(birthDate: .init(year: 1980, month: 1, day: 2), sex: .female, serial: n)
        while made == nil { n += 1; made = IIN.make(birthDate: .init(year: 1980, month: 1, day: 2), sex: .female, serial: n) }
        return Applicant(fullName: "Test User \(serial)", iin: made!, organisation: "Org \(serial)", unit: "Unit",
                         position: "officer", contacts: "+7 700 000 00 00")
    }

    /// An approved account with a certificate and TOTP (agreement not yet signed).
    func account(_ login: String, _ role: Role, certificateValidFor: TimeInterval = 365 * 86400) throws {
        let id = try registry.submit(AccountApplication(login: login, role: role, action: .register, applicant: applicant(),
                                                        reason: "compliance scenario"))
        try registry.approve(id, by: "sp-0")
        let key = P256.Signing.PrivateKey()
        keys[login] = key
        try auth.registerCertificate(login, pem: try certificate(for: login, key: key, validFor: certificateValidFor), by: "sp-0")
        totps[login] = try registry.enrollTOTP(login, by: "sp-0")
    }

    /// `client`: log in as if over the wire from that node (challenge and session bound to it).
    func login(_ login: String, second: SecondFactor? = nil, signWith: P256.Signing.PrivateKey? = nil,
               client: String? = nil) async throws -> LoginResult {
        let c = try auth.challenge(for: login, client: client)
        let key = signWith ?? keys[login] ?? P256.Signing.PrivateKey()
        let factor = second ?? totps[login].map { .totp($0.code(at: clock.now)) } ?? SecondFactor.none
        return await auth.login(LoginAttempt(login: login, nonce: c.nonce,
                                             signature: Array(try key.signature(for: c.signedBytes).derRepresentation),
                                             secondFactor: factor, client: client))
    }

    func signAgreement(_ login: String, token: String, key: P256.Signing.PrivateKey? = nil) throws {
        let text = "Tanba user agreement v1"
        try auth.signAgreement(session: token, text: text,
                               signature: Array(try (key ?? keys[login]!).signature(for: Authenticator.agreementBytes(text: text, login: login)).derRepresentation))
    }

    /// Logged in with the agreement signed; returns the session token.
    func session(_ login: String, client: String? = nil) async throws -> String {
        let r = try await self.login(login, client: client)
        guard let s = r.session else { throw RuleBroken("login of \(login) failed: \(r.failure?.rawValue ?? "?")") }
        if !s.agreementSigned { try signAgreement(login, token: s.token) }
        clock.advance(30)  // the next login needs the next TOTP step (a code is accepted once)
        return s.token
    }
}

/// Checks that `decision` is a refusal with `code` that still carries its audit entry
/// (the coordinator logs refused requests too [LEX 37]).
func refusal(_ decision: AccessDecision, _ code: String) throws -> String {
    try require(!decision.allowed, "\(decision.audit.operation) by \(decision.audit.role) was allowed")
    try require(decision.refusal?.code == code, "refused with \(decision.refusal?.code ?? "-"), expected \(code)")
    try require(decision.audit.result.hasPrefix("refused: \(code)"), "the refusal's audit result is '\(decision.audit.result)'")
    return code
}

func allowed(_ decision: AccessDecision) throws {
    try require(decision.allowed, "\(decision.audit.operation) by \(decision.audit.role) refused: \(decision.reason)")
}

/// The access layer's rules (`TanbaAccess`): accounts, login, the roles x basis policy,
/// supervision, the incident journal.
enum AccessScenarios {
    static let criminalCase = "261500031000117"

    static let all: [RuleScenario] = [
        RuleScenario(id: "LEX-1", title: "Every request cites its basis kind and case number", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let before = try c.auditCount
            _ = try await c.identify(LocalCluster.record(300, impression: 1),
                                     as: try await c.requester("inv-1", .investigatorPolice, .criminal, criminalCase))
            let logged = try c.auditEntries(after: before)
            try require(logged.count == 1 && logged[0].basis == "criminal" && logged[0].caseNumber == criminalCase
                        && logged[0].result.hasPrefix("allowed"), "logged: \(logged)")
            return "IDENTIFY through the coordinator on criminal case \(criminalCase) answered, logged as basis '\(logged[0].basis)' case '\(logged[0].caseNumber ?? "")': \(logged[0].result)"
        }, violation: { world in
            let c = try await world.cluster()
            var seen: [String] = []
            for (kind, number, code) in [(Requester.BasisKind.none, "", "missing-basis"), (.criminal, " ", "missing-case-number"),
                                         (.criminal, "see file", "malformed-case-number")] {
                let before = try c.auditCount
                let probe = IdentifyRequest(probe: LocalCluster.record(301, impression: 1), topK: 5,
                                            requester: try await c.requester("inv-1", .investigatorPolice, kind, number))
                seen.append(try await c.refusedOverTheWire(.identify(probe), .accessDenied, code))
                let logged = try c.auditEntries(after: before)
                try require(logged.count == 1 && logged[0].result.hasPrefix("refused: \(code)"), "the refusal is not logged once: \(logged)")
            }
            return "coordinator: no basis, blank and malformed case numbers: \(seen.joined(separator: "; ")), each logged"
        }),
        RuleScenario(id: "LEX-2", title: "The basis is checked against the user's proceedings", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            _ = try await c.identify(LocalCluster.record(302, impression: 1),
                                     as: try await c.requester("inv-1", .investigatorPolice, .criminal, criminalCase))
            return "IDENTIFY through the coordinator on the user's own case \(criminalCase) answered"
        }, violation: { world in
            let c = try await world.cluster()
            let probe = IdentifyRequest(probe: LocalCluster.record(302, impression: 1), topK: 5,
                                        requester: try await c.requester("inv-1", .investigatorPolice, .criminal, "261500031000999"))
            let code = try await c.refusedOverTheWire(.identify(probe), .accessDenied, "case-not-in-user-proceedings")
            return "case 261500031000999 (not among inv-1's proceedings): \(code)"
        }),
        RuleScenario(id: "LEX-3", title: "The roles x basis table decides (19 bodies x 6 kinds)", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            var cells = 0
            for role in Role.authorities {
                for kind in CaseKind.allCases where RolesTable.allows(role, kind) {
                    _ = try await c.identify(LocalCluster.record(303, impression: 1),
                                             as: try await c.requester("lex3-\(role.rawValue)", role, Requester.BasisKind(kind), "1-2"))
                    for action in [Action.verify, .viewRecord] {
                        try allowed(AccessPolicy().decide(AccessRequest(login: "u", role: role, action: action, basis: .legal(kind, caseNumber: "1-2"))))
                    }
                    cells += 1
                }
            }
            return "all \(cells) '+' cells: IDENTIFY answered by the coordinator (verify and view-record allowed by the same policy)"
        }, violation: { world in
            let c = try await world.cluster()
            var cells = 0
            for role in Role.authorities {
                for kind in CaseKind.allCases where !RolesTable.allows(role, kind) {
                    let probe = IdentifyRequest(probe: LocalCluster.record(303, impression: 1), topK: 5,
                                                requester: try await c.requester("lex3-\(role.rawValue)", role, Requester.BasisKind(kind), "1-2"))
                    _ = try await c.refusedOverTheWire(.identify(probe), .accessDenied, "basis-kind-not-allowed")
                    cells += 1
                }
            }
            return "all \(cells) empty cells refused by the coordinator (ERROR 17 basis-kind-not-allowed), e.g. a bailiff on a criminal case"
        }),
        RuleScenario(id: "LEX-4", title: "Access on an application, decided within one day, refusals reasoned", layer: .access, lawful: { world in
            let w = try AccessWorld(world)
            let id = try w.registry.submit(AccountApplication(login: "j-1", role: .judge, action: .register, applicant: w.applicant(),
                                                              reason: "new judge of the district court"))
            w.clock.advance(3 * 3600)
            try w.registry.approve(id, by: "sp-0")
            let status = try w.registry.application(id)
            try require(status?.withinDeadline == true, "a decision 3 h after the application is not within the deadline")
            try require(try w.registry.account("j-1")?.state == .active, "approval did not create an active account")
            return "application decided after 3 h (within the day); account j-1 active"
        }, violation: { world in
            let w = try AccessWorld(world)
            let id = try w.registry.submit(AccountApplication(login: "j-2", role: .judge, action: .register, applicant: w.applicant(),
                                                              reason: "r"))
            w.clock.advance(25 * 3600)
            try require(try w.registry.overdueApplications().map(\.id) == [id], "the application undecided for 25 h is not listed as overdue")
            let unreasoned = try await refused("a refusal without a reason") { try w.registry.refuse(id, reason: " ", by: "sp-0") }
            return "undecided after 25 h: listed overdue; refusal without a reason: \(unreasoned)"
        }),
        RuleScenario(id: "LEX-5", title: "A change of position is recorded; reports after 24 h are marked late", layer: .access, lawful: { world in
            let w = try AccessWorld(world)
            try w.account("inv-1", .investigatorPolice)
            try w.registry.changePosition("inv-1", position: "head of unit", effective: w.clock.now - 3600, by: "hr")
            let change = try w.registry.events(for: "inv-1").last { $0.kind == "position-changed" }
            try require(change != nil && !change!.detail.contains("after 24"), "the timely change was not recorded or marked late")
            return "change effective 1 h ago recorded: \(change!.detail)"
        }, violation: { world in
            let w = try AccessWorld(world)
            try w.account("inv-1", .investigatorPolice)
            try w.registry.changePosition("inv-1", position: "deputy", effective: w.clock.now - 3 * 86400, by: "hr")
            let change = try w.registry.events(for: "inv-1").last { $0.kind == "position-changed" }
            try require(change?.detail.contains("after 24") == true, "a change reported 3 days late is not marked: \(change?.detail ?? "none")")
            return "change reported 3 days late marked: \(change!.detail)"
        }),
        RuleScenario(id: "LEX-6", title: "Dismissal or suspension blocks the account at once", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            _ = try await c.identify(LocalCluster.record(304, impression: 1),
                                     as: try await c.requester("inv-6", .investigatorPolice, .criminal, criminalCase))
            return "serving officer: IDENTIFY through the coordinator answered"
        }, violation: { world in
            let c = try await world.cluster()
            let dismissed = try await c.requester("inv-6a", .investigatorPolice, .criminal, criminalCase)
            _ = try await c.session("inv-6b", .investigatorPolice)
            try c.access.registry.dismiss("inv-6a", reason: "order 1", by: "hr")
            try c.access.registry.dismiss("inv-6b", reason: "order 2", suspension: true, by: "hr")
            let open = try await c.refusedOverTheWire(.identify(IdentifyRequest(probe: LocalCluster.record(304, impression: 1), topK: 5,
                                                                                requester: dismissed)), .sessionRequired, "not-authenticated")
            let again = try await c.access.login("inv-6a"), suspended = try await c.access.login("inv-6b")
            try require(again.failure == .blocked && suspended.failure == .blocked, "a dismissed or suspended officer could log in")
            return "dismissed: open session at the coordinator \(open), new login \(again.failure!.rawValue); suspended: login \(suspended.failure!.rawValue)"
        }),
        RuleScenario(id: "LEX-7", title: "60 days without requests block the account automatically", layer: .cluster, lawful: { world in
            // A cluster of its own: the access clock moves by months here.
            let c = try await world.ownCluster("lex7")
            try c.access.account("inv-1", .investigatorPolice)
            c.access.clock.advance(59 * 86400)
            let sweep = await c.coordinator.runAccessHousekeeping()
            let session = try await c.wireLogin("inv-1").get()
            _ = try await c.identify(LocalCluster.record(307, impression: 1), as: Requester(
                session: session.session, account: "inv-1", role: session.role, basis: .criminal, caseNumber: criminalCase))
            try require(sweep.blocked.isEmpty, "the coordinator's sweep blocked \(sweep.blocked) after 59 days")
            return "idle 59 days: the coordinator's scheduled sweep blocks nobody; wire login and IDENTIFY through the coordinator answered"
        }, violation: { world in
            let c = try await world.ownCluster("lex7")
            for login in ["inv-2", "inv-3", "inv-4"] { try c.access.account(login, .investigatorPolice) }
            c.access.clock.advance(30 * 86400)
            // inv-3 works: a login and a request 30 days in.
            let active = try await c.wireLogin("inv-3").get()
            _ = try await c.identify(LocalCluster.record(307, impression: 1), as: Requester(
                session: active.session, account: "inv-3", role: active.role, basis: .criminal, caseNumber: criminalCase))
            c.access.clock.advance(30 * 86400 + 60)
            // Before the sweep has run: the login itself refuses the idle account.
            guard case .failure(.remote(let code, let text)) = try await c.wireLogin("inv-4"), code == .accountLocked,
                  text.hasPrefix("blocked") else { throw RuleBroken("an account idle 60 days logged in over the wire") }
            let sweep = await c.coordinator.runAccessHousekeeping()
            try require(sweep.blocked.contains("inv-2") && !sweep.blocked.contains("inv-3"),
                        "the coordinator's sweep blocked \(sweep.blocked), expected inv-2 and not inv-3")
            guard case .failure(.remote(let after, _)) = try await c.wireLogin("inv-2"), after == .accountLocked else {
                throw RuleBroken("the swept account still logs in")
            }
            return "idle 60 days: wire login refused before the sweep (ERROR 22 blocked); the coordinator's sweep blocked \(sweep.blocked.sorted()), then their login is refused too; inv-3 (request 30 days ago) kept"
        }),
        RuleScenario(id: "LEX-8", title: "A violation blocks at once; the prosecutor and management are informed", layer: .access, lawful: { world in
            let w = try AccessWorld(world)
            try w.account("inv-1", .investigatorPolice)
            try require(try w.registry.account("inv-1")?.state == .active && (try w.registry.notices(for: "inv-1")).isEmpty,
                        "a user without violations is blocked or has notices")
            return "no violation: account active, no notices"
        }, violation: { world in
            let w = try AccessWorld(world)
            try w.account("inv-1", .investigatorPolice)
            let t = try await w.session("inv-1")
            try w.registry.reportViolation("inv-1", description: "requests on a foreign case", by: "sp-0")
            let code = try refusal(try w.control.authorize(token: t, action: .identify, basis: .legal(.criminal, caseNumber: criminalCase)),
                                   "not-authenticated")
            let notices = try w.registry.notices(for: "inv-1")
            try require(try w.registry.account("inv-1")?.state == .blocked, "not blocked")
            try require(Set(notices.map(\.recipient)) == [.supervisingProsecutor, .management], "notices to \(notices.map(\.recipient))")
            return "blocked, open session \(code); notices to \(notices.map(\.recipient.rawValue).sorted().joined(separator: " and "))"
        }),
        RuleScenario(id: "LEX-9", title: "The user agreement is signed at first login and stored with its date", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let r = try await c.requester("inv-9", .investigatorPolice, .criminal, criminalCase)
            let stored = try c.access.auth.agreement(of: "inv-9")
            try require(stored?.signedAt.hasSuffix("+05:00") == true && stored?.digest.isEmpty == false, "agreement or its date not stored")
            _ = try await c.identify(LocalCluster.record(305, impression: 1), as: r)
            return "signed with the certificate key at \(stored!.signedAt); IDENTIFY through the coordinator answered"
        }, violation: { world in
            let c = try await world.cluster()
            try c.access.account("inv-9u", .investigatorPolice)
            guard let t = try await c.access.login("inv-9u").session?.token else { throw RuleBroken("login failed") }
            c.access.clock.advance(30)
            let before = try await c.refusedOverTheWire(.identify(IdentifyRequest(probe: LocalCluster.record(305, impression: 1), topK: 5,
                requester: Requester(session: t, account: "inv-9u", role: Role.investigatorPolice.rawValue, basis: .criminal, caseNumber: criminalCase))),
                .sessionRequired, "agreement-not-signed")
            let forged = try await refused("an agreement signed with another key") {
                try c.access.signAgreement("inv-9u", token: t, key: P256.Signing.PrivateKey())
            }
            return "IDENTIFY before signing: \(before); signature by another key: \(forged)"
        }),
        RuleScenario(id: "LEX-10", title: "Login needs a certificate of the trusted CA plus a one-time code or fingerprint", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            try c.access.account("inv-10", .investigatorPolice)
            let before = try c.auditCount
            let session = try await c.wireLogin("inv-10").get()
            let logged = try c.auditEntries(after: before)
            try require(session.secondFactor == "totp" && logged.count == 1 && logged[0].operation == "login" && logged[0].result.hasPrefix("allowed"),
                        "login not logged once: \(logged)")
            return "investigator: LOGIN_CHALLENGE signed with the certificate key + one-time code over the wire: session opened (\(session.secondFactor)), logged '\(logged[0].result)'"
        }, violation: { world in
            let c = try await world.cluster()
            try c.access.account("inv-10a", .investigatorPolice)
            try c.access.account("inv-10e", .investigatorPolice, certificateValidFor: 86400)
            var seen: [String] = []
            for (what, login, key, factor, code, failure) in [
                ("no second factor", "inv-10a", nil as P256.Signing.PrivateKey?, LoginRequest.SecondFactor.none as LoginRequest.SecondFactor?,
                 WireErrorCode.secondFactorRefused, "second-factor-required"),
                ("another key", "inv-10a", P256.Signing.PrivateKey(), nil, .loginRefused, "bad-signature"),
            ] {
                let before = try c.auditCount
                guard case .failure(.remote(let got, let text)) = try await c.wireLogin(login, key: key, factor: factor) else {
                    throw RuleBroken("login with \(what) opened a session")
                }
                try require(got == code && text.hasPrefix(failure), "\(what): ERROR \(got.rawValue) \(text)")
                try require(try c.auditEntries(after: before).map(\.result) == ["refused: \(failure) from station-1"], "\(what): not logged")
                seen.append("\(what): ERROR \(got.rawValue) \(failure)")
            }
            // An expired certificate: its own access world, so the shared clock stays put.
            let w = try AccessWorld(world)
            try w.account("inv-2", .investigatorPolice, certificateValidFor: 86400)
            w.clock.advance(2 * 86400)
            let expired = try await w.login("inv-2")
            let foreign = try await refused("a certificate from another CA") {
                try w.auth.registerCertificate("inv-2", pem: try w.certificate(for: "inv-2", key: P256.Signing.PrivateKey(),
                                                                               issuerKey: P256.Signing.PrivateKey()), by: "x")
            }
            try require(expired.failure == .certificateExpired, "a login with an expired certificate passed")
            return "over the wire: \(seen.joined(separator: "; ")), each logged | expired certificate: \(expired.failure!.rawValue); registering a certificate of another CA: \(foreign)"
        }),
        RuleScenario(id: "LEX-14", title: "Supervisor reports flag requests outside the user's proceedings", layer: .access, lawful: { _ in
            let r = supervisorReport(cases: ["A-1"])
            try require(r.totalRequests == 1 && r.flags.isEmpty, "a request on the user's own case was flagged")
            return "1 request on the user's own case A-1, no flags"
        }, violation: { _ in
            let r = supervisorReport(cases: ["A-1", "B-2"])
            let flagged = r.flags.filter { $0.kind == .caseNotInProceedings }.compactMap(\.caseNumber)
            try require(flagged == ["B-2"], "flags \(flagged)")
            try require(r.csv().contains("case-not-in-proceedings") && r.html().contains("B-2") && (try r.json()).contains("B-2"),
                        "an output format misses the flag")
            return "case B-2 outside the proceedings flagged in JSON, CSV and HTML"
        }),
        RuleScenario(id: "LEX-15", title: "Outages over one hour are journaled with start, cause, actions and end", layer: .cluster, lawful: { world in
            // A cluster of its own: the coordinator's scheduled housekeeping observes its
            // workers; the access clock moves by hours.
            let c = try await world.ownCluster("lex15")
            let restart = try await c.stopWorker("worker-2")
            let down = await c.coordinator.runAccessHousekeeping()
            try require(down.observed.contains { $0.component == "worker-2" && $0.status == .down }, "worker-2 not observed down")
            c.access.clock.advance(90 * 60)
            try await restart()
            let up = await c.coordinator.runAccessHousekeeping()
            guard let incident = up.incidents.first(where: { $0.component == "worker-2" }), let end = incident.endedAt else {
                throw RuleBroken("the 90-minute outage of worker-2 was not journaled with its end: \(up.incidents)")
            }
            try require(!incident.cause.isEmpty && !incident.actions.isEmpty, "incident without cause or actions: \(incident)")
            return "worker-2 stopped 90 min: the coordinator's housekeeping journaled it: \(incident.startedAt) – \(end), cause '\(incident.cause)'"
        }, violation: { world in
            let c = try await world.ownCluster("lex15")
            // A 30-minute interruption is no incident; an outage still going on after 2 h is
            // journaled as open and announced on the status endpoint.
            let restart = try await c.stopWorker("worker-1")
            _ = await c.coordinator.runAccessHousekeeping()
            c.access.clock.advance(30 * 60)
            try await restart()
            let short = await c.coordinator.runAccessHousekeeping()
            try require(!short.incidents.contains { $0.component == "worker-1" }, "a 30-minute interruption became an incident")
            _ = try await c.stopWorker("worker-1")
            _ = await c.coordinator.runAccessHousekeeping()
            c.access.clock.advance(2 * 3600)
            let long = await c.coordinator.runAccessHousekeeping()
            let open = try c.coordinator.announcements()?.openIncidents ?? []
            try require(long.incidents.contains { $0.component == "worker-1" && $0.endedAt == nil } && open.contains { $0.component == "worker-1" },
                        "an outage of 2 h is not journaled and announced: \(long.incidents), status \(open)")
            return "30-minute interruption: no incident; worker-1 down 2 h: journaled as open (start \(open.first { $0.component == "worker-1" }!.startedAt)) and announced on GET /status"
        }),
        RuleScenario(id: "LEX-16", title: "Planned maintenance is announced in advance", layer: .access, lawful: { world in
            let clock = ManualClock(world.now)
            let j = try IncidentJournal(path: world.path("journal.db"), clock: clock.clock)
            let w = try j.announceMaintenance(starts: clock.now + 2 * 86400, ends: clock.now + 2 * 86400 + 3600, description: "upgrade", by: "ops")
            try require(try j.announcements().maintenance == [w], "the announcement is not on the status page")
            return "maintenance 48 h ahead announced and shown on the status page"
        }, violation: { world in
            let clock = ManualClock(world.now)
            let j = try IncidentJournal(path: world.path("journal.db"), clock: clock.clock)
            let late = try await refused("maintenance announced 10 minutes ahead") {
                try j.announceMaintenance(starts: clock.now + 600, ends: clock.now + 4000, description: "now", by: "ops")
            }
            return "10 minutes ahead: \(late)"
        }),
        RuleScenario(id: "LEX-17", title: "Users and their requests disclosed only to the supervising prosecutor on a documented request", layer: .access, lawful: { world in
            let w = try AccessWorld(world)
            try w.account("sp-1", .supervisingProsecutor)
            try w.account("inv-1", .investigatorPolice)
            let g = try w.control.userActivity(token: try await w.session("sp-1"), of: "inv-1", documentedRequest: "PG-2026-17")
            try require(g.value?.isEmpty == false, "the supervising prosecutor got nothing")
            return "supervising prosecutor with request PG-2026-17: \(g.value!.count) events of inv-1"
        }, violation: { world in
            let w = try AccessWorld(world)
            try w.account("sp-1", .supervisingProsecutor)
            try w.account("aud-1", .auditor)
            try w.account("pr-1", .prosecutor)
            let auditor = try w.control.userActivity(token: try await w.session("aud-1"), of: "sp-1", documentedRequest: "PG-1")
            let prosecutor = try w.control.userActivity(token: try await w.session("pr-1"), of: "aud-1", documentedRequest: "PG-1")
            let undocumented = try w.control.userActivity(token: try await w.session("sp-1"), of: "aud-1", documentedRequest: "")
            try require(auditor.value == nil && prosecutor.value == nil && undocumented.value == nil, "user activity disclosed")
            return "auditor: \(try refusal(auditor.decision, "action-not-allowed")); case prosecutor: \(try refusal(prosecutor.decision, "action-not-allowed")); supervising prosecutor without a documented request: \(try refusal(undocumented.decision, "missing-case-number"))"
        }),
        RuleScenario(id: "STO-4", title: "Each role acts only for its purpose", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let iin = world.iin(age: 36)
            try require(try await c.enroll(iin, LocalCluster.record(306, impression: 0)).outcome == .enrolled, "not enrolled")
            let v = try await c.verify(iin, LocalCluster.record(306, impression: 1))
            let found = try await c.identify(LocalCluster.record(306, impression: 1))
            try require(v.isMatch && found.candidates.first?.iin == iin, "verify \(v.isMatch), identify \(found.candidates.map(\.iin))")
            return "branch station: ENROLL and VERIFY on the person's consent; examiner: 1:N search for an adjudication — all through the coordinator"
        }, violation: { world in
            let c = try await world.cluster()
            let search = try await c.refusedOverTheWire(.identify(IdentifyRequest(probe: LocalCluster.record(306, impression: 1), topK: 5)),
                                                        .accessDenied, "action-not-allowed")
            let ops = try await c.refusedOverTheWire(.viewRecord(ViewRecordRequest(iin: world.iin(age: 36),
                requester: try await c.requester("ops-1", .opsAdministrator, .none, ""))), .accessDenied, "action-not-allowed")
            let judge = try refusal(AccessPolicy().decide(AccessRequest(login: "j", role: .judge, action: .enroll,
                                                                        basis: .legal(.civil, caseNumber: "2-1"))), "action-not-allowed")
            return "branch station's 1:N search: \(search); operations reading a record: \(ops); a judge enrolling: \(judge)"
        }),
        RuleScenario(id: "CON-6", title: "Multi-factor authentication is required", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            try c.access.account("op-6", .branchOperator)
            let session = try await c.wireLogin("op-6").get()
            return "branch operator: certificate + TOTP over the wire (LOGIN_CHALLENGE, LOGIN): session opened (\(session.secondFactor))"
        }, violation: { world in
            let c = try await world.cluster()
            try c.access.account("op-6a", .branchOperator)
            guard case .failure(.remote(let one, let oneText)) = try await c.wireLogin("op-6a", factor: LoginRequest.SecondFactor.none) else {
                throw RuleBroken("a certificate alone opened a session")
            }
            let code = c.access.totps["op-6a"]!.code(at: c.access.clock.now)
            _ = try await c.wireLogin("op-6a", factor: .totp(code)).get()
            c.access.clock.advance(-30)   // back into the same 30-s step: only the code is replayed
            guard case .failure(.remote(let replay, let replayText)) = try await c.wireLogin("op-6a", factor: .totp(code)) else {
                throw RuleBroken("a replayed one-time code opened a session")
            }
            try require(one == .secondFactorRefused && oneText.hasPrefix("second-factor-required") && replay == .secondFactorRefused
                        && replayText.hasPrefix("code-reused"), "refusals: \(one.rawValue) \(oneText); \(replay.rawValue) \(replayText)")
            return "certificate only: ERROR 24 second-factor-required; replayed one-time code: ERROR 24 code-reused"
        }),
        RuleScenario(id: "CON-5", title: "The subject obtains their own dactyloscopic record in digital form", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let iin = try await exportedPerson(world, c)
            let token = try await c.session("op-5", .branchOperator)
            guard case .exported(let export) = try SubjectExports.export(store: c.store, control: c.access.control, token: token, iin: iin,
                                                                       request: "req-export-5") else { throw RuleBroken("the export was refused") }
            let files = export.manifest.fingers
            try require(files.count == LocalCluster.fingers.count && files.allSatisfy { TemplateCodec.detect(Array(export.files[$0.file] ?? Data())) == .iso19794_2_2005 }
                        && export.manifest.exceptions.count == 6, "export: \(files.count) files, \(export.manifest.exceptions.count) exceptions")
            let report = try SubjectReports.report(store: c.store, control: c.access.control, token: token, iin: iin, request: "req-5b").value
            try require(report?.actions.contains { $0.operation == "export-own-record" && $0.kind == .transfer } == true,
                        "the export is not in the subject's report")
            return "branch operator on the person's request: \(files.count) ISO/IEC 19794-2 templates, \(export.manifest.exceptions.count) exceptions and a manifest with SHA-256s; logged and listed as a transfer in the subject report"
        }, violation: { world in
            let c = try await world.cluster()
            let iin = try await exportedPerson(world, c)
            let before = try c.auditCount
            let investigator = try SubjectExports.export(store: c.store, control: c.access.control,
                                                         token: try await c.session("inv-5", .investigatorPolice), iin: iin, request: "req-5")
            let unreferenced = try SubjectExports.export(store: c.store, control: c.access.control,
                                                         token: try await c.session("op-5", .branchOperator), iin: iin, request: "")
            guard case .refused(let a) = investigator, case .refused(let b) = unreferenced else { throw RuleBroken("an export was not refused") }
            let logged = try c.auditEntries(after: before)
            try require(logged.count == 2 && logged.allSatisfy { $0.operation == "export-own-record" && $0.result.hasPrefix("refused") },
                        "the refusals are not logged: \(logged)")
            return "an investigator: \(try refusal(a, "action-not-allowed")); without the person's request: \(try refusal(b, "missing-case-number")); both logged"
        }),
    ]

    /// A new account logs in with its certificate and a one-time code (throws if refused).
    static func bothFactors(_ world: ComplianceWorld, _ login: String, _ role: Role) async throws {
        let w = try AccessWorld(world)
        try w.account(login, role)
        let r = try await w.login(login)
        try require(r.session != nil, "certificate + TOTP login of \(login) refused: \(r.failure?.rawValue ?? "")")
    }

    /// A person enrolled through the shared cluster for the export scenario, once per run.
    static func exportedPerson(_ world: ComplianceWorld, _ c: LocalCluster) async throws -> IIN {
        if let iin = world.memo["exported"] as? IIN { return iin }
        let iin = world.iin(age: 46)
        try require(try await c.enroll(iin, LocalCluster.record(308, impression: 0)).outcome == .enrolled, "not enrolled")
        world.memo["exported"] = iin
        return iin
    }

    static func supervisorReport(cases: [String]) -> SupervisorReport {
        let events = cases.enumerated().map { i, c in
            AuditEvent(at: "2026-11-02T1\(i):00:00.000+05:00", actor: "inv-1", role: "investigator-police", basis: "criminal",
                       caseNumber: c, operation: "identify", result: "allowed")
        }
        return SupervisorReport.build(events: events, from: AstanaTime.parse("2026-11-01T00:00:00.000+05:00")!,
                                      to: AstanaTime.parse("2026-12-01T00:00:00.000+05:00")!,
                                      proceedings: StaticProceedings(["inv-1": ["A-1"]]))
    }
}
