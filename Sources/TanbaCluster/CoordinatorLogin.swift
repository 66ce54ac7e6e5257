import Foundation
import Logging
import TanbaAccess
import TanbaCore
import TanbaMatch
import TanbaStore
import TanbaWire

/// Login of an account over the wire (LOGIN_CHALLENGE 0x0D, LOGIN 0x0E, LOGOUT 0x0F;
/// docs/protocol.md "Login", docs/access.md "Login"). The access layer's `Authenticator`
/// does the checking; the coordinator binds challenge and session to the sending node,
/// writes one audit entry per login attempt into the store's hash-chained log [LEX 37] and
/// answers refusals with typed errors (ERROR 21–24). Secrets — codes, signatures, tokens,
/// nonces — are never logged or audited.
extension Coordinator {
    func handleLogin(_ m: LoginMessage, sender: String) async throws -> WireMessage {
        guard let access = options.access else {
            throw CoordinatorError(code: .accessDenied,
                                   description: "access-not-configured: this coordinator has no access layer to log in to")
        }
        switch m {
        case .challenge(let account):
            let c: LoginChallenge
            do {
                c = try await Offload.run { try access.control.authenticator.challenge(for: account, client: sender) }
            } catch let refused as ChallengeRefused {
                try await challengeRefused(refused, account: account, sender: sender, access: access)
            }
            return .login(.challengeAnswer(LoginChallengeAnswer(nonce: c.nonce, expiresAt: AstanaTime.format(c.expiresAt),
                                                                agreementText: access.agreementText)))
        case .login(let r):
            return try await login(r, sender: sender, access: access)
        case .logout(let token):
            let session = try await Offload.run { try access.control.authenticator.session(token) }
            // Only the node the session was issued to may end it (a token alone is not enough
            // to disturb someone else's work); an unknown or dead token ends nothing.
            guard let session, session.client == nil || session.client == sender else { return .login(.logoutAnswer(ended: false)) }
            let ended = try await Offload.run { try access.control.authenticator.logout(token) }
            _ = try await audit(Actor(login: session.login, role: session.role.rawValue, basis: "operations"), operation: "logout",
                                result: "allowed: session ended from \(sender)")
            return .login(.logoutAnswer(ended: ended))
        case .challengeAnswer, .loginAnswer, .logoutAnswer:
            throw CoordinatorError(code: .unsupported, description: "an answer was sent as a request")
        }
    }

    /// A LOGIN_CHALLENGE over the per-account or per-client limit: ERROR 23
    /// `too-many-challenges` every time, an audit entry (and a log line) only for the first
    /// refusal of a burst — at most one per scope and minute however long a flood lasts,
    /// each saying how many the previous burst refused (docs/access.md "Challenge limits").
    private func challengeRefused(_ r: ChallengeRefused, account: String, sender: String, access: CoordinatorAccess) async throws -> Never {
        metrics.increment("login_challenge_refused")
        if r.burstStart {
            let role = (try? await Offload.run { try access.control.authenticator.registry.account(account)?.role.rawValue }) ?? "unknown"
            let previous = r.previousBurst > 0 ? "; the previous burst of this \(r.scope.rawValue) refused \(r.previousBurst)" : ""
            _ = try await audit(Actor(login: account, role: role, basis: "operations"), operation: "login-challenge",
                                result: "refused: \(ChallengeRefused.code) from \(sender): \(r.reason); further refusals for a minute are counted, not logged\(previous)")
            logger.warning("login challenges refused", metadata: ["account": .string(account), "client": .string(sender),
                                                                  "limit": .string(r.reason)])
        }
        throw CoordinatorError(code: .challengeInvalid, description: r.description)
    }

    private func login(_ r: LoginRequest, sender: String, access: CoordinatorAccess) async throws -> WireMessage {
        let factor: SecondFactor = switch r.secondFactor {
        case .none: .none
        case .totp(let code): .totp(code)
        case .fingerprint(let probe): .fingerprint((try? TemplateCodec.encode(probe, as: .native)) ?? [])
        }
        // The user's own fingerprint is checked by this coordinator's workers (a VERIFY of
        // the account holder's IIN), unless the access layer was given another verifier.
        let base = access.control.authenticator
        let authenticator = base.fingerprints == nil ? base.with(fingerprints: LoginFingerprints(coordinator: self)) : base
        let result = await authenticator.login(LoginAttempt(login: r.account, nonce: r.nonce, signature: r.signature,
                                                            secondFactor: factor, client: sender))
        var failure = result.failure.map(LoginRefusal.init)
        var session = result.session
        var agreementNote = ""
        if let s = session, !s.agreementSigned, !r.agreementSignature.isEmpty {
            // First login: the user accepts the agreement in force with the certificate's key [LEX 17].
            do {
                try await Offload.run {
                    try authenticator.signAgreement(session: s.token, text: access.agreementText, signature: r.agreementSignature)
                }
                session = try await Offload.run { try authenticator.session(s.token) }
                agreementNote = "; user agreement signed"
            } catch {
                _ = try? await Offload.run { try authenticator.logout(s.token) }
                session = nil
                failure = LoginRefusal(code: "bad-agreement-signature", wire: .loginRefused,
                                       text: "the agreement signature does not verify with the account's certificate; no session was opened")
            }
        }
        let a = result.audit
        let outcome = session.map { "allowed: certificate + \($0.secondFactor) from \(sender)\(agreementNote)\($0.agreementSigned ? "" : "; user agreement not yet signed")" }
            ?? "refused: \(failure?.code ?? "internal-error") from \(sender)"
        _ = try await audit(Actor(login: a.actor, role: a.role, basis: a.basis), operation: "login", result: outcome)
        guard let session else {
            let f = failure ?? LoginRefusal(code: "internal-error", wire: .internal, text: "the login failed")
            metrics.increment("login_refused")
            throw CoordinatorError(code: f.wire, description: "\(f.code): \(f.text)")
        }
        metrics.increment("login")
        let signedAt = session.agreementSigned ? (try await Offload.run { try authenticator.agreement(of: session.login)?.signedAt }) ?? "" : ""
        return .login(.loginAnswer(LoginAnswer(session: session.token, expiresAt: AstanaTime.format(session.expiresAt),
                                               account: session.login, role: session.role.rawValue, secondFactor: session.secondFactor,
                                               agreementSigned: session.agreementSigned, agreementSignedAt: signedAt)))
    }

    /// VERIFY of a login's fingerprint against the account holder's enrollment, straight to
    /// the person's shard (the login's audit entry records the outcome).
    func verifyOwnFingerprint(iin text: String, probe bytes: [UInt8]) async throws -> Bool {
        let iin = try IIN(text)
        let probe = try TemplateCodec.decode(bytes, as: .native)
        guard directory.contains(iin) else { return false }
        let shard = map.shard(of: iin)
        let request = WireMessage.cluster(.shardVerify(ShardVerify(shard: shard, subject: ShardMap.subject(of: iin), probe: probe)))
        let answer: ShardVerifyAnswer? = await askReplicas(shard: shard) { message in
            if case .cluster(.shardVerifyAnswer(let a)) = message, a.coverage.contributed.contains(shard) { return a }
            return nil
        } request: { request }
        guard let answer else { throw CoordinatorError(code: .unavailable, description: "shard \(shard) unavailable") }
        return answer.found && answer.fusedScore >= ScoreScale.threshold(forFMR: options.verifyFMR)
    }
}

/// A login failure as the wire answers it: ERROR 21 credentials, 22 account blocked or
/// locked out, 23 challenge, 24 second factor; the text starts with the access layer's
/// stable failure code.
struct LoginRefusal {
    var code: String
    var wire: WireErrorCode
    var text: String

    init(code: String, wire: WireErrorCode, text: String) {
        self.code = code
        self.wire = wire
        self.text = text
    }

    init(_ f: LoginFailure) {
        code = f.rawValue
        switch f {
        case .unknownAccount, .noCertificate, .certificateMismatch, .foreignCertificate, .certificateExpired, .unsupportedKey,
             .badSignature:
            wire = .loginRefused
        case .blocked, .lockedOut:
            wire = .accountLocked
        case .badChallenge:
            wire = .challengeInvalid
        case .secondFactorRequired, .secondFactorNotEnrolled, .badCode, .codeReused, .fingerprintMismatch, .fingerprintUnavailable:
            wire = .secondFactorRefused
        case .internalError:
            wire = .internal
        }
        text = f.explanation
    }
}

/// The coordinator as the access layer's fingerprint verifier (second factor).
struct LoginFingerprints: FingerprintVerifier {
    let coordinator: Coordinator
    func verify(iin: String, probe: [UInt8]) async throws -> Bool {
        try await coordinator.verifyOwnFingerprint(iin: iin, probe: probe)
    }
}
