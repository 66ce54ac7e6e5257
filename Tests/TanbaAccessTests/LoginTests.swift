import Crypto
import Foundation
import Testing
import TanbaWire
import X509
@testable import TanbaAccess

struct FixedFingerprints: FingerprintVerifier {
    let genuine: [UInt8]
    func verify(iin: String, probe: [UInt8]) async throws -> Bool { probe == genuine }
}

/// A registry with account inv-8, a development CA, and the user's P-256 certificate.
struct LoginRig {
    let dir = TempDir()
    let clock = TestClock(AccessFixtures.start)
    let ca: DevelopmentPKI.PEMPair
    let user: DevelopmentPKI.PEMPair
    let registry: AccountRegistry
    let auth: Authenticator

    init(userCertificateIssuedAt issued: Date? = nil) throws {
        ca = try DevelopmentPKI.makeCA(now: AccessFixtures.start)
        user = try DevelopmentPKI.issue(name: "inv-8", ca: ca, now: issued ?? AccessFixtures.start)
        registry = try AccessFixtures.registry(in: dir, clock: clock)
        auth = Authenticator(registry: registry, trust: try TrustedAuthorities(pems: [ca.certificatePEM]),
                             fingerprints: FixedFingerprints(genuine: [7, 7, 7]))
        try auth.registerCertificate("inv-8", pem: user.certificatePEM, by: "sp-1")
    }

    func sign(_ bytes: [UInt8]) throws -> [UInt8] {
        Array(try P256.Signing.PrivateKey(pemRepresentation: user.privateKeyPEM).signature(for: bytes).derRepresentation)
    }

    func attempt(_ second: SecondFactor, login: String = "inv-8") async throws -> LoginResult {
        let c = try auth.challenge(for: login)
        return await auth.login(LoginAttempt(login: login, nonce: c.nonce, signature: try sign(c.signedBytes), secondFactor: second))
    }
}

@Suite struct LoginTests {
    /// The otpauth:// URI `totp-enroll` prints reads back as the same authenticator (what
    /// `tanba access totp-code` relies on); anything else is refused.
    @Test func otpauthURIRoundTrips() {
        let totp = TOTP.generate()
        let read = TOTP(uri: totp.uri(account: "dev.inv-1") + "\n")
        #expect(read == totp && read?.code(at: Date(timeIntervalSince1970: 1_234_567_890)) == totp.code(at: Date(timeIntervalSince1970: 1_234_567_890)))
        #expect(TOTP(uri: "otpauth://totp/Tanba:x?secret=GEZDGNBVGY3TQOJQ&digits=8&period=60&algorithm=SHA256")
                == TOTP(secret: Array("1234567890".utf8), digits: 8, period: 60, algorithm: .sha256))
        for bad in ["otpauth://hotp/Tanba:x?secret=GEZDGNBV", "https://totp/x?secret=GEZDGNBV", "otpauth://totp/x?secret=1!",
                    "otpauth://totp/x", "otpauth://totp/x?secret=GEZDGNBV&digits=4", "otpauth://totp/x?secret=GEZDGNBV&algorithm=MD5"] {
            #expect(TOTP(uri: bad) == nil, "\(bad)")
        }
    }

    @Test func rfc6238TestVectors() {
        // RFC 6238 appendix B: 8 digits; the seeds are ASCII "1234567890" repeated.
        let seed = Array("12345678901234567890".utf8)
        let seed32 = Array("12345678901234567890123456789012".utf8)
        let seed64 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)
        let vectors: [(Double, String, String, String)] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ]
        for (t, sha1, sha256, sha512) in vectors {
            let date = Date(timeIntervalSince1970: t)
            #expect(TOTP(secret: seed, digits: 8).code(at: date) == sha1)
            #expect(TOTP(secret: seed32, digits: 8, algorithm: .sha256).code(at: date) == sha256)
            #expect(TOTP(secret: seed64, digits: 8, algorithm: .sha512).code(at: date) == sha512)
        }
        // Tanba's setting: 6 digits are the last six of the 8-digit value.
        #expect(TOTP(secret: seed).code(at: Date(timeIntervalSince1970: 59)) == "287082")
        #expect(Base32.encode(seed) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(Base32.decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == seed)
        #expect(TOTP(secret: seed).uri(account: "inv-8")
            == "otpauth://totp/Tanba:inv-8?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tanba&algorithm=SHA1&digits=6&period=30")
    }

    @Test func certificateAndTOTPLogInAndTheAgreementIsSignedFirst() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        let result = try await rig.attempt(.totp(totp.code(at: rig.clock.now)))
        let session = try #require(result.session, "\(String(describing: result.failure))")
        #expect(session.secondFactor == "totp" && !session.agreementSigned && result.audit.result == "allowed: totp")
        #expect(result.audit.operation == "login" && result.audit.role == "investigator-police")

        let control = AccessControl(authenticator: rig.auth)
        let basis = Basis.legal(.criminal, caseNumber: "261500031000117")
        #expect(try control.authorize(token: session.token, action: .identify, basis: basis).refusal == .agreementNotSigned)
        let text = "I shall use Tanba only for the proceedings I am assigned to."
        #expect(throws: AccessError.self) {
            try rig.auth.signAgreement(session: session.token, text: text, signature: try rig.sign(Array("other".utf8)))
        }
        try rig.auth.signAgreement(session: session.token, text: text,
                                   signature: try rig.sign(Authenticator.agreementBytes(text: text, login: "inv-8")))
        let stored = try #require(try rig.auth.agreement(of: "inv-8"))
        #expect(stored.signedAt == "2026-11-21T10:00:00.000+05:00" && stored.digest.count == 64)

        let allowed = try control.authorize(token: session.token, action: .identify, basis: basis, subjectRef: "ab")
        #expect(allowed.allowed && allowed.audit.caseNumber == "261500031000117")
        #expect(try control.authorize(token: session.token, action: .identify, basis: .legal(.civil, caseNumber: "2-1/26")).refusal
            == .basisKindNotAllowed(.investigatorPolice, .civil))
        #expect(try rig.registry.account("inv-8")?.lastRequestAt == "2026-11-21T10:00:00.000+05:00")

        // Sessions expire.
        rig.clock.advance(31 * 60)
        #expect(try rig.auth.session(session.token) == nil)
        #expect(try control.authorize(token: session.token, action: .identify, basis: basis).refusal?.code == "not-authenticated")
    }

    @Test func refusedWithoutSecondFactor() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        let result = try await rig.attempt(.none)
        #expect(result.session == nil && result.failure == .secondFactorRequired)
        #expect(result.audit.result == "refused: second-factor-required")
        #expect(try rig.registry.events(for: "inv-8").last?.detail == "second-factor-required (1 in a row)")
        // Nor with a wrong code, nor with a factor that is not enrolled.
        let good = totp.code(at: rig.clock.now)
        #expect(try await rig.attempt(.totp(good == "000000" ? "000001" : "000000")).failure == .badCode)
        let fresh = try LoginRig()
        #expect(try await fresh.attempt(.totp("123456")).failure == .secondFactorNotEnrolled)
    }

    @Test func wrongCodeAndReplayedCodeAreRefused() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        let good = totp.code(at: rig.clock.now)
        let wrong = good == "000000" ? "000001" : "000000"
        #expect(try await rig.attempt(.totp(wrong)).failure == .badCode)
        #expect(try await rig.attempt(.totp(good)).session != nil)
        #expect(try await rig.attempt(.totp(good)).failure == .codeReused)
        // The previous step's code (inside the drift window) is also spent.
        rig.clock.advance(30)
        #expect(try await rig.attempt(.totp(good)).failure == .codeReused)
        #expect(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).session != nil)
    }

    @Test func refusedWithExpiredCertificate() async throws {
        // Issued two years (and a bit) ago, valid for two years: expires two days after the start.
        let issued = AccessFixtures.start.addingTimeInterval(-2 * 365.25 * 86400 + 2 * 86400)
        let rig = try LoginRig(userCertificateIssuedAt: issued)
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        #expect(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).session != nil)
        rig.clock.advance(3 * 86400)
        let result = try await rig.attempt(.totp(totp.code(at: rig.clock.now)))
        #expect(result.failure == .certificateExpired && result.session == nil)
        // An expired certificate cannot be registered either.
        let old = try DevelopmentPKI.issue(name: "inv-8", ca: rig.ca, years: 1, now: AccessFixtures.start.addingTimeInterval(-800 * 86400))
        #expect(throws: AccessError.invalid("certificate refused: certificate-expired")) {
            try rig.auth.registerCertificate("inv-8", pem: old.certificatePEM, by: "sp-1")
        }
    }

    @Test func refusedWithForeignCertificate() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        let foreignCA = try DevelopmentPKI.makeCA(commonName: "Tanba Development CA", now: AccessFixtures.start)
        let foreign = try DevelopmentPKI.issue(name: "inv-8", ca: foreignCA, now: AccessFixtures.start)
        // Same CA name, other key: not registrable.
        #expect(throws: AccessError.invalid("certificate refused: foreign-certificate")) {
            try rig.auth.registerCertificate("inv-8", pem: foreign.certificatePEM, by: "sp-1")
        }
        // Presenting (and signing with) another certificate than the registered one.
        let c = try rig.auth.challenge(for: "inv-8")
        let foreignSig = Array(try P256.Signing.PrivateKey(pemRepresentation: foreign.privateKeyPEM).signature(for: c.signedBytes).derRepresentation)
        let presented = await rig.auth.login(LoginAttempt(login: "inv-8", nonce: c.nonce, signature: foreignSig,
                                                          certificatePEM: foreign.certificatePEM,
                                                          secondFactor: .totp(totp.code(at: rig.clock.now))))
        #expect(presented.failure == .certificateMismatch)
        let c2 = try rig.auth.challenge(for: "inv-8")
        let bad = await rig.auth.login(LoginAttempt(login: "inv-8", nonce: c2.nonce,
                                                    signature: Array(try P256.Signing.PrivateKey(pemRepresentation: foreign.privateKeyPEM)
                                                        .signature(for: c2.signedBytes).derRepresentation),
                                                    secondFactor: .totp(totp.code(at: rig.clock.now))))
        #expect(bad.failure == .badSignature)
        // A registered certificate whose CA is no longer trusted.
        let other = Authenticator(registry: rig.registry, trust: try TrustedAuthorities(pems: [foreignCA.certificatePEM]))
        let c3 = try other.challenge(for: "inv-8")
        let r = await other.login(LoginAttempt(login: "inv-8", nonce: c3.nonce, signature: try rig.sign(c3.signedBytes),
                                               secondFactor: .totp(totp.code(at: rig.clock.now))))
        #expect(r.failure == .foreignCertificate)
    }

    @Test func refusedOnBlockedAccountAndBlockEndsSessions() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        let session = try #require(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).session)
        try rig.registry.dismiss("inv-8", reason: "dismissed", by: "hr-1")
        #expect(try rig.auth.session(session.token) == nil)
        rig.clock.advance(60)
        let result = try await rig.attempt(.totp(totp.code(at: rig.clock.now)))
        #expect(result.failure == .blocked && result.session == nil)
        #expect(try await rig.attempt(.totp("1"), login: "nobody").failure == .unknownAccount)
    }

    @Test func accountIdleForSixtyDaysCannotLogInEvenBeforeTheDailySweep() async throws {
        let rig = try LoginRig(userCertificateIssuedAt: AccessFixtures.start)
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        rig.clock.advance(59 * 86400)
        #expect(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).session != nil)
        rig.clock.advance(86400)
        #expect(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).failure == .blocked)
        #expect(try rig.registry.account("inv-8")?.blockedKind == .inactivity)
    }

    @Test func derivedAccessKeyIsStableAndDistinct() {
        let master = SymmetricKey(data: [UInt8](repeating: 9, count: 32))
        let a = AccessKey.derive(from: master), b = AccessKey.derive(from: master)
        #expect(a == b && a != master && a.bitCount == 256)
        #expect(AccessKey.derive(from: SymmetricKey(data: [UInt8](repeating: 8, count: 32))) != a)
    }

    @Test func challengeIsSingleUseAndExpires() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        let c = try rig.auth.challenge(for: "inv-8")
        let sig = try rig.sign(c.signedBytes)
        #expect(await rig.auth.login(LoginAttempt(login: "inv-8", nonce: c.nonce, signature: sig,
                                                  secondFactor: .totp(totp.code(at: rig.clock.now)))).session != nil)
        rig.clock.advance(30)
        #expect(await rig.auth.login(LoginAttempt(login: "inv-8", nonce: c.nonce, signature: sig,
                                                  secondFactor: .totp(totp.code(at: rig.clock.now)))).failure == .badChallenge)
        let late = try rig.auth.challenge(for: "inv-8")
        rig.clock.advance(121)
        #expect(await rig.auth.login(LoginAttempt(login: "inv-8", nonce: late.nonce, signature: try rig.sign(late.signedBytes),
                                                  secondFactor: .totp(totp.code(at: rig.clock.now)))).failure == .badChallenge)
    }

    @Test func failedAttemptsLockTheAccountForAWhileAndAreLogged() async throws {
        let rig = try LoginRig()
        let totp = try rig.auth.enrollTOTP("inv-8", by: "sp-1")
        for _ in 0..<5 {
            let c = try rig.auth.challenge(for: "inv-8")
            let r = await rig.auth.login(LoginAttempt(login: "inv-8", nonce: c.nonce, signature: [1, 2, 3],
                                                      secondFactor: .totp(totp.code(at: rig.clock.now))))
            #expect(r.failure == .badSignature)
        }
        #expect(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).failure == .lockedOut)
        let events = try rig.registry.events(for: "inv-8")
        #expect(events.filter { $0.kind == "login-failed" }.count == 6)
        #expect(events.contains { $0.kind == "locked-out" })
        rig.clock.advance(15 * 60 + 1)
        #expect(try await rig.attempt(.totp(totp.code(at: rig.clock.now))).session != nil)
    }

    @Test func ed25519CertificateAndFingerprintFactor() async throws {
        let rig = try LoginRig()
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: rig.ca.privateKeyPEM)
        let caCert = try Certificate(pemEncoded: rig.ca.certificatePEM)
        let userKey = Curve25519.Signing.PrivateKey()
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(userKey.publicKey),
            notValidBefore: AccessFixtures.start.addingTimeInterval(-60), notValidAfter: AccessFixtures.start.addingTimeInterval(86400),
            issuer: caCert.subject, subject: try DistinguishedName { CommonName("inv-8") },
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(), issuerPrivateKey: .init(caKey))
        try rig.auth.registerCertificate("inv-8", pem: try cert.serializeAsPEM().pemString, by: "sp-1")
        func attempt(_ probe: [UInt8]) async throws -> LoginResult {
            let c = try rig.auth.challenge(for: "inv-8")
            return await rig.auth.login(LoginAttempt(login: "inv-8", nonce: c.nonce,
                                                     signature: Array(try userKey.signature(for: c.signedBytes)),
                                                     secondFactor: .fingerprint(probe)))
        }
        #expect(try await attempt([1, 2]).failure == .fingerprintMismatch)
        let ok = try await attempt([7, 7, 7])
        #expect(ok.session?.secondFactor == "fingerprint")
    }
}

@Suite struct GatedReadTests {
    /// A rig with a supervising prosecutor, a branch operator and an investigator, each logged
    /// in with certificate + TOTP and with a signed agreement.
    static func sessions() async throws -> (LoginRig, AccessControl, [String: String]) {
        let rig = try LoginRig()
        let ids = try [("sp-1", Role.supervisingProsecutor), ("op-7", .branchOperator)].enumerated().map { i, entry in
            try rig.registry.submit(AccountApplication(login: entry.0, role: entry.1, action: .register,
                                                       applicant: AccessFixtures.applicant(10 + i), reason: "r"))
        }
        for id in ids { try rig.registry.approve(id, by: "sp-0") }
        var tokens: [String: String] = [:]
        for login in ["inv-8", "sp-1", "op-7"] {
            let pair = login == "inv-8" ? rig.user : try DevelopmentPKI.issue(name: login, ca: rig.ca, now: AccessFixtures.start)
            if login != "inv-8" { try rig.auth.registerCertificate(login, pem: pair.certificatePEM, by: "sp-0") }
            let signer = try P256.Signing.PrivateKey(pemRepresentation: pair.privateKeyPEM)
            let totp = try rig.auth.enrollTOTP(login, by: "sp-0")
            let c = try rig.auth.challenge(for: login)
            let r = await rig.auth.login(LoginAttempt(login: login, nonce: c.nonce,
                                                      signature: Array(try signer.signature(for: c.signedBytes).derRepresentation),
                                                      secondFactor: .totp(totp.code(at: rig.clock.now))))
            let session = try #require(r.session, "\(login): \(String(describing: r.failure))")
            let text = "agreement"
            try rig.auth.signAgreement(session: session.token, text: text,
                                       signature: Array(try signer.signature(for: Authenticator.agreementBytes(text: text, login: login)).derRepresentation))
            tokens[login] = session.token
        }
        return (rig, AccessControl(authenticator: rig.auth), tokens)
    }

    @Test func userActivityAndReportsOnlyForTheSupervisingProsecutor() async throws {
        let (rig, control, tokens) = try await Self.sessions()
        let events = [AuditEvent(at: "2026-11-02T10:00:00.000+05:00", actor: "inv-8", role: "investigator-police", basis: "criminal",
                                 caseNumber: "261500031000117", operation: "identify", subjectRef: "r1", result: "allowed")]
        let from = AccessFixtures.start - 30 * 86400, to = AccessFixtures.start
        for login in ["inv-8", "op-7"] {
            let activity = try control.userActivity(token: tokens[login]!, of: "inv-8", documentedRequest: "PG-2026/114")
            #expect(activity.value == nil && activity.decision.refusal?.code == "action-not-allowed")
            #expect(activity.decision.audit.result.hasPrefix("refused"))
            #expect(try control.supervisorReport(token: tokens[login]!, documentedRequest: "PG-2026/114", events: events,
                                                 from: from, to: to).value == nil)
        }
        let activity = try control.userActivity(token: tokens["sp-1"]!, of: "inv-8", documentedRequest: "PG-2026/114")
        #expect(activity.decision.allowed && activity.decision.audit.caseNumber == "PG-2026/114")
        #expect(activity.value?.contains { $0.kind == "login" } == true)
        let report = try control.supervisorReport(token: tokens["sp-1"]!, documentedRequest: "PG-2026/114", events: events,
                                                  from: from, to: to)
        #expect(report.value?.totalRequests == 1)

        // The subject report is a branch service on the person's request.
        let iin = AccessFixtures.iin(3)
        let subject = try control.subjectReport(token: tokens["op-7"]!, iin: iin, subjectRef: "r1", request: "req-55",
                                                events: events, consents: [])
        #expect(subject.decision.allowed && subject.value?.actions.isEmpty == true)  // the investigator's identify is hidden
        #expect(try control.subjectReport(token: tokens["inv-8"]!, iin: iin, subjectRef: "r1", request: "req-55",
                                          events: events, consents: []).value == nil)
        _ = rig
    }
}
