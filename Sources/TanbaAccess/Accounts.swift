import Crypto
import Foundation
import TanbaCore
import TanbaSQLite

/// Who an application is for [LEX appendix 5]. Sealed at rest. The same record as the
/// store's account profile (TanbaCore).
public typealias Applicant = AccountProfile

public enum ApplicationAction: String, Sendable, Codable, CaseIterable {
    case register, move, block
}

public struct AccountApplication: Sendable, Equatable {
    public var login: String
    public var role: Role
    public var action: ApplicationAction
    public var applicant: Applicant
    public var reason: String

    public init(login: String, role: Role, action: ApplicationAction, applicant: Applicant, reason: String) {
        self.login = login
        self.role = role
        self.action = action
        self.applicant = applicant
        self.reason = reason
    }
}

public struct ApplicationStatus: Sendable, Equatable {
    public enum State: String, Sendable { case pending, approved, refused }
    public var id: String
    public var login: String
    public var action: ApplicationAction
    public var role: Role
    public var state: State
    public var submittedAt: String
    /// One day after submission [LEX 13].
    public var dueAt: String
    public var decidedAt: String?
    public var decidedBy: String?
    public var decisionReason: String?
    public var withinDeadline: Bool?
    /// Pending past its deadline at the time of the query.
    public var overdue: Bool
}

public enum AccountState: String, Sendable, Codable { case active, blocked }

/// Why an account was blocked.
public enum BlockKind: String, Sendable, Codable {
    case dismissal, suspension, inactivity, violation, application, lockout
}

public struct Account: Sendable, Equatable {
    public var login: String
    public var role: Role
    public var state: AccountState
    public var profile: Applicant
    public var createdAt: String
    public var agreementSignedAt: String?
    public var lastRequestAt: String?
    public var blockedKind: BlockKind?
    public var blockedReason: String?
    public var blockedAt: String?
    public var hasCertificate: Bool
    public var hasTOTP: Bool
}

public struct AccountEvent: Sendable, Equatable, Codable {
    public var seq: Int64
    public var login: String
    public var at: String
    public var kind: String
    public var detail: String
    public var actor: String
}

/// A notice owed to the supervising prosecutor or the user's management [LEX 45]. The
/// delivery channel (mail, the prosecutor's system) reads these rows.
public struct Notice: Sendable, Equatable, Codable {
    public enum Recipient: String, Sendable, Codable { case supervisingProsecutor = "supervising-prosecutor", management }
    public var recipient: Recipient
    /// For management: the organisation and unit of the user.
    public var addressee: String
    public var login: String
    public var message: String
    public var at: String
}

/// Operator accounts of authorised bodies and Tanba staff: applications, decisions,
/// agreement, position change, dismissal, automatic and violation blocks, credentials.
/// One SQLite file of its own; personal data sealed under the caller's 256-bit key.
/// Thread-safe (one lock around the connection).
public final class AccountRegistry: @unchecked Sendable {
    public static let applicationDeadline: TimeInterval = 24 * 3600
    public static let inactivityLimit: TimeInterval = 60 * 24 * 3600
    public static let positionChangeDeadline: TimeInterval = 24 * 3600

    let db: Database
    let sealer: FieldSealer
    public let clock: AccessClock
    private let lock = NSLock()

    public init(path: String, key: SymmetricKey, clock: AccessClock = .system) throws {
        db = try Database(path: path)
        sealer = try FieldSealer(key: key)
        self.clock = clock
        try Migrator.migrate(db, AccessSchema.migrations)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var now: Date { clock.now() }

    // MARK: Applications [LEX 13, appendix 5]

    /// Records an application and returns its ID; the decision is due one day later.
    @discardableResult
    public func submit(_ application: AccountApplication) throws -> String {
        guard Self.validLogin(application.login) else {
            throw AccessError.invalid("login '\(application.login)' must be 1–64 of a–z 0–9 . _ -")
        }
        let a = application.applicant
        for (name, value) in [("full name", a.fullName), ("organisation", a.organisation), ("unit", a.unit),
                              ("position", a.position), ("contacts", a.contacts), ("reason", application.reason)]
        where value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw AccessError.invalid("the application has no \(name)")
        }
        do { _ = try IIN(a.iin) } catch { throw AccessError.invalid("applicant IIN: \(error)") }
        let id = "app-" + randomHex(8)
        let t = now
        try locked {
            try db.transaction {
                let exists = try accountRow(application.login) != nil
                switch application.action {
                case .register where exists: throw AccessError.conflict("account \(application.login) already exists")
                case .move, .block: if !exists { throw AccessError.notFound("account \(application.login)") }
                default: break
                }
                try db.run("""
                    INSERT INTO access_applications (application_id, login, action, role, sealed_applicant, reason,
                        submitted_at, due_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')
                    """, [.text(id), .text(application.login), .text(application.action.rawValue),
                          .text(application.role.rawValue),
                          .blob(try sealer.seal(a, column: "access_applications.sealed_applicant", owner: id)),
                          .text(application.reason), .text(t.astana),
                          .text(t.addingTimeInterval(Self.applicationDeadline).astana)])
                try event(application.login, "application-submitted", "\(application.action.rawValue) as \(application.role.rawValue) (\(id))", actor: "applicant")
            }
        }
        return id
    }

    /// Approves: `register` creates the account (the agreement is signed at first login),
    /// `move` applies the new organisation, unit, position and role, `block` blocks.
    public func approve(_ id: String, by decider: String) throws {
        try decide(id, approve: true, reason: "approved", by: decider)
    }

    /// Refuses with a reason, which is required [LEX 13].
    public func refuse(_ id: String, reason: String, by decider: String) throws {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AccessError.invalid("a refusal must state its reason")
        }
        try decide(id, approve: false, reason: reason, by: decider)
    }

    private func decide(_ id: String, approve: Bool, reason: String, by decider: String) throws {
        let t = now
        try locked {
            try db.transaction {
                guard let row = try db.query("""
                    SELECT login, action, role, sealed_applicant, status, due_at FROM access_applications WHERE application_id = ?
                    """, [.text(id)]).first else { throw AccessError.notFound("application \(id)") }
                guard row[4].string == "pending" else { throw AccessError.conflict("application \(id) is already \(row[4].string ?? "")") }
                let login = row[0].string ?? ""
                let action = ApplicationAction(rawValue: row[1].string ?? "") ?? .register
                let role = Role(rawValue: row[2].string ?? "") ?? .branchOperator
                let applicant = try sealer.open(Applicant.self, row[3].bytes ?? [],
                                                column: "access_applications.sealed_applicant", owner: id)
                let within = parseAstana(row[5].string).map { t <= $0 } ?? false
                try db.run("""
                    UPDATE access_applications SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ?,
                        within_deadline = ? WHERE application_id = ?
                    """, [.text(approve ? "approved" : "refused"), .text(t.astana), .text(decider), .text(reason),
                          .integer(within ? 1 : 0), .text(id)])
                try event(login, approve ? "application-approved" : "application-refused",
                          "\(id)\(within ? "" : " (after the one-day deadline)")\(approve ? "" : ": \(reason)")", actor: decider)
                guard approve else { return }
                switch action {
                case .register:
                    try db.run("""
                        INSERT INTO access_accounts (login, role, status, sealed_profile, created_at) VALUES (?, ?, 'active', ?, ?)
                        """, [.text(login), .text(role.rawValue),
                              .blob(try sealer.seal(applicant, column: "access_accounts.sealed_profile", owner: login)),
                              .text(t.astana)])
                case .move:
                    try db.run("UPDATE access_accounts SET role = ?, sealed_profile = ? WHERE login = ?",
                               [.text(role.rawValue),
                                .blob(try sealer.seal(applicant, column: "access_accounts.sealed_profile", owner: login)),
                                .text(login)])
                    try event(login, "moved", "now \(role.rawValue)", actor: decider)
                case .block:
                    try setBlocked(login, kind: .application, reason: "blocked on application \(id): \(reason)", actor: decider, at: t)
                }
            }
        }
    }

    public func application(_ id: String) throws -> ApplicationStatus? {
        try locked { try applications(where: "application_id = ?", [.text(id)]).first }
    }

    /// Applications still pending after their one-day deadline.
    public func overdueApplications() throws -> [ApplicationStatus] {
        try locked { try applications(where: "status = 'pending'", []).filter(\.overdue) }
    }

    public func pendingApplications() throws -> [ApplicationStatus] {
        try locked { try applications(where: "status = 'pending'", []) }
    }

    /// The applicant data of an application (for the decider).
    public func applicant(ofApplication id: String) throws -> Applicant {
        try locked {
            guard let row = try db.query("SELECT sealed_applicant FROM access_applications WHERE application_id = ?",
                                         [.text(id)]).first else { throw AccessError.notFound("application \(id)") }
            return try sealer.open(Applicant.self, row[0].bytes ?? [], column: "access_applications.sealed_applicant", owner: id)
        }
    }

    private func applications(where clause: String, _ values: [SQLValue]) throws -> [ApplicationStatus] {
        let t = now
        return try db.query("""
            SELECT application_id, login, action, role, status, submitted_at, due_at, decided_at, decided_by,
                decision_reason, within_deadline FROM access_applications WHERE \(clause) ORDER BY submitted_at
            """, values).map { r in
            let state = ApplicationStatus.State(rawValue: r[4].string ?? "") ?? .pending
            return ApplicationStatus(
                id: r[0].string ?? "", login: r[1].string ?? "", action: ApplicationAction(rawValue: r[2].string ?? "") ?? .register,
                role: Role(rawValue: r[3].string ?? "") ?? .branchOperator, state: state,
                submittedAt: r[5].string ?? "", dueAt: r[6].string ?? "", decidedAt: r[7].string, decidedBy: r[8].string,
                decisionReason: r[9].string, withinDeadline: r[10].int.map { $0 == 1 },
                overdue: state == .pending && (parseAstana(r[6].string).map { t > $0 } ?? false))
        }
    }

    // MARK: Accounts

    public func account(_ login: String) throws -> Account? {
        try locked { try accountRow(login) }
    }

    public func allAccounts() throws -> [Account] {
        try locked {
            try db.query("SELECT login FROM access_accounts ORDER BY login").compactMap { try accountRow($0[0].string ?? "") }
        }
    }

    func accountRow(_ login: String) throws -> Account? {
        guard let r = try db.query("""
            SELECT login, role, status, sealed_profile, created_at, agreement_signed_at, last_request_at, blocked_kind,
                blocked_reason, blocked_at, certificate IS NOT NULL, sealed_totp IS NOT NULL FROM access_accounts WHERE login = ?
            """, [.text(login)]).first else { return nil }
        return Account(
            login: r[0].string ?? "", role: Role(rawValue: r[1].string ?? "") ?? .branchOperator,
            state: AccountState(rawValue: r[2].string ?? "") ?? .blocked,
            profile: try sealer.open(Applicant.self, r[3].bytes ?? [], column: "access_accounts.sealed_profile", owner: login),
            createdAt: r[4].string ?? "", agreementSignedAt: r[5].string, lastRequestAt: r[6].string,
            blockedKind: r[7].string.flatMap(BlockKind.init(rawValue:)), blockedReason: r[8].string, blockedAt: r[9].string,
            hasCertificate: r[10].int == 1, hasTOTP: r[11].int == 1)
    }

    /// A change of position [LEX 14]: applied at once; `effective` is when it happened, and
    /// a report later than 24 hours after it is recorded as late.
    public func changePosition(_ login: String, position: String, unit: String? = nil, role: Role? = nil,
                               effective: Date, by actor: String) throws {
        let t = now
        try locked {
            try db.transaction {
                guard var account = try accountRow(login) else { throw AccessError.notFound("account \(login)") }
                account.profile.position = position
                if let unit { account.profile.unit = unit }
                try db.run("UPDATE access_accounts SET sealed_profile = ?, role = ? WHERE login = ?",
                           [.blob(try sealer.seal(account.profile, column: "access_accounts.sealed_profile", owner: login)),
                            .text((role ?? account.role).rawValue), .text(login)])
                let late = t.timeIntervalSince(effective) > Self.positionChangeDeadline
                try event(login, "position-changed",
                          "effective \(effective.astana)\(role.map { ", role \($0.rawValue)" } ?? "")\(late ? "; reported after 24 hours" : "")",
                          actor: actor)
            }
        }
    }

    /// Dismissal or suspension blocks the account at once [LEX 15].
    public func dismiss(_ login: String, reason: String, suspension: Bool = false, by actor: String) throws {
        try block(login, kind: suspension ? .suspension : .dismissal, reason: reason, by: actor)
    }

    public func block(_ login: String, kind: BlockKind, reason: String, by actor: String) throws {
        let t = now
        try locked { try db.transaction { try setBlocked(login, kind: kind, reason: reason, actor: actor, at: t) } }
    }

    /// A detected violation: blocks at once and records notices to the supervising
    /// prosecutor and to the user's management (organisation and unit) [LEX 45].
    public func reportViolation(_ login: String, description: String, by actor: String) throws {
        let t = now
        try locked {
            try db.transaction {
                guard let account = try accountRow(login) else { throw AccessError.notFound("account \(login)") }
                try setBlocked(login, kind: .violation, reason: description, actor: actor, at: t)
                let message = "account \(login) (\(account.role.rawValue)) blocked at \(t.astana) for a violation: \(description)"
                try notify(login, Notice(recipient: .supervisingProsecutor, addressee: "supervising prosecutor",
                                         login: login, message: message, at: t.astana))
                try notify(login, Notice(recipient: .management,
                                         addressee: "\(account.profile.organisation) / \(account.profile.unit)",
                                         login: login, message: message, at: t.astana))
            }
        }
    }

    /// Blocks every active account without a request for 60 days (counting from its
    /// creation when it never made one) [LEX 16]. Returns the logins blocked.
    @discardableResult
    public func blockInactiveAccounts() throws -> [String] {
        let t = now
        return try locked {
            try db.transaction {
                var blocked: [String] = []
                for r in try db.query("SELECT login, created_at, last_request_at FROM access_accounts WHERE status = 'active'") {
                    guard let since = parseAstana(r[2].string) ?? parseAstana(r[1].string),
                          t.timeIntervalSince(since) >= Self.inactivityLimit else { continue }
                    let login = r[0].string ?? ""
                    try setBlocked(login, kind: .inactivity, reason: "no requests for 60 days (last: \(r[2].string ?? "none"))",
                                   actor: "system", at: t)
                    blocked.append(login)
                }
                return blocked
            }
        }
    }

    /// Called for every request the user makes (the 60-day rule counts from the last one).
    public func recordRequest(_ login: String) throws {
        let t = now
        try locked { _ = try db.run("UPDATE access_accounts SET last_request_at = ? WHERE login = ?", [.text(t.astana), .text(login)]) }
    }

    /// Reinstates a blocked account (a new decision, e.g. after an approved application).
    public func reinstate(_ login: String, reason: String, by actor: String) throws {
        let t = now
        try locked {
            try db.transaction {
                guard try db.run("""
                    UPDATE access_accounts SET status = 'active', blocked_kind = NULL, blocked_reason = NULL, blocked_at = NULL,
                        failed_attempts = 0, locked_until = NULL, last_request_at = ? WHERE login = ?
                    """, [.text(t.astana), .text(login)]) == 1 else { throw AccessError.notFound("account \(login)") }
                try event(login, "reinstated", reason, actor: actor)
            }
        }
    }

    func setBlocked(_ login: String, kind: BlockKind, reason: String, actor: String, at t: Date) throws {
        guard try db.run("""
            UPDATE access_accounts SET status = 'blocked', blocked_kind = ?, blocked_reason = ?, blocked_at = ? WHERE login = ?
            """, [.text(kind.rawValue), .text(reason), .text(t.astana), .text(login)]) == 1 else {
            throw AccessError.notFound("account \(login)")
        }
        // Open sessions end with the block.
        try db.run("UPDATE access_sessions SET revoked = 1 WHERE login = ?", [.text(login)])
        try event(login, "blocked", "\(kind.rawValue): \(reason)", actor: actor)
    }

    private func notify(_ login: String, _ notice: Notice) throws {
        try db.run("INSERT INTO access_notifications (login, recipient_kind, sealed_notice, created_at) VALUES (?, ?, ?, ?)",
                   [.text(login), .text(notice.recipient.rawValue),
                    .blob(try sealer.seal(notice, column: "access_notifications.sealed_notice", owner: login)),
                    .text(notice.at)])
    }

    /// Notices recorded for delivery (all, or for one user).
    public func notices(for login: String? = nil) throws -> [Notice] {
        try locked {
            let rows = try login.map { try db.query("SELECT login, sealed_notice FROM access_notifications WHERE login = ? ORDER BY seq", [.text($0)]) }
                ?? db.query("SELECT login, sealed_notice FROM access_notifications ORDER BY seq")
            return try rows.map { try sealer.open(Notice.self, $0[1].bytes ?? [], column: "access_notifications.sealed_notice",
                                                  owner: $0[0].string ?? "") }
        }
    }

    /// Enrols a TOTP authenticator for the user and returns it (show `uri` once, as a QR
    /// code). The secret is sealed; a new enrolment replaces the old one.
    public func enrollTOTP(_ login: String, by actor: String) throws -> TOTP {
        let totp = TOTP.generate()
        try locked {
            try db.transaction {
                guard try db.run("UPDATE access_accounts SET sealed_totp = ?, totp_last_step = NULL WHERE login = ?",
                                 [.blob(try sealer.seal(totp.secret, column: "access_accounts.sealed_totp", owner: login)),
                                  .text(login)]) == 1 else { throw AccessError.notFound("account \(login)") }
                try event(login, "totp-enrolled", "authenticator enrolled", actor: actor)
            }
        }
        return totp
    }

    // MARK: History

    func event(_ login: String, _ kind: String, _ detail: String, actor: String) throws {
        try db.run("INSERT INTO access_account_events (login, at, kind, detail, actor) VALUES (?, ?, ?, ?, ?)",
                   [.text(login), .text(now.astana), .text(kind), .text(detail), .text(actor)])
    }

    /// Records an event in its own transaction (login failures, logins).
    func logEvent(_ login: String, _ kind: String, _ detail: String, actor: String) throws {
        try db.run("INSERT INTO access_account_events (login, at, kind, detail, actor) VALUES (?, ?, ?, ?, ?)",
                   [.text(login), .text(now.astana), .text(kind), .text(detail), .text(actor)])
    }

    public func events(for login: String) throws -> [AccountEvent] {
        try locked {
            try db.query("SELECT seq, login, at, kind, detail, actor FROM access_account_events WHERE login = ? ORDER BY seq",
                         [.text(login)]).map {
                AccountEvent(seq: $0[0].int64 ?? 0, login: $0[1].string ?? "", at: $0[2].string ?? "",
                             kind: $0[3].string ?? "", detail: $0[4].string ?? "", actor: $0[5].string ?? "")
            }
        }
    }

    static func validLogin(_ login: String) -> Bool {
        (1...64).contains(login.utf8.count) && login.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
        }
    }
}
