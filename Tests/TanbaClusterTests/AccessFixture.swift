import Crypto
import Foundation
import TanbaAccess
import TanbaCluster
import TanbaCore
import TanbaWire
import X509

/// A clock the access tests move by hand (sessions, the 60-day rule, incidents).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var date: Date
    init(_ d: Date) { date = d }
    var now: Date { lock.lock(); defer { lock.unlock() }; return date }
    func advance(_ s: TimeInterval) { lock.lock(); date += s; lock.unlock() }
    var clock: AccessClock { AccessClock { self.now } }
}

/// An access database with a throwaway CA standing in for the national one, accounts that
/// log in with certificate + TOTP and sign the agreement, and the `CoordinatorAccess` the
/// coordinator under test is given.
final class AccessAccounts: @unchecked Sendable {
    let directory: URL
    let clock: ManualClock
    let registry: AccountRegistry
    let auth: Authenticator
    let control: AccessControl
    let journal: IncidentJournal
    let caKey = P256.Signing.PrivateKey()
    let ca: Certificate
    var keys: [String: P256.Signing.PrivateKey] = [:]
    var totps: [String: TOTP] = [:]
    private var serial = 0

    init(proceedings: (any ProceedingsRegistry)? = nil, start: Date = Date()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-access-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        clock = ManualClock(start)
        let path = directory.appendingPathComponent("access.db").path
        registry = try AccountRegistry(path: path, key: SymmetricKey(size: .bits256), clock: clock.clock)
        journal = try IncidentJournal(path: path, clock: clock.clock)
        let name = try DistinguishedName { CommonName("Test National CA") }
        ca = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
                             notValidBefore: start - 3600, notValidAfter: start + 10 * 365 * 86400, issuer: name, subject: name,
                             signatureAlgorithm: .ecdsaWithSHA256,
                             extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
                             issuerPrivateKey: .init(caKey))
        auth = Authenticator(registry: registry, trust: try TrustedAuthorities(pems: [ca.serializeAsPEM().pemString]))
        control = AccessControl(authenticator: auth, policy: AccessPolicy(proceedings: proceedings))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var coordinatorAccess: CoordinatorAccess { CoordinatorAccess(control: control, journal: journal, clock: clock.clock) }

    /// A user certificate for `key`, issued by the test CA (or signed by `issuerKey` under the
    /// CA's name: a certificate the trusted CA never issued).
    func certificate(_ login: String, key: P256.Signing.PrivateKey, validFor: TimeInterval = 365 * 86400,
                     issuerKey: P256.Signing.PrivateKey? = nil) throws -> String {
        try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: clock.now - 60,
                        notValidAfter: clock.now + validFor, issuer: ca.subject, subject: try DistinguishedName { CommonName(login) },
                        signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(),
                        issuerPrivateKey: .init(issuerKey ?? caKey)).serializeAsPEM().pemString
    }

    /// An approved account with a certificate from the CA and a TOTP secret.
    /// `iin`: the account holder's IIN (default: a fresh one nobody is enrolled under) — the
    /// fingerprint second factor verifies against the enrollment under it.
    func account(_ login: String, _ role: Role, certificateValidFor: TimeInterval = 365 * 86400, iin: IIN? = nil) throws {
        serial += 1
        var n = serial, made: IIN? = iin
        while made == nil { made = IIN.make(birthDate: .init(year: 1979, month: 5, day: 6), sex: .male, serial: n); n += 1 }
        let id = try registry.submit(AccountApplication(login: login, role: role, action: .register,
                                                        applicant: Applicant(fullName: "User \(login)", iin: made!, organisation: "Org",
                                                                             unit: "Unit", position: "officer", contacts: "+7 700 000 0000"),
                                                        reason: "test"))
        try registry.approve(id, by: "sp-0")
        let key = P256.Signing.PrivateKey()
        keys[login] = key
        try auth.registerCertificate(login, pem: try certificate(login, key: key, validFor: certificateValidFor), by: "sp-0")
        totps[login] = try registry.enrollTOTP(login, by: "sp-0")
    }

    /// Certificate + TOTP login; with `agreement`, the user agreement is signed. The clock
    /// moves on one TOTP step (a code is accepted once).
    func session(_ login: String, agreement: Bool = true) async throws -> String {
        let c = try auth.challenge(for: login)
        let result = await auth.login(LoginAttempt(login: login, nonce: c.nonce,
                                                   signature: Array(try keys[login]!.signature(for: c.signedBytes).derRepresentation),
                                                   secondFactor: .totp(totps[login]!.code(at: clock.now))))
        guard let s = result.session else { throw TestFailure("login of \(login) failed: \(result.failure?.rawValue ?? "?")") }
        if agreement && !s.agreementSigned {
            let text = "Tanba user agreement v1"
            try auth.signAgreement(session: s.token, text: text,
                                   signature: Array(try keys[login]!.signature(for: Authenticator.agreementBytes(text: text, login: login)).derRepresentation))
        }
        clock.advance(30)
        return s.token
    }

    /// The wire requester for `login`'s session.
    func requester(_ token: String, _ login: String, _ role: Role, _ basis: Requester.BasisKind, _ caseNumber: String) -> Requester {
        Requester(session: token, account: login, role: role.rawValue, basis: basis, caseNumber: caseNumber)
    }
}

extension Cluster {
    /// The coordinator's answer, a typed ERROR returned as `.error` rather than thrown.
    func answer(_ message: WireMessage) async throws -> WireMessage {
        do { return try await ask(message) } catch SignedCaller.CallError.remote(let code, let text) {
            return .error(code: code, message: text)
        }
    }

    /// As `answer`, from another node (an examiner's, an admin's).
    func answer(from caller: SignedCaller, _ message: WireMessage) async throws -> WireMessage {
        do {
            return try await caller.call(message, to: "coordinator", at: coordinatorAddress, deadline: .seconds(60))
        } catch SignedCaller.CallError.remote(let code, let text) {
            return .error(code: code, message: text)
        }
    }
}
