import TanbaSQLite
import TanbaCore

/// The person's identity as written on the consent form [BIO appendix]. Stored sealed.
public struct PersonIdentity: Sendable, Equatable, Codable {
    public var fullName: String
    public var iin: String
    public var birthDate: String
    /// The guardian's name when the person lacks legal capacity [BIO 5].
    public var guardian: String?

    public init(fullName: String, iin: IIN, guardian: String? = nil) {
        self.fullName = fullName
        self.iin = iin.digits
        self.birthDate = iin.birthDate.description
        self.guardian = guardian
    }
}

/// A finger that could not be captured, and why [BIO 7].
public struct MissingFinger: Sendable, Equatable, Codable {
    public var position: FingerPosition
    public var reason: String
    public init(position: FingerPosition, reason: String) {
        self.position = position
        self.reason = reason
    }
}

/// Where, by whom and with what the enrollment was captured.
public struct CaptureInfo: Sendable, Equatable, Codable {
    public var branch: String
    public var station: String
    public var operatorLogin: String
    public var device: String
    /// Astana time, ISO 8601.
    public var capturedAt: String
    public init(branch: String, station: String, operatorLogin: String, device: String, capturedAt: String = AstanaTime.now()) {
        self.branch = branch
        self.station = station
        self.operatorLogin = operatorLogin
        self.device = device
        self.capturedAt = capturedAt
    }
}

/// One ten-print enrollment: the templates captured, the exceptions, the capture facts.
public struct Enrollment: Sendable, Equatable {
    public var record: FingerprintRecord
    public var missing: [MissingFinger]
    public var capture: CaptureInfo
    public init(record: FingerprintRecord, missing: [MissingFinger] = [], capture: CaptureInfo) {
        self.record = record
        self.missing = missing
        self.capture = capture
    }
}

/// The written consent [BIO 3], with the details [PD 8.4] requires. Stored sealed.
public struct Consent: Sendable, Equatable, Codable {
    public var operatorName: String
    public var operatorBIN: String
    /// Term of the consent, as written on the form (e.g. "indefinite", "until 2031-01-01").
    public var term: String
    public var thirdPartyTransfer: Bool
    public var crossBorderTransfer: Bool
    public var publication: Bool
    /// Astana date of the signature.
    public var signedAt: String
    /// Reference to the scanned/signed form (document store ID), not the form itself.
    public var signatureReference: String
    /// The operator (login) who accepted the form.
    public var acceptedBy: String
    /// The document as the station signed it, when the consent came over the wire
    /// (CONSENT 0x0A); nil for consents recorded otherwise (bulk loads, older rows).
    public var signed: SignedConsentDocument?

    public init(operatorName: String, operatorBIN: String, term: String, thirdPartyTransfer: Bool = false,
                crossBorderTransfer: Bool = false, publication: Bool = false, signedAt: String = AstanaTime.now(),
                signatureReference: String, acceptedBy: String, document: SignedConsentDocument? = nil) {
        self.signed = document
        self.operatorName = operatorName
        self.operatorBIN = operatorBIN
        self.term = term
        self.thirdPartyTransfer = thirdPartyTransfer
        self.crossBorderTransfer = crossBorderTransfer
        self.publication = publication
        self.signedAt = signedAt
        self.signatureReference = signatureReference
        self.acceptedBy = acceptedBy
    }
}

/// A station's signed consent form as kept with the person: the facts [PD 8.4] asks for
/// that `Consent` does not name, and the signed bytes that prove them [PD 8.3].
public struct SignedConsentDocument: Sendable, Equatable, Codable {
    /// The form's ID (`ConsentRecord.id`): a re-enrollment must come with a new one [BIO 8].
    public var id: String
    public var branch: String
    public var station: String
    public var subjectName: String
    public var subjectIIN: String
    /// The station's canonical JSON and its Ed25519 signature over it.
    public var document: [UInt8]
    public var signature: [UInt8]
    public init(id: String, branch: String, station: String, subjectName: String, subjectIIN: String,
                document: [UInt8], signature: [UInt8]) {
        self.id = id
        self.branch = branch
        self.station = station
        self.subjectName = subjectName
        self.subjectIIN = subjectIIN
        self.document = document
        self.signature = signature
    }
}

/// Who performs an operation, in what role and on what basis: every store mutation
/// writes one audit entry from it.
public struct Actor: Sendable, Equatable {
    public var login: String
    public var role: String
    public var basis: String
    public var caseNumber: String?
    public init(login: String, role: String, basis: String, caseNumber: String? = nil) {
        self.login = login
        self.role = role
        self.basis = basis
        self.caseNumber = caseNumber
    }
}

/// A deletion request [BIO 11]: who asked (subject, representative, guardian, court…),
/// at which branch, on what basis.
public struct DeletionRequest: Sendable, Equatable {
    public var requestedBy: String
    public var branch: String
    public var basis: String
    public var requestedAt: String
    public init(requestedBy: String, branch: String, basis: String, requestedAt: String = AstanaTime.now()) {
        self.requestedBy = requestedBy
        self.branch = branch
        self.basis = basis
        self.requestedAt = requestedAt
    }
}

/// What remains after a deletion: no biometric data, no plaintext identity.
public struct DeletionRecord: Sendable, Equatable {
    public var subjectRef: String
    public var requestedBy: String
    public var branch: String
    public var basis: String
    public var requestedAt: String
    public var deletedAt: String
    public var actor: String
}

