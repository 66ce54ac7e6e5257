import Crypto
import Foundation
import TanbaCore
import TanbaSQLite
import X509

/// The certification authorities whose user certificates Tanba accepts (the national CA
/// in production [LEX 18]; a development CA in tests).
public struct TrustedAuthorities: Sendable {
    public let certificates: [Certificate]

    public init(pems: [String]) throws {
        certificates = try pems.map { try Certificate(pemEncoded: $0) }
        guard !certificates.isEmpty else { throw AccessError.invalid("no trusted certification authority") }
    }

    /// Why `certificate` is not acceptable at `date`, or nil when it is: issued (and signed)
    /// by one of the trusted CAs, inside its validity period, with a P-256 or Ed25519 key.
    public func problem(with certificate: Certificate, at date: Date) -> LoginFailure? {
        let issuer = certificates.first {
            $0.subject == certificate.issuer && $0.publicKey.isValidSignature(certificate.signature, for: certificate)
        }
        guard let issuer else { return .foreignCertificate }
        guard date >= certificate.notValidBefore, date <= certificate.notValidAfter,
              date >= issuer.notValidBefore, date <= issuer.notValidAfter else { return .certificateExpired }
        guard P256.Signing.PublicKey(certificate.publicKey) != nil || Curve25519.Signing.PublicKey(certificate.publicKey) != nil else {
            return .unsupportedKey
        }
        return nil
    }
}

/// The user's own fingerprint checked against their enrolled record through the cluster
/// (the coordinator implements it with a VERIFY of the account's IIN).
public protocol FingerprintVerifier: Sendable {
    func verify(iin: String, probe: [UInt8]) async throws -> Bool
}

public enum SecondFactor: Sendable, Equatable {
    case none
    /// A one-time code from the user's registered authenticator.
    case totp(String)
    /// A live fingerprint capture (a native template record) to verify against the user's enrollment.
    case fingerprint([UInt8])
}

public enum LoginFailure: String, Error, Sendable, Equatable, Codable, CustomStringConvertible {
    case unknownAccount = "unknown-account"
    case blocked
    case lockedOut = "locked-out"
    case noCertificate = "no-certificate"
    case certificateMismatch = "certificate-mismatch"
    case foreignCertificate = "foreign-certificate"
    case certificateExpired = "certificate-expired"
    case unsupportedKey = "unsupported-key"
    case badChallenge = "bad-challenge"
    case badSignature = "bad-signature"
    case secondFactorRequired = "second-factor-required"
    case secondFactorNotEnrolled = "second-factor-not-enrolled"
    case badCode = "bad-code"
    case codeReused = "code-reused"
    case fingerprintMismatch = "fingerprint-mismatch"
    case fingerprintUnavailable = "fingerprint-unavailable"
    case internalError = "internal-error"

    public var description: String { rawValue }

    /// A sentence for the user (no secret in it: never the code, key or nonce).
    public var explanation: String {
        switch self {
        case .unknownAccount: "no such account"
        case .blocked: "the account is blocked (dismissal, suspension, violation or 60 days without requests); ask the supervising prosecutor"
        case .lockedOut: "too many failed logins in a row; the account is locked for a while"
        case .noCertificate: "no certificate is registered for the account"
        case .certificateMismatch: "the certificate presented is not the one registered for the account"
        case .foreignCertificate: "the registered certificate is not issued by a trusted certification authority"
        case .certificateExpired: "the certificate (or its issuer) is outside its validity period"
        case .unsupportedKey: "the certificate's key is neither P-256 nor Ed25519"
        case .badChallenge: "the challenge is unknown, expired, already used, or issued for another account or client; ask for a new one"
        case .badSignature: "the challenge signature does not verify with the registered certificate"
        case .secondFactorRequired: "a second factor (one-time code or fingerprint) is required"
        case .secondFactorNotEnrolled: "no second factor of this kind is enrolled for the account"
        case .badCode: "the one-time code is wrong"
        case .codeReused: "the one-time code was already used; wait for the next one"
        case .fingerprintMismatch: "the fingerprint does not match the account holder's enrollment"
        case .fingerprintUnavailable: "the fingerprint could not be verified now"
        case .internalError: "internal error"
        }
    }
}

/// A login challenge: the client signs `signedBytes` with the private key of its certificate.
public struct LoginChallenge: Sendable, Equatable {
    public var login: String
    public var nonce: String
    public var expiresAt: Date
    /// The client node a wire login asked from (its envelope's sender); nil in-process.
    public var client: String?

    public var signedBytes: [UInt8] { Self.bytes(login: login, nonce: nonce, client: client) }

    /// What the user signs: `tanba-login-v1|LOGIN|NONCE` in-process, and over the wire
    /// `tanba-login-v2|LOGIN|CLIENT|NONCE` — the signature then also says which station
    /// the user logs in from, so a signature relayed from another station proves nothing.
    public static func bytes(login: String, nonce: String, client: String?) -> [UInt8] {
        guard let client else { return Array("tanba-login-v1|\(login)|\(nonce)".utf8) }
        return Array("tanba-login-v2|\(login)|\(client)|\(nonce)".utf8)
    }
}

public struct LoginAttempt: Sendable {
    public var login: String
    public var nonce: String
    /// ECDSA P-256 (DER or raw r‖s) over SHA-256, or Ed25519, of the challenge bytes.
    public var signature: [UInt8]
    /// The certificate the client presents; must be the registered one when given.
    public var certificatePEM: String?
    public var secondFactor: SecondFactor
    /// The client node the attempt comes from (wire logins); must be the one the challenge
    /// was issued to. nil: in-process, only a challenge issued without a client matches.
    public var client: String?

    public init(login: String, nonce: String, signature: [UInt8], certificatePEM: String? = nil, secondFactor: SecondFactor,
                client: String? = nil) {
        self.login = login
        self.nonce = nonce
        self.signature = signature
        self.certificatePEM = certificatePEM
        self.secondFactor = secondFactor
        self.client = client
    }
}

public struct Session: Sendable, Equatable {
    public var token: String
    public var login: String
    public var role: Role
    public var secondFactor: String
    public var expiresAt: Date
    /// False until the user agreement is signed [LEX 17]; until then only signing is possible.
    public var agreementSigned: Bool
    /// The client node the session was issued to by a wire login (requests with it are
    /// accepted only from that node); nil: issued in-process.
    public var client: String? = nil
}

/// How many login challenges may be asked for: per account (over every client node) and
/// per client node (over every account), as unused challenges outstanding at once and as
/// challenges issued within `window`. A challenge costs the coordinator a row and a
/// random nonce, and is issued whether or not the account exists, so without a ceiling one
/// node could fill the challenge table. The defaults leave a person at a station ample
/// room (a login uses its challenge at once) and stop a loop within seconds.
public struct ChallengeLimits: Sendable, Equatable {
    public var outstandingPerAccount: Int
    public var perAccountPerWindow: Int
    public var outstandingPerClient: Int
    public var perClientPerWindow: Int
    public var window: TimeInterval

    public init(outstandingPerAccount: Int = 3, perAccountPerWindow: Int = 10, outstandingPerClient: Int = 10,
                perClientPerWindow: Int = 30, window: TimeInterval = 60) {
        self.outstandingPerAccount = outstandingPerAccount
        self.perAccountPerWindow = perAccountPerWindow
        self.outstandingPerClient = outstandingPerClient
        self.perClientPerWindow = perClientPerWindow
        self.window = window
    }
}

/// A login challenge refused by `ChallengeLimits` (wire: ERROR 23, code
/// `too-many-challenges`). Refusals come in bursts: the first refusal of a scope (an
/// account or a client node) opens a burst that lasts one `window`; the refusals after it
/// in the same window are only counted. The coordinator audits the first one
/// (`burstStart`), which also reports how many the scope's previous burst refused — so a
/// flood costs the hash-chained audit log at most one entry per scope and minute. A
/// refusal is not a failed login: it never counts towards the lockout (otherwise anyone
/// able to ask for challenges could lock a user out).
public struct ChallengeRefused: Error, Sendable, Equatable, CustomStringConvertible {
    public static let code = "too-many-challenges"
    public enum Scope: String, Sendable { case account, client }
    public enum Kind: String, Sendable { case outstanding, rate }
    public var scope: Scope
    public var kind: Kind
    /// The account or the client node the limit is about.
    public var subject: String
    public var count: Int
    public var maximum: Int
    /// Seconds until a challenge would be issued again under this limit.
    public var retryAfter: Int
    /// The first refusal of a burst (audited); false for the ones counted after it.
    public var burstStart: Bool = false
    /// Refusals of the scope's previous burst (reported with the next burst's first entry).
    public var previousBurst: Int = 0

    public var reason: String {
        let who = scope == .account ? "account \(subject)" : "client \(subject)"
        return switch kind {
        case .outstanding: "\(count) unused challenges outstanding for \(who) (at most \(maximum))"
        case .rate: "\(count) challenges issued to \(who) in the last minute (at most \(maximum))"
        }
    }

    public var description: String { "\(Self.code): \(reason); ask again in \(retryAfter) s" }
}

public struct LoginResult: Sendable {
    public var session: Session?
    public var failure: LoginFailure?
    /// For the coordinator's audit log (operation `login`).
    public var audit: AuditFields
}

/// Multi-factor login [Informatization law 36.1, LEX 18]: possession of the certificate's
/// private key (a signed single-use challenge) and a one-time code or the user's own
/// fingerprint. Failures are counted (lockout after `maxFailures` for `lockoutDuration`)
/// and logged in the account's history.
public final class Authenticator: @unchecked Sendable {
    public let registry: AccountRegistry
    public let trust: TrustedAuthorities
    public let fingerprints: (any FingerprintVerifier)?
    public let sessionLifetime: TimeInterval
    public let challengeLifetime: TimeInterval
    public let maxFailures: Int
    public let lockoutDuration: TimeInterval
    public let challengeLimits: ChallengeLimits

    public init(registry: AccountRegistry, trust: TrustedAuthorities, fingerprints: (any FingerprintVerifier)? = nil,
                sessionLifetime: TimeInterval = 30 * 60, challengeLifetime: TimeInterval = 120,
                maxFailures: Int = 5, lockoutDuration: TimeInterval = 15 * 60, challengeLimits: ChallengeLimits = ChallengeLimits()) {
        self.registry = registry
        self.trust = trust
        self.fingerprints = fingerprints
        self.sessionLifetime = sessionLifetime
        self.challengeLifetime = challengeLifetime
        self.maxFailures = maxFailures
        self.lockoutDuration = lockoutDuration
        self.challengeLimits = challengeLimits
    }

    var db: Database { registry.db }
    var now: Date { registry.clock.now() }

    /// The same authenticator (registry, trust, lifetimes, lockout) with a fingerprint
    /// verifier, e.g. the coordinator's own workers for the second factor.
    public func with(fingerprints: any FingerprintVerifier) -> Authenticator {
        Authenticator(registry: registry, trust: trust, fingerprints: fingerprints, sessionLifetime: sessionLifetime,
                      challengeLifetime: challengeLifetime, maxFailures: maxFailures, lockoutDuration: lockoutDuration,
                      challengeLimits: challengeLimits)
    }

    // MARK: Credentials

    /// Registers the user's certificate. It must come from a trusted CA and be valid now.
    public func registerCertificate(_ login: String, pem: String, by actor: String) throws {
        let certificate = try Certificate(pemEncoded: pem)
        if let problem = trust.problem(with: certificate, at: now) {
            throw AccessError.invalid("certificate refused: \(problem.rawValue)")
        }
        try registry.locked {
            try db.transaction {
                guard try db.run("UPDATE access_accounts SET certificate = ? WHERE login = ?",
                                 [.blob(Array(pem.utf8)), .text(login)]) == 1 else { throw AccessError.notFound("account \(login)") }
                try registry.event(login, "certificate-registered", "serial \(certificate.serialNumber)", actor: actor)
            }
        }
    }

    /// Enrols a TOTP authenticator for the user (see `AccountRegistry.enrollTOTP`).
    public func enrollTOTP(_ login: String, by actor: String) throws -> TOTP {
        try registry.enrollTOTP(login, by: actor)
    }

    // MARK: Login

    /// A fresh single-use challenge for `login`, valid `challengeLifetime` (2 minutes), for
    /// `client` only when given (a wire login: the sender of LOGIN_CHALLENGE). Issued
    /// whether or not the account exists, so asking for one tells nobody which logins do.
    /// Throws `ChallengeRefused` past `challengeLimits` (per account; per client node when
    /// one is given). Expired challenges, and used ones once they are out of the rate
    /// window, are purged first.
    public func challenge(for login: String, client: String? = nil) throws -> LoginChallenge {
        let t = now
        let c = LoginChallenge(login: login, nonce: randomHex(32), expiresAt: t.addingTimeInterval(challengeLifetime), client: client)
        let refused: ChallengeRefused? = try registry.locked {
            try purgeChallengesLocked(at: t)
            if var refusal = try exceededLimit(login: login, client: client, at: t) {
                try noteRefusal(&refusal, at: t)
                return refusal
            }
            try db.run("INSERT INTO access_challenges (nonce, login, expires_at, client, issued_at) VALUES (?, ?, ?, ?, ?)",
                       [.text(c.nonce), .text(login), .text(c.expiresAt.astana), client.map(SQLValue.text) ?? .null, .text(t.astana)])
            return nil
        }
        if let refused { throw refused }
        return c
    }

    /// Rows in the challenge table (unused, used and not yet purged): for monitoring and tests.
    public func challengeTableSize() throws -> Int {
        try registry.locked { try db.query("SELECT COUNT(*) FROM access_challenges")[0][0].int ?? 0 }
    }

    /// Deletes expired challenges, used ones that have left the rate window, and refusal
    /// bursts older than an hour; returns the number of challenges deleted. Run at every
    /// challenge and by the coordinator's housekeeping.
    @discardableResult
    public func purgeChallenges() throws -> Int {
        let t = now
        return try registry.locked { try purgeChallengesLocked(at: t) }
    }

    @discardableResult
    private func purgeChallengesLocked(at t: Date) throws -> Int {
        let windowStart = t.addingTimeInterval(-challengeLimits.window)
        let deleted = try db.run("""
            DELETE FROM access_challenges WHERE expires_at <= ? OR (used = 1 AND (issued_at IS NULL OR issued_at <= ?))
            """, [.text(t.astana), .text(windowStart.astana)])
        try db.run("DELETE FROM access_challenge_refusals WHERE since <= ?", [.text(t.addingTimeInterval(-3600).astana)])
        return deleted
    }

    /// The first limit a new challenge for `login` from `client` would break, if any.
    private func exceededLimit(login: String, client: String?, at t: Date) throws -> ChallengeRefused? {
        let l = challengeLimits
        let windowStart = t.addingTimeInterval(-l.window)
        var checks: [(ChallengeRefused.Scope, String, String)] = [(.account, "login", login)]
        if let client { checks.append((.client, "client", client)) }
        for (scope, column, subject) in checks {
            let outstandingLimit = scope == .account ? l.outstandingPerAccount : l.outstandingPerClient
            let rateLimit = scope == .account ? l.perAccountPerWindow : l.perClientPerWindow
            let open = try db.query("""
                SELECT COUNT(*), MIN(expires_at) FROM access_challenges WHERE \(column) = ? AND used = 0 AND expires_at > ?
                """, [.text(subject), .text(t.astana)])[0]
            if let n = open[0].int, n >= outstandingLimit {
                let retry = parseAstana(open[1].string).map { $0.timeIntervalSince(t) } ?? challengeLifetime
                return ChallengeRefused(scope: scope, kind: .outstanding, subject: subject, count: n, maximum: outstandingLimit,
                                        retryAfter: max(1, Int(retry.rounded(.up))))
            }
            let recent = try db.query("""
                SELECT COUNT(*), MIN(issued_at) FROM access_challenges WHERE \(column) = ? AND issued_at > ?
                """, [.text(subject), .text(windowStart.astana)])[0]
            if let n = recent[0].int, n >= rateLimit {
                let retry = parseAstana(recent[1].string).map { $0.addingTimeInterval(l.window).timeIntervalSince(t) } ?? l.window
                return ChallengeRefused(scope: scope, kind: .rate, subject: subject, count: n, maximum: rateLimit,
                                        retryAfter: max(1, Int(retry.rounded(.up))))
            }
        }
        return nil
    }

    /// Counts the refusal in its scope's burst: the first one of a window opens a burst
    /// (`burstStart`, carrying the previous burst's count), later ones only add to it.
    private func noteRefusal(_ r: inout ChallengeRefused, at t: Date) throws {
        let scope = "\(r.scope.rawValue):\(r.subject)"
        let row = try db.query("SELECT since, refused FROM access_challenge_refusals WHERE scope = ?", [.text(scope)]).first
        if let row, let since = parseAstana(row[0].string), since > t.addingTimeInterval(-challengeLimits.window) {
            try db.run("UPDATE access_challenge_refusals SET refused = refused + 1 WHERE scope = ?", [.text(scope)])
            r.burstStart = false
        } else {
            r.burstStart = true
            r.previousBurst = row?[1].int ?? 0
            try db.run("INSERT OR REPLACE INTO access_challenge_refusals (scope, since, refused) VALUES (?, ?, 1)",
                       [.text(scope), .text(t.astana)])
        }
    }

    public func login(_ attempt: LoginAttempt) async -> LoginResult {
        let outcome: Result<Session, LoginFailure>
        do {
            outcome = .success(try await authenticate(attempt))
        } catch let failure as LoginFailure {
            outcome = .failure(failure)
            recordFailure(attempt.login, failure)
        } catch {
            outcome = .failure(.internalError)
            recordFailure(attempt.login, .internalError)
        }
        let role = (try? registry.account(attempt.login))?.role.rawValue ?? "unknown"
        var result = LoginResult(session: nil, failure: nil,
                                 audit: AuditFields(actor: attempt.login, role: role, basis: "operations", caseNumber: nil,
                                                    operation: "login", subjectRef: nil, result: ""))
        switch outcome {
        case .success(let s):
            result.session = s
            result.audit.result = "allowed: \(s.secondFactor)"
        case .failure(let f):
            result.failure = f
            result.audit.result = "refused: \(f.rawValue)"
        }
        return result
    }

    private func authenticate(_ attempt: LoginAttempt) async throws -> Session {
        let t = now
        // Everything up to the second factor under the lock, then the (possibly remote)
        // fingerprint check, then the session.
        let (account, certificatePEM, totpSecret, lastStep) = try registry.locked { () throws -> (Account, String, [UInt8]?, Int64?) in
            // The challenge is used up whatever happens next — also when the account is
            // unknown, blocked or locked out; it must have been issued for this account to
            // this client (`IS` also matches two NULLs: in-process logins).
            guard try db.run("""
                UPDATE access_challenges SET used = 1 WHERE nonce = ? AND login = ? AND used = 0 AND expires_at > ? AND client IS ?
                """, [.text(attempt.nonce), .text(attempt.login), .text(t.astana),
                      attempt.client.map(SQLValue.text) ?? .null]) == 1 else { throw LoginFailure.badChallenge }
            guard let account = try registry.accountRow(attempt.login) else { throw LoginFailure.unknownAccount }
            let row = try db.query("SELECT certificate, sealed_totp, totp_last_step, locked_until FROM access_accounts WHERE login = ?",
                                   [.text(attempt.login)])[0]
            if let until = parseAstana(row[3].string), until > t { throw LoginFailure.lockedOut }
            guard account.state == .active else { throw LoginFailure.blocked }
            // The 60-day rule holds even if the daily sweep has not run yet [LEX 16].
            if let since = parseAstana(account.lastRequestAt) ?? parseAstana(account.createdAt),
               t.timeIntervalSince(since) >= AccountRegistry.inactivityLimit {
                try db.transaction {
                    try registry.setBlocked(account.login, kind: .inactivity,
                                            reason: "no requests for 60 days (last: \(account.lastRequestAt ?? "none"))",
                                            actor: "system", at: t)
                }
                throw LoginFailure.blocked
            }
            guard let pemBytes = row[0].bytes else { throw LoginFailure.noCertificate }
            let totp = try row[1].bytes.map {
                try registry.sealer.open([UInt8].self, $0, column: "access_accounts.sealed_totp", owner: attempt.login)
            }
            return (account, String(decoding: pemBytes, as: UTF8.self), totp, row[2].int64)
        }
        let certificate = try Certificate(pemEncoded: certificatePEM)
        if let presented = attempt.certificatePEM {
            guard (try? Certificate(pemEncoded: presented)) == certificate else { throw LoginFailure.certificateMismatch }
        }
        if let problem = trust.problem(with: certificate, at: t) { throw problem }
        let signed = LoginChallenge.bytes(login: attempt.login, nonce: attempt.nonce, client: attempt.client)
        guard Self.verify(signature: attempt.signature, over: signed, key: certificate.publicKey) else { throw LoginFailure.badSignature }

        let factor: String
        switch attempt.secondFactor {
        case .none:
            throw LoginFailure.secondFactorRequired
        case .totp(let code):
            guard let secret = totpSecret else { throw LoginFailure.secondFactorNotEnrolled }
            guard let step = TOTP(secret: secret).matchingStep(code, at: t) else { throw LoginFailure.badCode }
            // A code is good once: any step at or before the last one used is a replay.
            try registry.locked {
                let used = try db.query("SELECT totp_last_step FROM access_accounts WHERE login = ?", [.text(attempt.login)])[0][0].int64
                if let used = used ?? lastStep, step <= used { throw LoginFailure.codeReused }
                try db.run("UPDATE access_accounts SET totp_last_step = ? WHERE login = ?", [.integer(step), .text(attempt.login)])
            }
            factor = "totp"
        case .fingerprint(let probe):
            guard let fingerprints else { throw LoginFailure.secondFactorNotEnrolled }
            let matched: Bool
            do { matched = try await fingerprints.verify(iin: account.profile.iin, probe: probe) } catch { throw LoginFailure.fingerprintUnavailable }
            guard matched else { throw LoginFailure.fingerprintMismatch }
            factor = "fingerprint"
        }

        let token = randomHex(32)
        let session = Session(token: token, login: account.login, role: account.role, secondFactor: factor,
                              expiresAt: t.addingTimeInterval(sessionLifetime), agreementSigned: account.agreementSignedAt != nil,
                              client: attempt.client)
        try registry.locked {
            try db.transaction {
                try db.run("UPDATE access_accounts SET failed_attempts = 0, locked_until = NULL WHERE login = ?", [.text(account.login)])
                try db.run("""
                    INSERT INTO access_sessions (token_hash, login, second_factor, created_at, expires_at, client) VALUES (?, ?, ?, ?, ?, ?)
                    """, [.text(Self.hash(token)), .text(account.login), .text(factor), .text(t.astana),
                          .text(session.expiresAt.astana), attempt.client.map(SQLValue.text) ?? .null])
                try registry.event(account.login, "login", "certificate + \(factor)\(attempt.client.map { " from \($0)" } ?? "")",
                                   actor: account.login)
            }
        }
        return session
    }

    private func recordFailure(_ login: String, _ failure: LoginFailure) {
        let t = now
        try? registry.locked {
            try db.transaction {
                guard failure != .unknownAccount else {
                    try registry.logEvent(login, "login-failed", failure.rawValue, actor: login)
                    return
                }
                try db.run("UPDATE access_accounts SET failed_attempts = failed_attempts + 1 WHERE login = ?", [.text(login)])
                let count = try db.query("SELECT failed_attempts FROM access_accounts WHERE login = ?", [.text(login)]).first?[0].int ?? 0
                try registry.logEvent(login, "login-failed", "\(failure.rawValue) (\(count) in a row)", actor: login)
                if count >= maxFailures, failure != .lockedOut {
                    try db.run("UPDATE access_accounts SET locked_until = ?, failed_attempts = 0 WHERE login = ?",
                               [.text(t.addingTimeInterval(lockoutDuration).astana), .text(login)])
                    try registry.logEvent(login, "locked-out", "\(count) failed logins; locked for \(Int(lockoutDuration / 60)) min", actor: "system")
                }
            }
        }
    }

    static func verify(signature: [UInt8], over bytes: [UInt8], key: Certificate.PublicKey) -> Bool {
        if let p256 = P256.Signing.PublicKey(key) {
            let digest = SHA256.hash(data: bytes)
            if let s = try? P256.Signing.ECDSASignature(derRepresentation: signature), p256.isValidSignature(s, for: digest) { return true }
            if let s = try? P256.Signing.ECDSASignature(rawRepresentation: signature), p256.isValidSignature(s, for: digest) { return true }
            return false
        }
        if let ed = Curve25519.Signing.PublicKey(key) { return ed.isValidSignature(signature, for: bytes) }
        return false
    }

    static func hash(_ token: String) -> String { SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined() }

    // MARK: Sessions and the agreement

    /// The live session for `token`: not expired, not revoked, account still active.
    public func session(_ token: String) throws -> Session? {
        let t = now
        return try registry.locked {
            guard let r = try db.query("""
                SELECT s.login, s.second_factor, s.expires_at, a.role, a.status, a.agreement_signed_at, s.client
                FROM access_sessions s JOIN access_accounts a ON a.login = s.login
                WHERE s.token_hash = ? AND s.revoked = 0
                """, [.text(Self.hash(token))]).first,
                let expires = parseAstana(r[2].string), expires > t, r[4].string == "active",
                let role = Role(rawValue: r[3].string ?? "") else { return nil }
            return Session(token: token, login: r[0].string ?? "", role: role, secondFactor: r[1].string ?? "",
                           expiresAt: expires, agreementSigned: r[5].string != nil, client: r[6].string)
        }
    }

    /// Ends the session; returns whether a live (not yet revoked) session was ended.
    @discardableResult
    public func logout(_ token: String) throws -> Bool {
        try registry.locked {
            let login = try db.query("SELECT login FROM access_sessions WHERE token_hash = ? AND revoked = 0",
                                     [.text(Self.hash(token))]).first?[0].string
            guard let login else { return false }
            try db.transaction {
                try db.run("UPDATE access_sessions SET revoked = 1 WHERE token_hash = ?", [.text(Self.hash(token))])
                try registry.event(login, "logout", "session ended by the user", actor: login)
            }
            return true
        }
    }

    /// Signs the user agreement at first login [LEX 17]: the signature over
    /// `agreementBytes(text:login:)` is checked against the user's certificate, then the
    /// signature, the agreement's SHA-256 and the date are stored.
    public func signAgreement(session token: String, text: String, signature: [UInt8]) throws {
        guard let session = try session(token) else { throw AccessError.invalid("no live session") }
        let t = now
        try registry.locked {
            try db.transaction {
                let row = try db.query("SELECT certificate, agreement_signed_at FROM access_accounts WHERE login = ?",
                                       [.text(session.login)])[0]
                guard row[1].string == nil else { throw AccessError.conflict("the agreement is already signed") }
                let certificate = try Certificate(pemEncoded: String(decoding: row[0].bytes ?? [], as: UTF8.self))
                guard Self.verify(signature: signature, over: Self.agreementBytes(text: text, login: session.login),
                                  key: certificate.publicKey) else { throw AccessError.invalid("the agreement signature does not verify") }
                let digest = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
                try db.run("""
                    UPDATE access_accounts SET agreement_signed_at = ?, agreement_digest = ?, agreement_signature = ? WHERE login = ?
                    """, [.text(t.astana), .text(digest), .blob(signature), .text(session.login)])
                try registry.event(session.login, "agreement-signed", "sha256 \(digest)", actor: session.login)
            }
        }
    }

    public static func agreementBytes(text: String, login: String) -> [UInt8] {
        Array("tanba-agreement-v1|\(login)|".utf8) + Array(text.utf8)
    }

    /// The stored agreement of a user: when, which text (SHA-256) and the signature.
    public func agreement(of login: String) throws -> (signedAt: String, digest: String, signature: [UInt8])? {
        try registry.locked {
            guard let r = try db.query("SELECT agreement_signed_at, agreement_digest, agreement_signature FROM access_accounts WHERE login = ?",
                                       [.text(login)]).first, let at = r[0].string else { return nil }
            return (at, r[1].string ?? "", r[2].bytes ?? [])
        }
    }
}

/// The gate the coordinator calls for every request: a live multi-factor session, an
/// active account with a signed agreement, then the roles x basis policy. Allowed
/// requests count as activity for the 60-day rule. Every decision carries `audit`,
/// which the coordinator writes to the store's audit log whatever the outcome.
public final class AccessControl: Sendable {
    public let authenticator: Authenticator
    public let policy: AccessPolicy

    public init(authenticator: Authenticator, policy: AccessPolicy = AccessPolicy()) {
        self.authenticator = authenticator
        self.policy = policy
    }

    /// `boundTo`: the session must have been issued by a wire login from exactly this client
    /// node (the ops endpoint's HTTP routes pass `access.httpClient`: a bearer token over
    /// HTTP names no node, so only sessions opened for HTTP use are accepted there — a token
    /// taken off a station or an authority's client is refused, as is one opened in-process).
    public func authorize(token: String, action: Action, basis: Basis, subjectRef: String? = nil,
                          boundTo required: String? = nil) throws -> AccessDecision {
        guard let session = try authenticator.session(token) else {
            return Self.refused(.notAuthenticated("no live session (expired, revoked or blocked)"), login: "unknown",
                                role: "unknown", action: action, basis: basis, subjectRef: subjectRef)
        }
        if let required, session.client != required {
            let issued = session.client.map { "client \($0)" } ?? "no client node (an in-process login)"
            return Self.refused(.notAuthenticated("the session was issued to \(issued), not \(required): only sessions of a login from \(required) are accepted here"),
                                login: session.login, role: session.role.rawValue, action: action, basis: basis, subjectRef: subjectRef)
        }
        guard session.agreementSigned else {
            return Self.refused(.agreementNotSigned, login: session.login, role: session.role.rawValue, action: action,
                                basis: basis, subjectRef: subjectRef)
        }
        let decision = policy.decide(AccessRequest(login: session.login, role: session.role, action: action, basis: basis,
                                                   subjectRef: subjectRef))
        try authenticator.registry.recordRequest(session.login)
        return decision
    }

    /// `authorize` for a request that also names the account and role it acts for (the
    /// wire's requester): a session that belongs to another account, or a role the account
    /// does not hold, is refused as not authenticated — a stolen token cannot borrow a
    /// stronger row of the roles x basis table, and the audit entry names the claim.
    /// `client` is the node the request came from: a session a wire login issued to
    /// another node is refused the same way (a token copied off one station is useless on
    /// another). Sessions opened in-process are bound to no node.
    public func authorize(token: String, claimedLogin: String, claimedRole: String, action: Action, basis: Basis,
                          subjectRef: String? = nil, client: String? = nil) throws -> AccessDecision {
        if let session = try authenticator.session(token) {
            if session.login != claimedLogin || session.role.rawValue != claimedRole {
                return Self.refused(.notAuthenticated("the session belongs to \(session.login) (\(session.role.rawValue)), not \(claimedLogin) (\(claimedRole))"),
                                    login: claimedLogin, role: claimedRole, action: action, basis: basis, subjectRef: subjectRef)
            }
            if let bound = session.client, bound != client {
                return Self.refused(.notAuthenticated("the session was issued to client \(bound), not \(client ?? "an unbound caller")"),
                                    login: claimedLogin, role: claimedRole, action: action, basis: basis, subjectRef: subjectRef)
            }
        }
        var decision = try authorize(token: token, action: action, basis: basis, subjectRef: subjectRef)
        if decision.audit.actor == "unknown" {
            // No live session: log who it claimed to be, so a supervisor can follow it up.
            decision.audit.actor = claimedLogin
            decision.audit.role = claimedRole
        }
        return decision
    }

    static func refused(_ refusal: Refusal, login: String, role: String, action: Action, basis: Basis, subjectRef: String?) -> AccessDecision {
        AccessDecision(allowed: false, refusal: refusal, notes: [],
                       audit: AuditFields(actor: login, role: role, basis: basis.auditKind, caseNumber: basis.reference,
                                          operation: action.rawValue, subjectRef: subjectRef,
                                          result: "refused: \(refusal.code): \(refusal.description)"))
    }
}

/// A value released only when the decision allows it; the decision is audited either way.
public struct Gated<Value: Sendable>: Sendable {
    public var decision: AccessDecision
    public var value: Value?
}

extension AccessControl {
    /// An account's history (applications, decisions, logins, blocks) — information about
    /// a user, for the supervising prosecutor on a documented request only [LEX 44, 51, 52].
    public func userActivity(token: String, of login: String, documentedRequest reference: String) throws -> Gated<[AccountEvent]> {
        let decision = try authorize(token: token, action: .viewUserActivity, basis: .supervision(reference: reference),
                                     subjectRef: "account:\(login)")
        return Gated(decision: decision, value: decision.allowed ? try authenticator.registry.events(for: login) : nil)
    }

    /// The supervisor report over audit events the coordinator read from the store [LEX 9, 10].
    public func supervisorReport(token: String, documentedRequest reference: String, events: [AuditEvent], from: Date, to: Date,
                                 options: SupervisorReportOptions = SupervisorReportOptions()) throws -> Gated<SupervisorReport> {
        let decision = try authorize(token: token, action: .supervisorReport, basis: .supervision(reference: reference))
        guard decision.allowed else { return Gated(decision: decision, value: nil) }
        return Gated(decision: decision, value: SupervisorReport.build(events: events, from: from, to: to, proceedings: policy.proceedings,
                                                                       options: options, now: authenticator.registry.clock.now()))
    }

    /// The subject's report, asked for at a branch on the person's request [PD 8-1].
    public func subjectReport(token: String, iin: IIN, subjectRef: String, request reference: String, events: [AuditEvent],
                              consents: [ConsentHolder], boundTo client: String? = nil) throws -> Gated<SubjectReport> {
        let decision = try authorize(token: token, action: .subjectReport, basis: .subjectRequest(reference: reference),
                                     subjectRef: subjectRef, boundTo: client)
        guard decision.allowed else { return Gated(decision: decision, value: nil) }
        return Gated(decision: decision, value: SubjectTransparency.report(iin: iin, events: events, consents: consents,
                                                                           now: authenticator.registry.clock.now()))
    }
}
