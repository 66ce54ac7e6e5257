import Foundation
import TanbaCore

/// One audit event as the coordinator reads it from the store's audit log (the same
/// columns as `TanbaStore.AuditEntry`), plus the actor's organisation when known. The
/// access layer never reads the store itself.
public struct AuditEvent: Sendable, Equatable, Codable {
    /// Astana time as the store writes it (any ISO 8601 offset is accepted).
    public var at: String
    public var actor: String
    public var role: String
    public var basis: String
    public var caseNumber: String?
    public var operation: String
    public var subjectRef: String?
    public var result: String
    public var organisation: String?

    public init(at: String, actor: String, role: String, basis: String, caseNumber: String? = nil, operation: String,
                subjectRef: String? = nil, result: String, organisation: String? = nil) {
        self.at = at
        self.actor = actor
        self.role = role
        self.basis = basis
        self.caseNumber = caseNumber
        self.operation = operation
        self.subjectRef = subjectRef
        self.result = result
        self.organisation = organisation
    }

    var refused: Bool { result.hasPrefix("refused") }
    var date: Date? { AstanaTime.parse(at) }
}

/// The kinds of action a subject is told about [PD 8-1].
public enum SubjectActionKind: String, Sendable, Codable, CaseIterable {
    case enrollment, access, view, change, transfer, block, deletion

    /// The store's and coordinator's operation names, by kind. Unknown operations on the
    /// subject's data are reported as `access` rather than dropped.
    public static func of(operation: String) -> SubjectActionKind {
        switch operation {
        case "enroll": .enrollment
        case "identify", "verify", "candidate": .access
        case "view-record", "read-archive", "view-archive", "subject-report", "adjudicate": .view
        case "reenroll", "update", "supplement", "consent-revoke", "consent-give": .change
        case "transfer", "export", "export-own-record", "cross-border-transfer": .transfer
        case "block", "hold", "suspend": .block
        case "delete", "delete-on-request", "reconcile-shredded": .deletion
        default: .access
        }
    }
}

/// An operator that holds the subject's consent [PD 8-1], as the coordinator reads it
/// from the store's consent records.
public struct ConsentHolder: Sendable, Equatable, Codable {
    public var operatorName: String
    public var operatorBIN: String
    public var term: String
    public var givenAt: String
    public var revokedAt: String?
    public var thirdPartyTransfer: Bool
    public var crossBorderTransfer: Bool
    public var publication: Bool

    public init(operatorName: String, operatorBIN: String, term: String, givenAt: String, revokedAt: String? = nil,
                thirdPartyTransfer: Bool = false, crossBorderTransfer: Bool = false, publication: Bool = false) {
        self.operatorName = operatorName
        self.operatorBIN = operatorBIN
        self.term = term
        self.givenAt = givenAt
        self.revokedAt = revokedAt
        self.thirdPartyTransfer = thirdPartyTransfer
        self.crossBorderTransfer = crossBorderTransfer
        self.publication = publication
    }
}

public struct SubjectAction: Sendable, Equatable, Codable {
    public var at: String
    public var kind: SubjectActionKind
    public var operation: String
    public var who: String
    public var role: String
    public var organisation: String?
    public var basis: String
}

/// What a person is shown about their own data [PD 8-1].
public struct SubjectReport: Sendable, Equatable, Codable {
    /// The IIN with its middle digits masked (the report may be printed at a branch).
    public var subject: String
    public var generatedAt: String
    public var actions: [SubjectAction]
    /// Operators holding a consent that has not been revoked.
    public var consentHolders: [ConsentHolder]
    public var note: String
}

public enum SubjectTransparency {
    public static let exemptionNote = "Actions of law-enforcement bodies, special state bodies and courts are not listed "
        + "(Informatization law art. 36.4)."

    /// The report for `iin` from the audit events about that person (the coordinator
    /// selects them by the person's subject reference) and their consent records.
    ///
    /// Listed: every completed action (refused requests did nothing to the data), in time
    /// order, in Astana time, with who, role, organisation and basis. Not listed, and not
    /// counted (a count would disclose them): actions by the bodies exempt from
    /// notification, i.e. every role of the roles x basis table and the supervising
    /// prosecutor, and any event whose role is not a Tanba role but names a court, police,
    /// prosecutor's office or national-security body.
    public static func report(iin: IIN, events: [AuditEvent], consents: [ConsentHolder], now: Date = Date()) -> SubjectReport {
        let actions = events
            .filter { !$0.refused && !isExempt(role: $0.role) }
            .map { e -> (Date, SubjectAction) in
                let date = e.date ?? .distantPast
                return (date, SubjectAction(at: e.date.map(AstanaTime.format) ?? e.at, kind: .of(operation: e.operation),
                                            operation: e.operation, who: e.actor, role: e.role, organisation: e.organisation,
                                            basis: e.caseNumber.map { "\(e.basis) \($0)" } ?? e.basis))
            }
            .sorted { $0.0 < $1.0 }
            .map(\.1)
        let digits = Array(iin.digits)
        let masked = String(digits[0..<6]) + "*****" + String(digits[11...])
        return SubjectReport(subject: masked, generatedAt: AstanaTime.format(now), actions: actions,
                             consentHolders: consents.filter { $0.revokedAt == nil }, note: exemptionNote)
    }

    static let exemptWords = ["court", "judge", "police", "prosecutor", "investigat", "inquiry", "national-security",
                              "financial-monitoring", "state-guard", "penitentiary", "bailiff", "emergencies"]

    public static func isExempt(role: String) -> Bool {
        if let known = Role(rawValue: role) { return known.isExemptFromSubjectNotification }
        let lower = role.lowercased()
        return exemptWords.contains { lower.contains($0) }
    }

    /// Plain text for printing at a branch.
    public static func text(_ report: SubjectReport) -> String {
        var lines = ["Actions on the personal and biometric data of \(report.subject)", "as of \(report.generatedAt)", ""]
        if report.actions.isEmpty { lines.append("  (none)") }
        for a in report.actions {
            lines.append("  \(a.at)  \(a.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(a.operation) by \(a.who) (\(a.role)\(a.organisation.map { ", \($0)" } ?? "")); basis: \(a.basis)")
        }
        lines.append("")
        lines.append("Operators holding your consent:")
        if report.consentHolders.isEmpty { lines.append("  (none)") }
        for c in report.consentHolders {
            var flags: [String] = []
            if c.thirdPartyTransfer { flags.append("third parties") }
            if c.crossBorderTransfer { flags.append("cross-border") }
            if c.publication { flags.append("publication") }
            lines.append("  \(c.operatorName) (BIN \(c.operatorBIN)), since \(c.givenAt), term \(c.term)\(flags.isEmpty ? "" : "; may: " + flags.joined(separator: ", "))")
        }
        lines.append("")
        lines.append(report.note)
        return lines.joined(separator: "\n")
    }
}
