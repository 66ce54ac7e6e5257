import TanbaCore

/// Multi-factor login of an account over the wire (issue 6): a client (an authority's
/// workstation, an examiner's or branch staff's client — a node with its own envelope key
/// in the coordinator's keyring, behind mutual TLS) asks for a challenge, signs it with the
/// private key of the user's registered X.509 certificate (possession) and sends it with a
/// one-time code (second factor); the coordinator's access layer opens a session whose
/// token the client then puts in the `requester` of IDENTIFY, VERIFY and VIEW_RECORD.
/// New message types, no version bump: an older coordinator answers them with ERROR 5.
public enum LoginMessage: Equatable, Sendable {
    /// LOGIN_CHALLENGE (0x0D): a fresh single-use nonce for `account`, bound to the sender.
    case challenge(account: String)
    /// LOGIN (0x0E).
    case login(LoginRequest)
    /// LOGOUT (0x0F): ends the session.
    case logout(session: String)
    /// 0x8D.
    case challengeAnswer(LoginChallengeAnswer)
    /// 0x8E.
    case loginAnswer(LoginAnswer)
    /// 0x8F: whether a live session was ended.
    case logoutAnswer(ended: Bool)

    public var type: MessageType {
        switch self {
        case .challenge: .loginChallenge
        case .login: .login
        case .logout: .logout
        case .challengeAnswer: .loginChallengeAnswer
        case .loginAnswer: .loginAnswer
        case .logoutAnswer: .logoutAnswer
        }
    }

    /// Largest signature accepted (an ECDSA P-256 DER signature is ≤ 72 bytes, Ed25519 64).
    public static let maximumSignature = 512
    /// Largest user agreement text carried in the challenge answer.
    public static let maximumAgreement = 16 << 10

    func encode(into w: inout WireWriter) {
        switch self {
        case .challenge(let account):
            w.text(account)
        case .login(let r):
            w.text(r.account); w.text(r.nonce); w.blob(Array(r.signature.prefix(Self.maximumSignature)))
            switch r.secondFactor {
            case .none: w.u8(0)
            case .totp(let code): w.u8(1); w.text(code)
            case .fingerprint(let probe): w.u8(2); w.record(probe)
            }
            w.blob(Array(r.agreementSignature.prefix(Self.maximumSignature)))
        case .logout(let session):
            w.text(session)
        case .challengeAnswer(let a):
            w.text(a.nonce); w.text(a.expiresAt)
            var text = Substring(a.agreementText)
            while text.utf8.count > Self.maximumAgreement { text = text.dropLast() }
            w.blob(Array(text.utf8))
        case .loginAnswer(let a):
            w.text(a.session); w.text(a.expiresAt); w.text(a.account); w.text(a.role); w.text(a.secondFactor)
            w.bool(a.agreementSigned); w.text(a.agreementSignedAt)
        case .logoutAnswer(let ended):
            w.bool(ended)
        }
    }

    static func decode(type: MessageType, reader r: inout WireReader) throws(DecodeError) -> LoginMessage {
        switch type {
        case .loginChallenge:
            return .challenge(account: try r.text("account"))
        case .login:
            let account = try r.text("account"), nonce = try r.text("nonce")
            let signature = try r.blob("challenge signature", limit: maximumSignature)
            let kind = try r.u8("second factor kind")
            let factor: LoginRequest.SecondFactor
            switch kind {
            case 0: factor = .none
            case 1: factor = .totp(try r.text("one-time code"))
            case 2: factor = .fingerprint(try r.record("fingerprint probe", views: BodyLimits.fingersPerProbe))
            default: throw .invalidValue(field: "second factor kind", reason: "unknown code \(kind) (0 none, 1 one-time code, 2 fingerprint)")
            }
            return .login(LoginRequest(account: account, nonce: nonce, signature: signature, secondFactor: factor,
                                       agreementSignature: try r.blob("agreement signature", limit: maximumSignature)))
        case .logout:
            return .logout(session: try r.text("session"))
        case .loginChallengeAnswer:
            let nonce = try r.text("nonce"), expires = try r.text("expires at")
            let text = try r.blob("agreement text", limit: maximumAgreement)
            guard let agreement = String(validating: text, as: UTF8.self) else {
                throw .invalidValue(field: "agreement text", reason: "not UTF-8")
            }
            return .challengeAnswer(LoginChallengeAnswer(nonce: nonce, expiresAt: expires, agreementText: agreement))
        case .loginAnswer:
            return .loginAnswer(LoginAnswer(session: try r.text("session"), expiresAt: try r.text("expires at"),
                                            account: try r.text("account"), role: try r.text("role"),
                                            secondFactor: try r.text("second factor"), agreementSigned: try r.bool("agreement signed"),
                                            agreementSignedAt: try r.text("agreement signed at")))
        case .logoutAnswer:
            return .logoutAnswer(ended: try r.bool("ended"))
        default:
            throw .unknownMessageType(type.rawValue)
        }
    }
}

/// LOGIN (0x0E): the signed challenge and the second factor, optionally the user
/// agreement's acceptance.
public struct LoginRequest: Equatable, Sendable {
    public enum SecondFactor: Equatable, Sendable {
        case none
        /// RFC 6238 code from the user's registered authenticator.
        case totp(String)
        /// A live capture of the user's own finger(s), verified against their enrollment.
        case fingerprint(FingerprintRecord)
    }

    public var account: String
    /// The nonce of the LOGIN_CHALLENGE answer.
    public var nonce: String
    /// Over `tanba-login-v2|ACCOUNT|CLIENT|NONCE` (CLIENT = the sender's node name) with the
    /// private key of the account's registered certificate: ECDSA P-256 / SHA-256 (DER or
    /// raw r‖s) or Ed25519.
    public var signature: [UInt8]
    public var secondFactor: SecondFactor
    /// Empty, or the signature over `tanba-agreement-v1|ACCOUNT|TEXT` (TEXT = the agreement
    /// of the challenge answer) with the same key: the user accepts the agreement at first
    /// login [LEX 17].
    public var agreementSignature: [UInt8]

    public init(account: String, nonce: String, signature: [UInt8], secondFactor: SecondFactor, agreementSignature: [UInt8] = []) {
        self.account = account
        self.nonce = nonce
        self.signature = signature
        self.secondFactor = secondFactor
        self.agreementSignature = agreementSignature
    }

    /// The bytes a client signs for a challenge (the access layer's v2 login bytes).
    public static func signedBytes(account: String, client: String, nonce: String) -> [UInt8] {
        Array("tanba-login-v2|\(account)|\(client)|\(nonce)".utf8)
    }

    /// The bytes a client signs to accept the user agreement `text`.
    public static func agreementBytes(account: String, text: String) -> [UInt8] {
        Array("tanba-agreement-v1|\(account)|".utf8) + Array(text.utf8)
    }
}

/// 0x8D: the challenge, when it expires, and the user agreement in force (a public text:
/// the client shows it and, if the user accepts, signs it in LOGIN).
public struct LoginChallengeAnswer: Equatable, Sendable {
    public var nonce: String
    /// Astana time (ISO 8601, +05:00).
    public var expiresAt: String
    public var agreementText: String
    public init(nonce: String, expiresAt: String, agreementText: String) {
        self.nonce = nonce
        self.expiresAt = expiresAt
        self.agreementText = agreementText
    }
}

/// 0x8E: the session. `session` is a bearer secret shown once; the coordinator keeps only
/// its SHA-256. Until `agreementSigned`, every request with it is refused (ERROR 18).
public struct LoginAnswer: Equatable, Sendable {
    public var session: String
    /// Astana time (ISO 8601, +05:00).
    public var expiresAt: String
    public var account: String
    /// The account's role (`TanbaAccess.Role` raw value): what the requester must claim.
    public var role: String
    /// "totp" or "fingerprint".
    public var secondFactor: String
    public var agreementSigned: Bool
    /// When the agreement was signed (Astana time); empty while unsigned.
    public var agreementSignedAt: String
    public init(session: String, expiresAt: String, account: String, role: String, secondFactor: String, agreementSigned: Bool,
                agreementSignedAt: String) {
        self.session = session
        self.expiresAt = expiresAt
        self.account = account
        self.role = role
        self.secondFactor = secondFactor
        self.agreementSigned = agreementSigned
        self.agreementSignedAt = agreementSignedAt
    }
}

extension SignedCaller {
    /// The client side of a wire login: LOGIN_CHALLENGE, then LOGIN with the challenge
    /// signed by `sign` (the user's certificate key; the bytes are
    /// `LoginRequest.signedBytes` with this caller's node name) and `secondFactor`. With
    /// `acceptAgreement`, the agreement text of the challenge answer is signed too and the
    /// coordinator stores it (first login). A refusal is thrown as `CallError.remote`
    /// (ERROR 21–24, text starting with the failure code).
    public func login(account: String, secondFactor: LoginRequest.SecondFactor, acceptAgreement: Bool = false,
                      sign: ([UInt8]) throws -> [UInt8], to peer: String, at address: String,
                      deadline: Duration) async throws -> (challenge: LoginChallengeAnswer, session: LoginAnswer) {
        guard case .login(.challengeAnswer(let challenge)) = try await call(.login(.challenge(account: account)), to: peer, at: address,
                                                                            deadline: deadline) else {
            throw CallError.malformedAnswer(.invalidValue(field: "answer", reason: "LOGIN_CHALLENGE was not answered with a challenge"))
        }
        let request = LoginRequest(
            account: account, nonce: challenge.nonce,
            signature: try sign(LoginRequest.signedBytes(account: account, client: identity.name, nonce: challenge.nonce)),
            secondFactor: secondFactor,
            agreementSignature: acceptAgreement ? try sign(LoginRequest.agreementBytes(account: account, text: challenge.agreementText)) : [])
        guard case .login(.loginAnswer(let session)) = try await call(.login(.login(request)), to: peer, at: address, deadline: deadline) else {
            throw CallError.malformedAnswer(.invalidValue(field: "answer", reason: "LOGIN was not answered with a session"))
        }
        return (challenge, session)
    }
}
