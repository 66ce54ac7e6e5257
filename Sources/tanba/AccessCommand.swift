import ArgumentParser
import Crypto
import Foundation
import TanbaAccess
import TanbaCompliance
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaWire

struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "Lawful access: accounts, second factors, subject and supervisor reports, the roles x basis table.",
        discussion: """
            Account data live in their own file (--db, default access.db), personal fields sealed with \
            AES-256-GCM under the access key: --key-file (base64 of 32 bytes, mode 0600) or \
            \(AccessKeyFile.environmentVariable). Times are Astana time (UTC+5).
            """,
        subcommands: [AccessApply.self, AccessApprove.self, AccessRefuse.self, AccessPending.self, AccessBlock.self,
                      AccessBlockInactive.self, AccessTOTP.self, AccessTOTPCode.self, AccessRegisterCertificate.self, AccessSubjectReport.self, AccessSubjectExport.self, AccessSupervisorReport.self,
                      AccessRoles.self, AccessComplianceCommand.self])
}

enum AccessKeyFile {
    static let environmentVariable = "TANBA_ACCESS_KEY"

    static func load(file: String?) throws -> SymmetricKey {
        let text: String
        if let file {
            var info = stat()
            guard stat(file, &info) == 0 else { throw CommandError("cannot read the access key file \(file)") }
            guard info.st_mode & 0o077 == 0 else {
                throw CommandError("the access key file \(file) has mode \(String(info.st_mode & 0o777, radix: 8)); it must be 0600 or 0400")
            }
            text = String(decoding: try Output.readFile(file), as: UTF8.self)
        } else if let env = ProcessInfo.processInfo.environment[environmentVariable] {
            text = env
        } else {
            throw CommandError("no access key: pass --key-file or set \(environmentVariable)")
        }
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw CommandError("the access key must be the base64 form of 32 bytes")
        }
        return SymmetricKey(data: data)
    }
}

struct AccessOptions: ParsableArguments {
    @Option(help: "The access database.") var db = "access.db"
    @Option(help: "File holding the access key (base64 of 32 bytes, mode 0600).") var keyFile: String?

    func registry() throws -> AccountRegistry {
        try AccountRegistry(path: db, key: AccessKeyFile.load(file: keyFile))
    }
}

extension Role: ExpressibleByArgument {}
extension ApplicationAction: ExpressibleByArgument {}

struct AccessApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Record an account application (register, move or block); decided within one day.")

    @OptionGroup var access: AccessOptions
    @Option(help: "Login (a–z 0–9 . _ -).") var login: String
    @Option(help: "Role: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).") var role: Role
    @Option(help: "register, move or block.") var action: ApplicationAction = .register
    @Option(help: "Full name.") var fullName: String
    @Option(help: "IIN (12 digits).") var iin: String
    @Option(help: "Organisation.") var organisation: String
    @Option(help: "Unit.") var unit: String
    @Option(help: "Position.") var position: String
    @Option(help: "Contacts (phone, e-mail).") var contacts: String
    @Option(help: "Reason for the application.") var reason: String

    func run() throws {
        let person: IIN
        do { person = try IIN(iin) } catch { throw CommandError("--iin: \(error)") }
        let applicant = Applicant(fullName: fullName, iin: person, organisation: organisation, unit: unit,
                                  position: position, contacts: contacts)
        let id = try access.registry().submit(AccountApplication(login: login, role: role, action: action,
                                                                 applicant: applicant, reason: reason))
        print(id)
    }
}

struct AccessApprove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", abstract: "Approve an application.")
    @OptionGroup var access: AccessOptions
    @Option(help: "Application ID.") var id: String
    @Option(help: "Login of the deciding supervising prosecutor.") var by: String

    func run() throws {
        let registry = try access.registry()
        try registry.approve(id, by: by)
        let status = try registry.application(id)
        print("\(id): approved\(status?.withinDeadline == false ? " (after the one-day deadline)" : "")")
    }
}

struct AccessRefuse: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "refuse", abstract: "Refuse an application, with the reason.")
    @OptionGroup var access: AccessOptions
    @Option(help: "Application ID.") var id: String
    @Option(help: "The reason (required).") var reason: String
    @Option(help: "Login of the deciding supervising prosecutor.") var by: String

    func run() throws {
        try access.registry().refuse(id, reason: reason, by: by)
        print("\(id): refused")
    }
}

struct AccessPending: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pending", abstract: "Pending applications; overdue ones marked.")
    @OptionGroup var access: AccessOptions

    func run() throws {
        for a in try access.registry().pendingApplications() {
            print("\(a.id)  \(a.action.rawValue)  \(a.login)  \(a.role.rawValue)  due \(a.dueAt)\(a.overdue ? "  OVERDUE" : "")")
        }
    }
}

struct AccessBlock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Block an account at once: dismissal, suspension, or a violation (notifies the prosecutor and management).")
    @OptionGroup var access: AccessOptions
    @Option(help: "Login.") var login: String
    @Option(help: "dismissal, suspension or violation.") var kind: String
    @Option(help: "Reason.") var reason: String
    @Option(help: "Who blocks.") var by: String

    func run() throws {
        let registry = try access.registry()
        switch kind {
        case "dismissal": try registry.dismiss(login, reason: reason, by: by)
        case "suspension": try registry.dismiss(login, reason: reason, suspension: true, by: by)
        case "violation": try registry.reportViolation(login, description: reason, by: by)
        default: throw CommandError("--kind must be dismissal, suspension or violation")
        }
        print("\(login): blocked (\(kind))")
    }
}

struct AccessBlockInactive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block-inactive", abstract: "Block every account without a request for 60 days (run daily).")
    @OptionGroup var access: AccessOptions

    func run() throws {
        let blocked = try access.registry().blockInactiveAccounts()
        print(blocked.isEmpty ? "none blocked" : "blocked: " + blocked.joined(separator: ", "))
    }
}

struct AccessTOTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "totp-enroll",
        abstract: "Enrol a one-time-code authenticator for an account; prints the otpauth:// URI once.")
    @OptionGroup var access: AccessOptions
    @Option(help: "Login.") var login: String
    @Option(help: "Who enrols it.") var by: String

    func run() throws {
        print(try access.registry().enrollTOTP(login, by: by).uri(account: login))
    }
}

struct AccessTOTPCode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "totp-code",
        abstract: "Print the current one-time code of an otpauth:// URI (a stand-in for the user's authenticator app; development).",
        discussion: """
            Reads the URI `tanba access totp-enroll` printed from --uri-file (mode 0600: it holds the secret). \
            For local clusters and scripts (cluster/local-up --access, cluster/demo); a real user reads the \
            code off their authenticator. A code is accepted once: a second login within the same 30 s step \
            needs the next code (--wait-next waits for it).
            """)
    @Option(help: "File holding the otpauth://totp/… URI.") var uriFile: String
    @Flag(help: "Wait for the next 30 s step and print its code (a fresh code for a second login).") var waitNext = false

    func run() throws {
        var info = stat()
        guard stat(uriFile, &info) == 0 else { throw CommandError("cannot read \(uriFile)") }
        guard info.st_mode & 0o077 == 0 else {
            throw CommandError("\(uriFile) has mode \(String(info.st_mode & 0o777, radix: 8)); it holds a secret and must be 0600 or 0400")
        }
        guard let totp = TOTP(uri: String(decoding: try Output.readFile(uriFile), as: UTF8.self)) else {
            throw CommandError("\(uriFile) does not hold an otpauth://totp/ URI with a base32 secret")
        }
        var now = Date()
        if waitNext {
            let next = Date(timeIntervalSince1970: Double((totp.step(at: now) + 1) * Int64(totp.period)))
            Thread.sleep(forTimeInterval: next.timeIntervalSince(now) + 0.05)
            now = Date()
        }
        print(totp.code(at: now))
    }
}

struct AccessRegisterCertificate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register-certificate",
        abstract: "Register a user's X.509 certificate (P-256 or Ed25519) issued by a trusted CA; login proves its key.")
    @OptionGroup var access: AccessOptions
    @Option(help: "Login.") var login: String
    @Option(help: "The user's certificate (PEM).") var certificate: String
    @Option(help: "PEM file(s) of the trusted certification authorities.") var ca: [String]
    @Option(help: "Who registers it.") var by: String

    func run() throws {
        let pems = try ca.map { String(decoding: try Output.readFile($0), as: UTF8.self) }
        let auth = Authenticator(registry: try access.registry(), trust: try TrustedAuthorities(pems: pems))
        try auth.registerCertificate(login, pem: String(decoding: try Output.readFile(certificate), as: UTF8.self), by: by)
        print("\(login): certificate registered")
    }
}

/// Audit events from `--events FILE` (a JSON array of AuditEvent) or from a store's audit
/// log (`--store PATH`; the audit columns are plaintext, no key is needed).
struct AuditEventSource: ParsableArguments {
    @Option(help: "JSON file: an array of audit events {at, actor, role, basis, caseNumber, operation, subjectRef, result}.")
    var events: String?
    @Option(help: "Read the audit log of this store database instead.") var store: String?

    func load() throws -> [AuditEvent] {
        if let events {
            return try JSONDecoder().decode([AuditEvent].self, from: Data(try Output.readFile(events)))
        }
        guard let store else { throw CommandError("pass --events FILE or --store PATH") }
        var options = Database.Options()
        options.readOnly = true
        return try AuditLog(db: Database(path: store, options: options)).entries().map { _, e in
            AuditEvent(at: e.at, actor: e.actor, role: e.role, basis: e.basis, caseNumber: e.caseNumber,
                       operation: e.operation, subjectRef: e.subjectRef, result: e.result)
        }
    }
}

struct AccessSubjectReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject-report",
        abstract: "Every action on a person's data, hiding law-enforcement, special bodies and courts; consent holders.",
        discussion: """
            With --store and the master key (--master-key-file or TANBA_MASTER_KEY) the person's audit entries \
            and consents are read from the store. With --events, the file holds only that person's events \
            (and --consents a JSON array of consent holders).
            """)
    @Option(help: "The person's IIN.") var iin: String
    @OptionGroup var source: AuditEventSource
    @Option(help: "JSON file: array of {operatorName, operatorBIN, term, givenAt, revokedAt?, ...}.") var consents: String?
    @Option(help: "Master key file of the store (with --store).") var masterKeyFile: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let person: IIN
        do { person = try IIN(iin) } catch { throw CommandError("--iin: \(error)") }
        var events: [AuditEvent] = []
        var holders: [ConsentHolder] = []
        if let consents {
            holders = try JSONDecoder().decode([ConsentHolder].self, from: Data(try Output.readFile(consents)))
        }
        if let path = source.store {
            let store = try Store(path: path, master: try MasterKey.load(file: masterKeyFile))
            let read = try SubjectReports.sources(store: store, iin: person)
            events = read.events
            holders += read.consents
        } else {
            events = try source.load()
        }
        let report = SubjectTransparency.report(iin: person, events: events, consents: holders)
        if json {
            print(try Output.json(report))
        } else {
            print(SubjectTransparency.text(report))
        }
    }
}

struct AccessSubjectExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject-export",
        abstract: "The person's own dactyloscopic record on their request: ISO/IEC 19794-2 templates per finger, capture facts, exceptions, manifest.",
        discussion: """
            Through the coordinator (--ops HOST:PORT, its ops endpoint: GET /subjects/IIN/export) or offline on the \
            coordinator's files (--store with the master key, and the access database --db/--key-file). Either way a \
            branch operator's or supervisor's session is required (--session-file from `tanba client login`, or \
            --session); through --ops only a session of a login from the coordinator's HTTP client node \
            (`access.httpClient`, default ops-http: `tanba client login --config ops-http.json`) is accepted. The person's written request is cited (--request), and the export is written to the store's \
            audit log as `export-own-record` (a transfer in the subject report). Writes manifest.json and one \
            .fmr file per captured finger into --out.
            """)
    @Option(help: "The person's IIN.") var iin: String
    @Option(help: "Reference of the person's written request at the branch.") var request: String
    @Option(help: "Directory to write manifest.json and the templates into.") var out: String
    @Option(help: "The coordinator's ops endpoint, HOST:PORT.") var ops: String?
    @Option(help: "Session file written by `tanba client login --session-out`.") var sessionFile: String?
    @Option(help: "Session token (instead of --session-file).") var session: String?
    @Option(help: "Offline: the coordinator's store database.") var store: String?
    @Option(help: "Master key file of the store (with --store).") var masterKeyFile: String?
    @OptionGroup var access: AccessOptions

    func run() async throws {
        guard let token = try session ?? sessionFile.map({ try SessionFile.read($0).session }) else {
            throw CommandError("a branch staff session is required: --session-file or --session")
        }
        let export: SubjectExports.Export
        if let ops {
            let (status, body) = try await HTTPGet.bearer("http://\(ops)/subjects/\(iin)/export?request=\(Self.escaped(request))", token: token)
            guard status == 200 else { throw CommandError("export refused (HTTP \(status)): \(body)") }
            export = try JSONDecoder().decode(SubjectExports.Export.self, from: Data(body.utf8))
        } else if let store {
            let person: IIN
            do { person = try IIN(iin) } catch { throw CommandError("--iin: \(error)") }
            let opened = try Store(path: store, master: try MasterKey.load(file: masterKeyFile))
            let registry = try access.registry()
            // Checking a live session needs no CA (only a login does), but TrustedAuthorities
            // wants one: a throwaway that can never have issued a user certificate.
            let unused = try DevelopmentPKI.makeCA(commonName: "offline export: no logins here", years: 1).certificatePEM
            let control = AccessControl(authenticator: Authenticator(registry: registry, trust: try TrustedAuthorities(pems: [unused])))
            switch try SubjectExports.export(store: opened, control: control, token: token, iin: person, request: request) {
            case .refused(let decision): throw CommandError("export refused: \(decision.reason)")
            case .notEnrolled: throw CommandError("no enrolled person has IIN \(iin)")
            case .exported(let e): export = e
            }
        } else {
            throw CommandError("pass --ops HOST:PORT (through the coordinator) or --store PATH (offline)")
        }
        try SubjectExports.write(export, to: out)
        print(try Output.json(["directory": out, "fingers": "\(export.manifest.fingers.count)",
                               "exceptions": "\(export.manifest.exceptions.count)", "manifest": "manifest.json"]))
    }

    static func escaped(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "=", "+"])) ?? s }

}

struct AccessSupervisorReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisor-report",
        abstract: "Requests per user, basis and day, with flags (case not in the user's proceedings, unusual volume).")
    @OptionGroup var source: AuditEventSource
    @Option(help: "Start of the period, Astana date YYYY-MM-DD (inclusive).") var from: String
    @Option(help: "End of the period, Astana date YYYY-MM-DD (exclusive).") var to: String
    @Option(help: "JSON file: {login: [case numbers]} of the users' proceedings.") var proceedings: String?
    @Option(help: "json, csv or html.") var format = "json"
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

    func run() throws {
        guard let start = AstanaTime.parse(from + "T00:00:00.000+05:00"), let end = AstanaTime.parse(to + "T00:00:00.000+05:00"),
              start < end else { throw CommandError("--from and --to must be dates YYYY-MM-DD with from < to") }
        var registry: StaticProceedings?
        if let proceedings {
            let table = try JSONDecoder().decode([String: [String]].self, from: Data(try Output.readFile(proceedings)))
            registry = StaticProceedings(table.mapValues(Set.init))
        }
        let report = SupervisorReport.build(events: try source.load(), from: start, to: end, proceedings: registry)
        let text: String
        switch format {
        case "json": text = try report.json() + "\n"
        case "csv": text = report.csv()
        case "html": text = report.html()
        default: throw CommandError("--format must be json, csv or html")
        }
        if let output {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output))
            print("\(report.totalRequests) requests, \(report.flags.count) flags → \(output)")
        } else {
            print(text, terminator: "")
        }
    }
}

struct AccessRoles: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "roles", abstract: "Print the roles x basis table.")
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        if json {
            let table = Dictionary(uniqueKeysWithValues: Role.authorities.map { r in
                (r.rawValue, CaseKind.allCases.filter { RolesTable.allows(r, $0) }.map(\.rawValue))
            })
            print(try Output.json(table))
            return
        }
        let kinds = CaseKind.allCases
        print("role".padding(toLength: 36, withPad: " ", startingAt: 0) + kinds.map { $0.rawValue.prefix(8).padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
        for r in Role.authorities {
            print(r.rawValue.padding(toLength: 36, withPad: " ", startingAt: 0)
                  + kinds.map { (RolesTable.allows(r, $0) ? "+" : ".").padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
        }
    }
}

/// Kept as an alias of `tanba compliance check`, which absorbed the access layer's
/// scenarios (scripts written against the old name keep working).
struct AccessComplianceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compliance", abstract: "Alias of `tanba compliance check`.")
    @Flag(help: "Print JSON: {rules: [{id, title, status, evidence}], passed, failed}.") var json = false

    func run() async throws {
        try await ComplianceCheckCommand.parse(json ? ["--json"] : []).run()
    }
}
