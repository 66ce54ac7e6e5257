import Foundation

/// The six kinds of basis an authorised body cites for a request [LEX 3, 20–27].
public enum CaseKind: String, CaseIterable, Codable, Sendable {
    case criminal
    /// An administrative case (court).
    case administrative
    /// An administrative-offence case (registry).
    case administrativeOffence = "administrative-offence"
    /// A civil case (court).
    case civil
    /// An enforcement proceeding.
    case enforcement
    /// A search case.
    case search
}

/// Every role a Tanba account can hold. The first 19 are the authorised bodies of the
/// roles x basis table [LEX appendix 1] (the investigator and inquiry-officer rows are
/// split by the body they serve in, as the table names them); the last six are Tanba's
/// own: branch staff, examiners, auditors, operations and the supervising prosecutor.
public enum Role: String, CaseIterable, Codable, Sendable {
    case prosecutor
    case judge
    case investigatorPolice = "investigator-police"
    case investigatorNationalSecurity = "investigator-national-security"
    case investigatorFinancialMonitoring = "investigator-financial-monitoring"
    case inquiryOfficerPolice = "inquiry-officer-police"
    case inquiryOfficerNationalSecurity = "inquiry-officer-national-security"
    case inquiryOfficerEmergencies = "inquiry-officer-emergencies"
    case inquiryOfficerStateGuard = "inquiry-officer-state-guard"
    case financialMonitoringOfficer = "financial-monitoring-officer"
    case militaryPoliceOfficer = "military-police-officer"
    case penitentiaryOfficer = "penitentiary-officer"
    case emergenciesOfficer = "emergencies-officer"
    case nationalSecurityOfficer = "national-security-officer"
    case bailiff
    case stateGuardOfficer = "state-guard-officer"
    case administrativePoliceOfficer = "administrative-police-officer"
    case criminalPoliceOfficer = "criminal-police-officer"
    case dutyUnitOfficer = "duty-unit-officer"

    case branchOperator = "branch-operator"
    case branchSupervisor = "branch-supervisor"
    case examiner
    case auditor
    case opsAdministrator = "ops-administrator"
    case supervisingProsecutor = "supervising-prosecutor"

    /// The 19 authorised bodies of [LEX appendix 1].
    public static let authorities: [Role] = Array(allCases.prefix(19))

    public var isAuthority: Bool { RolesTable.rows[self] != nil }

    /// Actions by these bodies are exempt from notifying the subject [Informatization law
    /// 36.4]: law-enforcement bodies, special state bodies and courts. Every authority of
    /// the table is one of these (prosecutors, courts, police, national security,
    /// financial monitoring, state guard, military police, penitentiary service, emergency
    /// inquiry, bailiffs of the enforcement service).
    public var isExemptFromSubjectNotification: Bool { isAuthority || self == .supervisingProsecutor }
}

/// The roles x basis table of REQUIREMENTS.md §5.2 [LEX appendix 1], exactly.
public enum RolesTable {
    private static let c = CaseKind.criminal, a = CaseKind.administrative, o = CaseKind.administrativeOffence
    private static let v = CaseKind.civil, e = CaseKind.enforcement, s = CaseKind.search

    public static let rows: [Role: Set<CaseKind>] = [
        .prosecutor: [c, a, o, v, e, s],
        .judge: [c, a, v, e],
        .investigatorPolice: [c, o],
        .investigatorNationalSecurity: [c, o],
        .investigatorFinancialMonitoring: [c, o],
        .inquiryOfficerPolice: [c, o],
        .inquiryOfficerNationalSecurity: [c, o],
        .inquiryOfficerEmergencies: [c, o],
        .inquiryOfficerStateGuard: [c, o],
        .financialMonitoringOfficer: [c, o, s],
        .militaryPoliceOfficer: [c, o, s],
        .penitentiaryOfficer: [c, o],
        .emergenciesOfficer: [c, o],
        .nationalSecurityOfficer: [c, o, s],
        .bailiff: [e],
        .stateGuardOfficer: [c, s],
        .administrativePoliceOfficer: [o],
        .criminalPoliceOfficer: [c, o, s],
        .dutyUnitOfficer: [s],
    ]

    public static func allows(_ role: Role, _ kind: CaseKind) -> Bool { rows[role]?.contains(kind) ?? false }
}

/// What a request asks Tanba to do.
public enum Action: String, CaseIterable, Codable, Sendable {
    // Requests by authorised bodies (and examiners), each with a basis.
    case identify, verify
    case viewRecord = "view-record"
    // Branch work for public services [BIO].
    case enroll, reenroll
    case deleteOnRequest = "delete-on-request"
    case subjectReport = "subject-report"
    case exportOwnRecord = "export-own-record"
    /// Reading archived enrollments [BIO 9].
    case viewArchive = "view-archive"
    /// Resolving an enrollment held for adjudication (possible duplicate).
    case adjudicate
    // Supervision [LEX 9, 10, 44, 51, 52].
    case viewUserActivity = "view-user-activity"
    case supervisorReport = "supervisor-report"
    case decideAccountApplication = "decide-account-application"
    case blockAccount = "block-account"
    // Audit and operations (no personal data).
    case verifyAuditLog = "verify-audit-log"
    case viewIncidents = "view-incidents"
    case recordIncident = "record-incident"
    case announceMaintenance = "announce-maintenance"
    case operateCluster = "operate-cluster"
    case viewStatus = "view-status"
    case backup

    /// Requests that must carry a basis kind and case number when an authority makes them.
    public var isAuthorityRequest: Bool { self == .identify || self == .verify || self == .viewRecord }
}

/// The basis a request cites.
public enum Basis: Sendable, Equatable, Hashable, Codable {
    /// A case of an authorised body [LEX 3, 20–27].
    case legal(CaseKind, caseNumber: String)
    /// The person's written consent for a public service [BIO 3]; reference = consent form.
    case consent(reference: String)
    /// The person's own request at a branch (deletion, report, export) [BIO 11, PD 8-1, DACT 140].
    case subjectRequest(reference: String)
    /// An enrollment held for adjudication; reference = the enrollment or job ID.
    case adjudication(reference: String)
    /// A documented request of the supervising prosecutor [LEX 52].
    case supervision(reference: String)
    /// Operations or audit work that touches no personal data.
    case operations
    case none

    /// The kind as written to the audit log's `basis` column.
    public var auditKind: String {
        switch self {
        case .legal(let kind, _): kind.rawValue
        case .consent: "consent"
        case .subjectRequest: "subject-request"
        case .adjudication: "adjudication"
        case .supervision: "supervision"
        case .operations: "operations"
        case .none: "none"
        }
    }

    /// The case number or reference written to the audit log's `case_number` column.
    public var reference: String? {
        switch self {
        case .legal(_, let n): n
        case .consent(let r), .subjectRequest(let r), .adjudication(let r), .supervision(let r): r
        case .operations, .none: nil
        }
    }

    var referenceKind: String {
        switch self {
        case .legal: "legal"
        case .consent: "consent"
        case .subjectRequest: "subject-request"
        case .adjudication: "adjudication"
        case .supervision: "supervision"
        case .operations: "operations"
        case .none: "none"
        }
    }
}

/// Why a request was refused. `code` is stable (logs, reports, the wire's error text).
public enum Refusal: Sendable, Equatable, Codable, CustomStringConvertible {
    case missingBasis(Action)
    case missingCaseNumber
    case malformedCaseNumber(String)
    case basisKindNotAllowed(Role, CaseKind)
    case wrongBasisForAction(Action, basis: String)
    case actionNotAllowed(Role, Action)
    case caseNotInUserProceedings(String)
    case accountNotActive(String)
    case agreementNotSigned
    case notAuthenticated(String)

    public var code: String {
        switch self {
        case .missingBasis: "missing-basis"
        case .missingCaseNumber: "missing-case-number"
        case .malformedCaseNumber: "malformed-case-number"
        case .basisKindNotAllowed: "basis-kind-not-allowed"
        case .wrongBasisForAction: "wrong-basis-for-action"
        case .actionNotAllowed: "action-not-allowed"
        case .caseNotInUserProceedings: "case-not-in-user-proceedings"
        case .accountNotActive: "account-not-active"
        case .agreementNotSigned: "agreement-not-signed"
        case .notAuthenticated: "not-authenticated"
        }
    }

    /// The rule the refusal enforces (IDs of docs/compliance.md).
    public var rule: String {
        switch self {
        case .missingBasis, .missingCaseNumber, .malformedCaseNumber, .wrongBasisForAction: "LEX-1"
        case .caseNotInUserProceedings: "LEX-2"
        case .basisKindNotAllowed: "LEX-3"
        case .actionNotAllowed: "STO-4"
        case .accountNotActive: "LEX-6"
        case .agreementNotSigned: "LEX-9"
        case .notAuthenticated: "LEX-10"
        }
    }

    public var description: String {
        switch self {
        case .missingBasis(let a): "\(a.rawValue) requires a basis (kind and case number) [LEX 3]"
        case .missingCaseNumber: "the basis has no case number [LEX 3]"
        case .malformedCaseNumber(let n): "'\(n)' is not a case number (1–64 letters, digits, '-', '/', '.', with at least one digit)"
        case .basisKindNotAllowed(let r, let k): "role \(r.rawValue) may not make requests on a \(k.rawValue) basis [LEX appendix 1]"
        case .wrongBasisForAction(let a, let b): "\(a.rawValue) cannot be made on a \(b) basis"
        case .actionNotAllowed(let r, let a): "role \(r.rawValue) may not \(a.rawValue)"
        case .caseNotInUserProceedings(let n): "case \(n) is not among the user's proceedings [LEX 5]"
        case .accountNotActive(let s): "the account is \(s)"
        case .agreementNotSigned: "the user agreement has not been signed [LEX 17]"
        case .notAuthenticated(let why): "not authenticated: \(why)"
        }
    }
}

/// A request as the coordinator presents it to the policy.
public struct AccessRequest: Sendable, Equatable {
    public var login: String
    public var role: Role
    public var action: Action
    public var basis: Basis
    /// The subject reference (keyed hash of the IIN) or other target, for the audit entry.
    public var subjectRef: String?

    public init(login: String, role: Role, action: Action, basis: Basis, subjectRef: String? = nil) {
        self.login = login
        self.role = role
        self.action = action
        self.basis = basis
        self.subjectRef = subjectRef
    }
}

/// The fields of one audit entry, matching the store's `AuditEntry` column for column, so
/// the coordinator writes `store.record(...)` from it without interpretation. Times are
/// filled in by the store (Astana time).
public struct AuditFields: Sendable, Equatable, Codable {
    public var actor: String
    public var role: String
    public var basis: String
    public var caseNumber: String?
    public var operation: String
    public var subjectRef: String?
    public var result: String
}

/// The policy's answer. Both outcomes are audited by the caller with `audit`.
public struct AccessDecision: Sendable, Equatable, Codable {
    public var allowed: Bool
    public var refusal: Refusal?
    /// Notes that do not refuse but that supervisors see (e.g. a basis that could not be
    /// checked against the user's proceedings).
    public var notes: [String]
    public var audit: AuditFields

    public var reason: String { refusal?.description ?? "allowed" }
}

/// Whether a case number belongs to a user's proceedings [LEX 5]. The coordinator plugs
/// in the registry it has; `nil` means "not known", which does not refuse but is noted
/// and flagged in supervisor reports.
public protocol ProceedingsRegistry: Sendable {
    func belongs(caseNumber: String, kind: CaseKind, toUser login: String) -> Bool?
}

/// A registry from a fixed table (tests, small deployments, the CLI).
public struct StaticProceedings: ProceedingsRegistry {
    public var cases: [String: Set<String>]
    public init(_ cases: [String: Set<String>]) { self.cases = cases }
    public func belongs(caseNumber: String, kind: CaseKind, toUser login: String) -> Bool? {
        guard let mine = cases[login] else { return nil }
        return mine.contains(caseNumber)
    }
}

/// The roles x basis policy: pure, no I/O. `AccessControl` adds sessions and account status.
public struct AccessPolicy: Sendable {
    public var proceedings: (any ProceedingsRegistry)?

    public init(proceedings: (any ProceedingsRegistry)? = nil) { self.proceedings = proceedings }

    /// Which actions each non-authority role may perform, and on which basis.
    /// Authorities: identify / verify / view-record on a `.legal` basis of a kind their
    /// table row allows, nothing else.
    static let ownRights: [Role: [Action: String]] = [
        .branchOperator: [.enroll: "consent", .reenroll: "consent", .verify: "consent",
                          .deleteOnRequest: "subject-request", .subjectReport: "subject-request",
                          .exportOwnRecord: "subject-request"],
        .branchSupervisor: [.enroll: "consent", .reenroll: "consent", .verify: "consent",
                            .deleteOnRequest: "subject-request", .subjectReport: "subject-request",
                            .exportOwnRecord: "subject-request", .viewArchive: "subject-request|adjudication"],
        .examiner: [.adjudicate: "adjudication", .identify: "adjudication", .verify: "adjudication",
                    .viewRecord: "adjudication", .viewArchive: "adjudication"],
        .auditor: [.verifyAuditLog: "operations", .viewIncidents: "operations"],
        .opsAdministrator: [.operateCluster: "operations", .viewStatus: "operations", .backup: "operations",
                            .recordIncident: "operations", .announceMaintenance: "operations",
                            .viewIncidents: "operations", .verifyAuditLog: "operations"],
        .supervisingProsecutor: [.viewUserActivity: "supervision", .supervisorReport: "supervision",
                                 .decideAccountApplication: "supervision", .blockAccount: "supervision",
                                 .verifyAuditLog: "operations", .viewIncidents: "operations"],
    ]

    /// Whether `role` may perform `action` at all (on some basis).
    public static func permits(_ role: Role, _ action: Action) -> Bool {
        if role.isAuthority { return action.isAuthorityRequest }
        return ownRights[role]?[action] != nil
    }

    public func decide(_ request: AccessRequest) -> AccessDecision {
        var notes: [String] = []
        let refusal = check(request, notes: &notes)
        let result = refusal.map { "refused: \($0.code): \($0.description)" } ?? "allowed"
        let audit = AuditFields(actor: request.login, role: request.role.rawValue, basis: request.basis.auditKind,
                                caseNumber: request.basis.reference, operation: request.action.rawValue,
                                subjectRef: request.subjectRef,
                                result: notes.isEmpty ? result : result + " (" + notes.joined(separator: "; ") + ")")
        return AccessDecision(allowed: refusal == nil, refusal: refusal, notes: notes, audit: audit)
    }

    private func check(_ r: AccessRequest, notes: inout [String]) -> Refusal? {
        if r.role.isAuthority {
            guard r.action.isAuthorityRequest else { return .actionNotAllowed(r.role, r.action) }
            guard case .legal(let kind, let number) = r.basis else {
                if r.basis == .none { return .missingBasis(r.action) }
                return .wrongBasisForAction(r.action, basis: r.basis.auditKind)
            }
            if let bad = Self.validateReference(number) { return bad }
            guard RolesTable.allows(r.role, kind) else { return .basisKindNotAllowed(r.role, kind) }
            switch proceedings?.belongs(caseNumber: number, kind: kind, toUser: r.login) {
            case .some(false): return .caseNotInUserProceedings(number)
            case .some(true): break
            case .none: notes.append("case \(number) not checked against the user's proceedings")
            }
            return nil
        }
        guard let allowedBasis = Self.ownRights[r.role]?[r.action] else { return .actionNotAllowed(r.role, r.action) }
        if case .legal = r.basis {
            // Only the table's authorities may cite a case.
            return .wrongBasisForAction(r.action, basis: r.basis.auditKind)
        }
        if r.basis == .none { return .missingBasis(r.action) }
        guard allowedBasis.split(separator: "|").contains(Substring(r.basis.referenceKind)) else {
            return .wrongBasisForAction(r.action, basis: r.basis.auditKind)
        }
        if r.basis != .operations, let reference = r.basis.reference, let bad = Self.validateReference(reference) {
            return bad
        }
        return nil
    }

    /// A case number or reference: 1–64 of letters, digits, '-', '/', '.', '№', with a digit.
    static func validateReference(_ text: String) -> Refusal? {
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return .missingCaseNumber }
        let allowed = text.count <= 64 && text.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "-/.№".unicodeScalars.contains($0)
        }
        guard allowed, text.contains(where: \.isNumber) else { return .malformedCaseNumber(text) }
        return nil
    }
}
