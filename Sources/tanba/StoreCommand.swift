import TanbaSQLite
import ArgumentParser
import Foundation
import TanbaStore

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "The encrypted store: primary, standby, promotion, backups and restores.",
        subcommands: [StorePrimaryCommand.self, StoreStandbyCommand.self, StorePromoteCommand.self, StoreStatusCommand.self,
                      StoreBackup.self, StoreRestore.self])
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
