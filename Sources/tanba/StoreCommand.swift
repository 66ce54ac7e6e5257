import TanbaSQLite
import ArgumentParser
import Foundation
import TanbaCore
import TanbaStore

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "The encrypted store: primary, standby, promotion, backups and restores.",
        subcommands: [StorePrimaryCommand.self, StoreStandbyCommand.self, StorePromoteCommand.self, StoreStatusCommand.self,
                      StoreBackup.self, StoreRestore.self, StoreCensus.self])
}

/// Which of a list of persons a (stopped) store holds and how often each was enrolled —
/// read from the store itself and its audit log, not from any answer a client got. Used by
/// `loadtest/branch-outage` to count lost and duplicated enrollments against the real cluster.
struct StoreCensus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "census",
        abstract: "For the IINs in a file: enrolled now or not, store-level enroll executions, re-enrollments (JSON).",
        discussion: "Stop the coordinator first (the store is opened directly). The master key comes from --master-key-file or \(MasterKey.environmentVariable).")

    @Option(help: "The store's database file.") var db: String
    @Option(help: "File holding the master key ('<id>:<base64>', mode 0600).") var masterKeyFile: String?
    @Option(help: "File with one IIN per line.") var iins: String

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CommandError("no store at \(db)") }
        let store = try Store(path: db, master: try MasterKey.load(file: masterKeyFile))
        var listed: [IIN] = []
        for (n, line) in try String(contentsOfFile: iins, encoding: .utf8).split(separator: "\n").enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            do { listed.append(try IIN(text)) } catch { throw CommandError("\(iins) line \(n + 1): \(error)") }
        }
        // Executions per person from the audit log: every store-level enrollment writes one
        // "enroll"/"ok" entry, every re-enrollment one "reenroll" entry.
        var executions: [String: Int] = [:], reenrollments: [String: Int] = [:]
        for (_, e) in try store.audit.entries() {
            guard let ref = e.subjectRef else { continue }
            if e.operation == "enroll" && e.result == "ok" { executions[ref, default: 0] += 1 }
            if e.operation == "reenroll" { reenrollments[ref, default: 0] += 1 }
        }
        struct Census: Encodable {
            var listed: Int, enrolled: Int, enrollExecutions: Int, persons: Int
            var notEnrolled: [String], enrolledMoreThanOnce: [String], reenrolled: [String]
        }
        var census = Census(listed: listed.count, enrolled: 0, enrollExecutions: 0, persons: try store.personCount,
                            notEnrolled: [], enrolledMoreThanOnce: [], reenrolled: [])
        for iin in listed {
            let ref = store.subjectReference(iin)
            if try store.currentEnrollment(iin: iin) != nil { census.enrolled += 1 } else { census.notEnrolled.append(iin.digits) }
            census.enrollExecutions += executions[ref] ?? 0
            if (executions[ref] ?? 0) > 1 { census.enrolledMoreThanOnce.append(iin.digits) }
            if (reenrollments[ref] ?? 0) > 0 { census.reenrolled.append(iin.digits) }
        }
        print(try Output.json(census))
    }
}

struct StoreBackup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Online backup of the data store (ciphertext only; the key store is not included).")

    @Option(help: "The store's database file.") var db: String
    @Option(help: "The backup file to create (must not exist).") var to: String

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CommandError("no store at \(db)") }
        // No key is needed: the copy is page for page, and the pages are ciphertext.
        try Database(path: db).backup(to: to)
        try Database.checkBackup(to)
        print("backed up \(db) to \(to)")
    }
}

struct StoreRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a data-store backup (the store must be stopped); persons deleted since are removed.",
        discussion: """
            The restored store is opened with the live key store (<db>.keys). Persons whose keys were \
            shredded after the backup was taken cannot be decrypted; their rows are removed. The master key \
            comes from --master-key-file or \(MasterKey.environmentVariable).
            """)

    @Option(help: "The backup file.") var from: String
    @Option(help: "The store's database file to (re)create.") var db: String
    @Option(help: "The key store (default: <db>.keys).") var keys: String?
    @Option(help: "File holding the master key ('<id>:<base64>', mode 0600).") var masterKeyFile: String?
    @Option(help: "Login recorded in the audit log.") var actor = "operations"

    func run() throws {
        let master = try MasterKey.load(file: masterKeyFile)
        let store = try Store.restore(from: from, to: db, keyStorePath: keys, master: master,
                                      by: Actor(login: actor, role: "operations", basis: "restore"))
        print("restored \(from) into \(db): \(try store.personCount) persons")
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "The tamper-evident audit log.", subcommands: [AuditVerify.self])
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit log's hash chain; exit status 1 and the first bad entry when tampered.")

    @Option(help: "The store's database file (or a backup of it).") var db: String
    @Option(help: "A head published earlier, as SEQ:HEXHASH; detects truncation.") var anchor: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CommandError("no store at \(db)") }
        var options = Database.Options()
        options.readOnly = true
        let database = try Database(path: db, options: options)
        var head: (seq: Int64, hash: String)?
        if let anchor {
            let parts = anchor.split(separator: ":")
            guard parts.count == 2, let seq = Int64(parts[0]) else { throw CommandError("--anchor must be SEQ:HEXHASH") }
            head = (seq, String(parts[1]))
        }
        let result = try AuditLog(db: database).verify(anchor: head)
        if json {
            print(try Output.json(result))
        } else if let problem = result.problem, let seq = result.firstBadSeq {
            print("TAMPERED: \(problem.rawValue) at entry \(seq): \(result.detail ?? "")")
            print("last good entry: \(result.headSeq) \(result.headHash)")
        } else {
            print("ok: \(result.entriesChecked) entries, head \(result.headSeq) \(result.headHash)")
        }
        if !result.ok { throw ExitCode(1) }
    }
}
