import TanbaCore

/// Who asks, on whose authority (protocol version 3): the account's live session from the
/// access layer's multi-factor login, the account and role it claims, and the basis the
/// request cites [LEX 3, 20–27]. The coordinator checks the claim against the session and
/// the roles x basis table before it searches anything, and logs the decision either way.
/// A request without one comes from a branch station, on the person's consent.
public struct Requester: Equatable, Sendable {
    /// Basis kinds on the wire. 1–6 are the kinds of the roles x basis table; 7–9 are the
    /// bases of Tanba's own roles (examiners, branch staff acting on a session).
    public enum BasisKind: UInt8, Sendable, CaseIterable {
        case none = 0
        case criminal = 1, administrative = 2, administrativeOffence = 3, civil = 4, enforcement = 5, search = 6
        case adjudication = 7, consent = 8, subjectRequest = 9
    }

    /// The session token of the account's login (a bearer secret: the transport is
    /// mutual TLS, and the coordinator keeps only its hash).
    public var session: String
    /// The account (login) the requester says the session belongs to.
    public var account: String
    /// The role the requester acts in (`TanbaAccess.Role` raw value).
    public var role: String
    public var basis: BasisKind
    /// The case number, or for Tanba's own bases the reference (adjudication job, form).
    public var caseNumber: String

    public init(session: String, account: String, role: String, basis: BasisKind, caseNumber: String) {
        self.session = session
        self.account = account
        self.role = role
        self.basis = basis
        self.caseNumber = caseNumber
    }
}

/// VIEW_RECORD (0x0B): an authority (or examiner) looks at a person's record — identity
/// and enrollment facts, never the templates. Always carries its requester.
public struct ViewRecordRequest: Equatable, Sendable {
    public var iin: IIN
    public var requester: Requester
    public init(iin: IIN, requester: Requester) {
        self.iin = iin
        self.requester = requester
    }
}

/// The answer to VIEW_RECORD: what the record says about the person, minimised to what an
/// identification needs (no templates, no consent documents).
public struct RecordView: Equatable, Sendable {
    public struct Missing: Equatable, Sendable {
        public var position: FingerPosition
        public var reason: String
        public init(position: FingerPosition, reason: String) { self.position = position; self.reason = reason }
    }
    public var iin: IIN
    public var fullName: String
    public var captured: [FingerPosition]
    public var missing: [Missing]
    public var branch: String
    /// Astana time of the capture (ISO 8601, +05:00).
    public var capturedAt: String
    public init(iin: IIN, fullName: String, captured: [FingerPosition], missing: [Missing], branch: String, capturedAt: String) {
        self.iin = iin
        self.fullName = fullName
        self.captured = captured
        self.missing = missing
        self.branch = branch
        self.capturedAt = capturedAt
    }
}

extension WireWriter {
    mutating func requester(_ r: Requester) {
        text(r.session); text(r.account); text(r.role); u8(r.basis.rawValue); text(r.caseNumber)
    }

    mutating func recordView(_ v: RecordView) {
        iin(v.iin); text(v.fullName)
        let captured = v.captured.prefix(10)
        u8(UInt8(captured.count))
        for p in captured { u8(p.rawValue) }
        let missing = v.missing.prefix(10)
        u8(UInt8(missing.count))
        for m in missing { u8(m.position.rawValue); text(m.reason) }
        text(v.branch); text(v.capturedAt)
    }
}

extension WireReader {
    mutating func requester() throws(DecodeError) -> Requester {
        let session = try text("requester session"), account = try text("requester account"), role = try text("requester role")
        let code = try u8("basis kind")
        guard let basis = Requester.BasisKind(rawValue: code) else {
            throw .invalidValue(field: "basis kind", reason: "unknown code \(code) (0 none, 1–6 case kinds, 7 adjudication, 8 consent, 9 subject request)")
        }
        return Requester(session: session, account: account, role: role, basis: basis, caseNumber: try text("case number"))
    }

    /// Version 3 appends a requester to IDENTIFY and VERIFY; an encoder writes it only when
    /// there is one (otherwise the message keeps the version-1 layout), so a version-3
    /// decoder takes it when bytes remain. Older decoders never do: trailing bytes are an error.
    mutating func optionalRequester(version: UInt8) throws(DecodeError) -> Requester? {
        version >= 3 && remaining > 0 ? try requester() : nil
    }

    mutating func fingerPosition(_ field: String) throws(DecodeError) -> FingerPosition {
        let code = try u8(field)
        guard let position = FingerPosition(rawValue: code), FingerPosition.tenPrint.contains(position) else {
            throw .invalidValue(field: field, reason: "\(code) is not one of the ten fingers")
        }
        return position
    }

    mutating func recordView() throws(DecodeError) -> RecordView {
        let iin = try iin("record IIN"), name = try text("full name")
        let n = Int(try u8("captured count"))
        guard n <= 10 else { throw .oversized(field: "captured fingers", size: n, limit: 10) }
        var captured: [FingerPosition] = []
        for _ in 0..<n { captured.append(try fingerPosition("captured finger")) }
        let m = Int(try u8("missing count"))
        guard m <= 10 else { throw .oversized(field: "missing fingers", size: m, limit: 10) }
        var missing: [RecordView.Missing] = []
        for _ in 0..<m { missing.append(RecordView.Missing(position: try fingerPosition("missing finger"), reason: try text("missing reason"))) }
        return RecordView(iin: iin, fullName: name, captured: captured, missing: missing, branch: try text("branch"),
                          capturedAt: try text("captured at"))
    }
}
