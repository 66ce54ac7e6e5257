import Crypto
import Foundation
import TanbaAccess
import TanbaCluster
import TanbaCore
import TanbaStore
import Testing
import TanbaWire
import X509

/// Login over the wire (LOGIN_CHALLENGE 0x0D, LOGIN 0x0E, LOGOUT 0x0F) at the coordinator:
/// certificate signature over a client-bound challenge plus a one-time code, typed refusals
/// (ERROR 21–24), one store audit entry per attempt, and the session it opens used for
/// IDENTIFY from the same client. Over `EmbeddedTransport` (signed envelopes, the code
/// that runs over nng; the nng + mutual TLS run is in `AccessOverNNGTests`).
@Suite(.serialized) struct WireLoginTests {
    static let criminalCase = "261500031000117"

    static func cluster(_ accounts: AccessAccounts) async throws -> Cluster {
        var options = Coordinator.Options()
        options.access = accounts.coordinatorAccess
        return try await Cluster(transport: EmbeddedTransport(), workers: 2, shards: 4, extraNames: ["client-2"], options: options)
    }

    /// A second client node in the coordinator's keyring.
    static func otherClient(_ c: Cluster) -> SignedCaller {
        SignedCaller(identity: c.identities["client-2"]!, keyring: c.keyring, transport: c.transport)
    }

    static func answer(_ caller: SignedCaller, _ c: Cluster, _ message: WireMessage) async throws -> WireMessage {
        do { return try await caller.call(message, to: "coordinator", at: c.coordinatorAddress, deadline: .seconds(30)) }
        catch SignedCaller.CallError.remote(let code, let text) { return .error(code: code, message: text) }
    }

    static func challenge(_ caller: SignedCaller, _ c: Cluster, _ login: String) async throws -> LoginChallengeAnswer {
        let answer = try await answer(caller, c, .login(.challenge(account: login)))
        guard case .login(.challengeAnswer(let a)) = answer else { throw TestFailure("no challenge for \(login): \(answer)") }
        return a
    }

    /// LOGIN for `challenge`, signed by `key` for `client` (defaults: the account's own key,
    /// the caller's node name), with `factor` (default: the current one-time code).
    static func login(_ accounts: AccessAccounts, _ caller: SignedCaller, _ c: Cluster, _ login: String,
                      challenge: LoginChallengeAnswer, key: P256.Signing.PrivateKey? = nil, factor: LoginRequest.SecondFactor? = nil,
                      acceptAgreement: Bool = true) async throws -> WireMessage {
        let k = key ?? accounts.keys[login] ?? P256.Signing.PrivateKey()
        let signature = Array(try k.signature(for: LoginRequest.signedBytes(account: login, client: caller.identity.name,
                                                                              nonce: challenge.nonce)).derRepresentation)
        let agreement = acceptAgreement
            ? Array(try k.signature(for: LoginRequest.agreementBytes(account: login, text: challenge.agreementText)).derRepresentation) : []
        let code = factor ?? accounts.totps[login].map { .totp($0.code(at: accounts.clock.now)) } ?? LoginRequest.SecondFactor.none
        return try await answer(caller, c, .login(.login(LoginRequest(account: login, nonce: challenge.nonce, signature: signature,
                                                                     secondFactor: code, agreementSignature: agreement))))
    }

    static func loginEntries(_ c: Cluster, after count: Int) throws -> [AuditEntry] {
        try c.coordinator.store.audit.entries().dropFirst(count).map(\.entry).filter { $0.operation == "login" }
    }

    static func identify(_ caller: SignedCaller, _ c: Cluster, token: String, login: String = "inv-1",
                         role: Role = .investigatorPolice) async throws -> WireMessage {
        try await answer(caller, c, .identify(IdentifyRequest(probe: People.probe(3), topK: 3, requester: Requester(
            session: token, account: login, role: role.rawValue, basis: .criminal, caseNumber: criminalCase))))
    }

    /// A first login that also accepts the user agreement opens a session that IDENTIFY
    /// accepts from the same client — and only from it; logout and expiry end it. A login
    /// that does not accept the agreement gets a session with which every request is
    /// refused until it is signed.
    @Test func loginOpensASessionThatIdentifyAcceptsFromThatClientOnly() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        try accounts.account("inv-2", .investigatorPolice)
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        _ = try await c.enroll(3)

        // First login without accepting the agreement: a session, but nothing may be asked.
        let before = try c.coordinator.store.audit.entries().count
        let challenge = try await Self.challenge(c.station, c, "inv-2")
        #expect(challenge.agreementText == CoordinatorAccess.defaultAgreement && challenge.expiresAt.hasSuffix("+05:00"))
        guard case .login(.loginAnswer(let unsigned)) = try await Self.login(accounts, c.station, c, "inv-2", challenge: challenge,
                                                                          acceptAgreement: false) else {
            Issue.record("login without the agreement refused"); return
        }
        #expect(!unsigned.agreementSigned && unsigned.agreementSignedAt.isEmpty && unsigned.role == "investigator-police")
        let notSigned = try await Self.identify(c.station, c, token: unsigned.session, login: "inv-2")
        #expect(WireLoginTests.error(notSigned)?.0 == .sessionRequired && WireLoginTests.error(notSigned)?.1.hasPrefix("agreement-not-signed") == true,
                "\(notSigned)")
        accounts.clock.advance(30)

        // The client helper: challenge, signature, code and the agreement accepted in one go.
        let (_, session) = try await c.station.login(
            account: "inv-1", secondFactor: .totp(accounts.totps["inv-1"]!.code(at: accounts.clock.now)), acceptAgreement: true,
            sign: { Array(try accounts.keys["inv-1"]!.signature(for: $0).derRepresentation) },
            to: "coordinator", at: c.coordinatorAddress, deadline: .seconds(30))
        #expect(session.account == "inv-1" && session.role == "investigator-police" && session.secondFactor == "totp")
        #expect(session.agreementSigned && session.agreementSignedAt.hasSuffix("+05:00") && session.session.count == 64)
        #expect(session.expiresAt == AstanaTime.format(accounts.clock.now + 30 * 60))
        let stored = try accounts.auth.agreement(of: "inv-1")
        #expect(stored?.signedAt == session.agreementSignedAt && stored?.digest.isEmpty == false)

        // One audit entry per login attempt, in the store's chained log, no secret in it.
        let logins = try Self.loginEntries(c, after: before)
        #expect(logins.map(\.actor) == ["inv-2", "inv-1"], "\(logins)")
        #expect(logins[0].result.hasPrefix("allowed: certificate + totp from station-1") && logins[0].result.contains("not yet signed"))
        #expect(logins[1].result.hasPrefix("allowed: certificate + totp from station-1; user agreement signed"), "\(logins[1].result)")
        #expect(logins.allSatisfy { $0.role == "investigator-police" && $0.basis == "operations" && !$0.result.contains(session.session) })

        // The wire-issued token works for IDENTIFY from the client it was issued to.
        guard case .identifyAnswer(let found) = try await Self.identify(c.station, c, token: session.session) else {
            Issue.record("IDENTIFY with the wire session refused"); return
        }
        #expect(found.candidates.first?.iin == People.iin(3))
        // From another client the same token is refused, and the refusal logged.
        let stolen = try await Self.identify(Self.otherClient(c), c, token: session.session)
        #expect(Self.error(stolen)?.0 == .sessionRequired && Self.error(stolen)?.1.contains("issued to client station-1") == true, "\(stolen)")
        #expect(try c.coordinator.store.audit.entries().last?.entry.result.hasPrefix("refused: not-authenticated") == true)

        // Logout (only from its client) ends it.
        guard case .login(.logoutAnswer(let foreignLogout)) = try await Self.answer(Self.otherClient(c), c, .login(.logout(session: session.session))),
              case .login(.logoutAnswer(let ended)) = try await Self.answer(c.station, c, .login(.logout(session: session.session))) else {
            Issue.record("logout not answered"); return
        }
        #expect(!foreignLogout && ended)
        let afterLogout = try await Self.identify(c.station, c, token: session.session)
        #expect(Self.error(afterLogout)?.0 == .sessionRequired, "\(afterLogout)")

        // Sessions expire after 30 minutes.
        accounts.clock.advance(30)
        guard case .login(.loginAnswer(let second)) = try await Self.login(accounts, c.station, c, "inv-1",
                                                                        challenge: try await Self.challenge(c.station, c, "inv-1")) else {
            Issue.record("second login refused"); return
        }
        #expect(second.agreementSigned, "the agreement signed at the first login is remembered")
        guard case .identifyAnswer = try await Self.identify(c.station, c, token: second.session) else { Issue.record("fresh session refused"); return }
        accounts.clock.advance(31 * 60)
        let expired = try await Self.identify(c.station, c, token: second.session)
        #expect(Self.error(expired)?.0 == .sessionRequired && Self.error(expired)?.1.hasPrefix("not-authenticated") == true, "\(expired)")
    }

    static func error(_ answer: WireMessage) -> (WireErrorCode, String)? {
        if case .error(let code, let text) = answer { return (code, text) }
        return nil
    }

    /// Every way a login is refused, each with its typed ERROR, its stable code first in
    /// the text, exactly one audit entry (`refused: CODE from CLIENT`), and no session.
    @Test func refusedLoginsGetTypedErrorsAndAreAudited() async throws {
        let accounts = try AccessAccounts()
        for login in ["u-nofactor", "u-wrongcode", "u-foreignkey", "u-foreigncert", "u-blocked", "u-replay", "u-stale", "u-otherclient",
                      "u-locked"] {
            try accounts.account(login, .investigatorPolice)
        }
        try accounts.account("u-expired", .investigatorPolice, certificateValidFor: 86400)
        // A certificate registered under a CA the coordinator does not trust (e.g. one
        // withdrawn from the trust list since).
        let otherKey = P256.Signing.PrivateKey()
        let otherName = try DistinguishedName { CommonName("Other CA") }
        let otherCA = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(otherKey.publicKey),
                                      notValidBefore: accounts.clock.now - 3600, notValidAfter: accounts.clock.now + 86400 * 365,
                                      issuer: otherName, subject: otherName, signatureAlgorithm: .ecdsaWithSHA256,
                                      extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
                                      issuerPrivateKey: .init(otherKey))
        let foreignKey = P256.Signing.PrivateKey()
        let foreignCertificate = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(foreignKey.publicKey),
                                                 notValidBefore: accounts.clock.now - 60, notValidAfter: accounts.clock.now + 86400 * 365,
                                                 issuer: otherName, subject: try DistinguishedName { CommonName("u-foreigncert") },
                                                 signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(),
                                                 issuerPrivateKey: .init(otherKey))
        try Authenticator(registry: accounts.registry, trust: try TrustedAuthorities(pems: [otherCA.serializeAsPEM().pemString]))
            .registerCertificate("u-foreigncert", pem: try foreignCertificate.serializeAsPEM().pemString, by: "sp-0")
        accounts.keys["u-foreigncert"] = foreignKey
        try accounts.registry.dismiss("u-blocked", reason: "order 17", by: "hr")

        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        let station = c.station

        struct Case { var name: String; var login: String; var code: WireErrorCode; var failure: String; var run: () async throws -> WireMessage }
        var cases: [Case] = []
        cases.append(Case(name: "no second factor", login: "u-nofactor", code: .secondFactorRefused, failure: "second-factor-required") {
            try await Self.login(accounts, station, c, "u-nofactor", challenge: try await Self.challenge(station, c, "u-nofactor"), factor: LoginRequest.SecondFactor.none)
        })
        cases.append(Case(name: "wrong one-time code", login: "u-wrongcode", code: .secondFactorRefused, failure: "bad-code") {
            let right = accounts.totps["u-wrongcode"]!.code(at: accounts.clock.now)
            let wrong = String(format: "%06d", (Int(right)! + 500_000) % 1_000_000)
            return try await Self.login(accounts, station, c, "u-wrongcode", challenge: try await Self.challenge(station, c, "u-wrongcode"), factor: .totp(wrong))
        })
        cases.append(Case(name: "challenge signed with a foreign key", login: "u-foreignkey", code: .loginRefused, failure: "bad-signature") {
            try await Self.login(accounts, station, c, "u-foreignkey", challenge: try await Self.challenge(station, c, "u-foreignkey"),
                                 key: P256.Signing.PrivateKey())
        })
        cases.append(Case(name: "certificate of an untrusted CA", login: "u-foreigncert", code: .loginRefused, failure: "foreign-certificate") {
            try await Self.login(accounts, station, c, "u-foreigncert", challenge: try await Self.challenge(station, c, "u-foreigncert"))
        })
        cases.append(Case(name: "blocked (dismissed) account", login: "u-blocked", code: .accountLocked, failure: "blocked") {
            try await Self.login(accounts, station, c, "u-blocked", challenge: try await Self.challenge(station, c, "u-blocked"))
        })
        cases.append(Case(name: "replayed challenge", login: "u-replay", code: .challengeInvalid, failure: "bad-challenge") {
            let challenge = try await Self.challenge(station, c, "u-replay")
            guard case .login(.loginAnswer) = try await Self.login(accounts, station, c, "u-replay", challenge: challenge) else {
                throw TestFailure("the first use of the challenge was refused")
            }
            accounts.clock.advance(30)   // a fresh one-time code: only the challenge is replayed
            return try await Self.login(accounts, station, c, "u-replay", challenge: challenge)
        })
        cases.append(Case(name: "expired challenge", login: "u-stale", code: .challengeInvalid, failure: "bad-challenge") {
            let challenge = try await Self.challenge(station, c, "u-stale")
            accounts.clock.advance(121)
            return try await Self.login(accounts, station, c, "u-stale", challenge: challenge)
        })
        cases.append(Case(name: "challenge issued to another client", login: "u-otherclient", code: .challengeInvalid, failure: "bad-challenge") {
            let challenge = try await Self.challenge(Self.otherClient(c), c, "u-otherclient")
            return try await Self.login(accounts, station, c, "u-otherclient", challenge: challenge)
        })
        cases.append(Case(name: "too many failed attempts", login: "u-locked", code: .accountLocked, failure: "locked-out") {
            for _ in 0..<5 {
                _ = try await Self.login(accounts, station, c, "u-locked", challenge: try await Self.challenge(station, c, "u-locked"),
                                         factor: .totp("000000"))
            }
            // Now even the right credentials are refused for 15 minutes.
            accounts.clock.advance(30)
            return try await Self.login(accounts, station, c, "u-locked", challenge: try await Self.challenge(station, c, "u-locked"))
        })
        cases.append(Case(name: "expired certificate", login: "u-expired", code: .loginRefused, failure: "certificate-expired") {
            accounts.clock.advance(2 * 86400)
            return try await Self.login(accounts, station, c, "u-expired", challenge: try await Self.challenge(station, c, "u-expired"))
        })

        for t in cases {
            let before = try c.coordinator.store.audit.entries().count
            let answer = try await t.run()
            guard let (code, text) = Self.error(answer) else { Issue.record("\(t.name): a session was opened: \(answer)"); continue }
            #expect(code == t.code && text.hasPrefix("\(t.failure): "), "\(t.name): ERROR \(code.rawValue) \(text)")
            let logged = try Self.loginEntries(c, after: before)
            #expect(logged.last?.actor == t.login && logged.last?.result == "refused: \(t.failure) from station-1", "\(t.name): \(logged)")
            // The attempt counts in the account's history too (failed logins, lockouts).
            #expect(try accounts.registry.events(for: t.login).contains { $0.kind == "login-failed" }, "\(t.name)")
            accounts.clock.advance(30)
        }
        #expect(try accounts.registry.events(for: "u-locked").contains { $0.kind == "locked-out" })
        // A locked-out attempt is one entry; the five wrong codes before it are five more.
        #expect(try c.coordinator.store.audit.entries().map(\.entry).filter { $0.actor == "u-locked" && $0.operation == "login" }.count == 6)
        #expect(try c.coordinator.store.audit.verify().ok)
    }

    /// LOGIN_CHALLENGE is limited per account (3 unused outstanding, 10 a minute, over every
    /// client node) and per client node (10 outstanding, 30 a minute): the excess gets ERROR
    /// 23 `too-many-challenges`, the audit log one entry per burst (scope and minute), the
    /// account no failed login; expired and spent challenges are purged.
    @Test func challengeFloodIsRefusedPerAccountAndPerClient() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        let other = Self.otherClient(c)
        func ask(_ caller: SignedCaller, _ login: String) async throws -> WireMessage {
            try await Self.answer(caller, c, .login(.challenge(account: login)))
        }
        func challengeEntries(after count: Int) throws -> [AuditEntry] {
            try c.coordinator.store.audit.entries().dropFirst(count).map(\.entry).filter { $0.operation == "login-challenge" }
        }
        let start = try c.coordinator.store.audit.entries().count

        // Per account: three unused challenges, then every further one is refused — from
        // this node and from any other — and only the first refusal is audited.
        for _ in 0..<3 { _ = try await Self.challenge(c.station, c, "inv-1") }
        var refusals: [WireMessage] = []
        for _ in 0..<5 { refusals.append(try await ask(c.station, "inv-1")) }
        refusals.append(try await ask(other, "inv-1"))
        for r in refusals {
            #expect(Self.error(r)?.0 == .challengeInvalid
                    && Self.error(r)?.1.hasPrefix("too-many-challenges: 3 unused challenges outstanding for account inv-1 (at most 3)") == true, "\(r)")
        }
        var logged = try challengeEntries(after: start)
        #expect(logged.count == 1 && logged[0].actor == "inv-1" && logged[0].role == "investigator-police", "\(logged)")
        #expect(logged.first?.result.hasPrefix("refused: too-many-challenges from station-1: 3 unused challenges outstanding") == true, "\(logged)")
        // Not a failed login: the flood cannot lock the user out.
        #expect(try !accounts.registry.events(for: "inv-1").contains { $0.kind == "login-failed" || $0.kind == "locked-out" })
        #expect(try accounts.auth.challengeTableSize() == 3)

        // The challenges expire; the next request purges them and is answered, and the user logs in.
        accounts.clock.advance(121)
        let fresh = try await Self.challenge(c.station, c, "inv-1")
        #expect(try accounts.auth.challengeTableSize() == 1)
        guard case .login(.loginAnswer) = try await Self.login(accounts, c.station, c, "inv-1", challenge: fresh) else {
            Issue.record("login after the flood refused"); return
        }

        // Per account and minute, even when every challenge is used at once (LOGINs for an
        // account that does not exist: no lockout to stop them).
        accounts.clock.advance(61)
        for _ in 0..<10 {
            let ch = try await Self.challenge(c.station, c, "ghost")
            let a = try await Self.login(accounts, c.station, c, "ghost", challenge: ch, factor: .totp("000000"))
            #expect(Self.error(a)?.1.hasPrefix("unknown-account") == true, "\(a)")
        }
        let rate = try await ask(c.station, "ghost")
        #expect(Self.error(rate)?.1.hasPrefix("too-many-challenges: 10 challenges issued to account ghost in the last minute (at most 10)") == true,
                "\(rate)")
        // A minute later, still flooding: one more audit entry, with the count of the first burst.
        accounts.clock.advance(30)
        _ = try await ask(c.station, "ghost")
        accounts.clock.advance(31)
        for _ in 0..<10 {   // the window has moved on: ten more, then refused again
            _ = try await Self.login(accounts, c.station, c, "ghost", challenge: try await Self.challenge(c.station, c, "ghost"), factor: .totp("000000"))
        }
        _ = try await ask(c.station, "ghost")
        _ = try await ask(c.station, "ghost")
        logged = try challengeEntries(after: start).filter { $0.actor == "ghost" }
        #expect(logged.count == 2 && logged.allSatisfy { $0.role == "unknown" }, "\(logged.map(\.result))")
        #expect(logged.last?.result.contains("the previous burst of this account refused 2") == true, "\(logged.map(\.result))")

        // Per client node: ten unused challenges for ten different accounts, then refused.
        accounts.clock.advance(121)
        for i in 0..<10 { _ = try await Self.challenge(other, c, "name-\(i)") }
        let byClient = try await ask(other, "name-10")
        #expect(Self.error(byClient)?.0 == .challengeInvalid
                && Self.error(byClient)?.1.hasPrefix("too-many-challenges: 10 unused challenges outstanding for client client-2 (at most 10)") == true,
                "\(byClient)")
        // Another node is not affected by client-2's flood.
        _ = try await Self.challenge(c.station, c, "name-10")
        logged = try challengeEntries(after: start)
        #expect(logged.last?.actor == "name-10" && logged.last?.result.hasPrefix("refused: too-many-challenges from client-2: 10 unused challenges outstanding for client client-2") == true,
                "\(logged.map(\.result))")
        #expect(try c.coordinator.store.audit.verify().ok)

        // Housekeeping purges what expired even when nobody asks for a challenge.
        accounts.clock.advance(121)
        await c.coordinator.runAccessHousekeeping()
        #expect(try accounts.auth.challengeTableSize() == 0)
    }

    /// The user's own finger as the second factor: the coordinator verifies it through its
    /// workers against the account holder's enrollment (IIN from the account's profile).
    /// The holder's finger opens a session; another enrolled person's finger, or a holder
    /// who is not enrolled, is ERROR 24 `fingerprint-mismatch` — each one audit entry.
    @Test func fingerprintSecondFactorIsVerifiedByTheWorkers() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("exam-3", .examiner, iin: People.iin(3))
        try accounts.account("exam-9", .examiner, iin: People.iin(9))   // never enrolled
        let c = try await Self.cluster(accounts)
        defer { Task { await c.shutdown() } }
        _ = try await c.enroll(3)
        _ = try await c.enroll(4)
        let before = try c.coordinator.store.audit.entries().count

        guard case .login(.loginAnswer(let session)) = try await Self.login(
            accounts, c.station, c, "exam-3", challenge: try await Self.challenge(c.station, c, "exam-3"), factor: .fingerprint(People.probe(3))) else {
            Issue.record("the holder's own finger was refused"); return
        }
        #expect(session.secondFactor == "fingerprint" && session.account == "exam-3" && session.role == "examiner")
        let verified = try await Self.answer(c.station, c, .verify(VerifyRequest(claimedIIN: People.iin(3), probe: People.probe(3), requester: Requester(
            session: session.session, account: "exam-3", role: "examiner", basis: .adjudication, caseNumber: "adj-2026-17"))))
        guard case .verifyAnswer(let v) = verified else { Issue.record("VERIFY with the fingerprint session: \(verified)"); return }
        #expect(v.isMatch)

        accounts.clock.advance(30)
        let foreign = try await Self.login(accounts, c.station, c, "exam-3", challenge: try await Self.challenge(c.station, c, "exam-3"),
                                           factor: .fingerprint(People.probe(4)))
        #expect(Self.error(foreign)?.0 == .secondFactorRefused && Self.error(foreign)?.1.hasPrefix("fingerprint-mismatch: ") == true, "\(foreign)")
        let unenrolled = try await Self.login(accounts, c.station, c, "exam-9", challenge: try await Self.challenge(c.station, c, "exam-9"),
                                              factor: .fingerprint(People.probe(9)))
        #expect(Self.error(unenrolled)?.0 == .secondFactorRefused && Self.error(unenrolled)?.1.hasPrefix("fingerprint-mismatch: ") == true,
                "\(unenrolled)")

        let logins = try Self.loginEntries(c, after: before)
        #expect(logins.map(\.result) == ["allowed: certificate + fingerprint from station-1; user agreement signed",
                                         "refused: fingerprint-mismatch from station-1", "refused: fingerprint-mismatch from station-1"],
                "\(logins.map(\.result))")
        #expect(try accounts.registry.events(for: "exam-3").contains { $0.kind == "login-failed" && $0.detail.hasPrefix("fingerprint-mismatch") })
    }

    /// A coordinator without an access layer has nothing to log in to.
    @Test func withoutAnAccessLayerLoginIsRefused() async throws {
        let c = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 1)
        defer { Task { await c.shutdown() } }
        let answer = try await Self.answer(c.station, c, .login(.challenge(account: "inv-1")))
        #expect(Self.error(answer)?.0 == .accessDenied && Self.error(answer)?.1.hasPrefix("access-not-configured") == true, "\(answer)")
    }
}
