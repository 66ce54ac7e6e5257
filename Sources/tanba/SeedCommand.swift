import ArgumentParser
import Foundation
import TanbaCluster
import TanbaCore
import TanbaMatch
import TanbaStore

/// An exclusive lock on a coordinator's store, held by the running coordinator and by
/// `tanba cluster seed`: seeding writes the store and the sealed IIN directory behind the
/// coordinator's back, and a running coordinator would neither see the new persons (its
/// directory is in memory) nor survive a second writer of the directory file.
final class StoreLock {
    private let fd: Int32
    let path: String

    init(store: String) throws {
        path = store + ".lock"
        fd = open(path, O_CREAT | O_RDWR, 0o600)
        guard fd >= 0 else { throw CommandError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw CommandError("\(store) is in use by another process (a running coordinator or seed holds \(path)); stop it first")
        }
    }

    deinit { close(fd) }   // closing releases the flock
}

/// A coordinator's store and sealed IIN directory, opened under the store lock (the
/// coordinator process and `tanba cluster seed`).
final class CoordinatorFiles {
    let storePath: String
    let store: Store
    let directory: SubjectDirectory
    private let lock: StoreLock

    init(_ c: CoordinatorConfig, configPath: String) throws {
        let master: MasterKey
        do { master = try MasterKey.load(file: ConfigFile.resolve(c.masterKeyFile, relativeTo: configPath)) } catch {
            throw CommandError("master key: \(error)")
        }
        storePath = ConfigFile.resolve(c.store, relativeTo: configPath)
        try FileManager.default.createDirectory(atPath: (storePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        lock = try StoreLock(store: storePath)
        store = try Store(path: storePath, master: master)
        directory = try SubjectDirectory(path: c.directory.map { ConfigFile.resolve($0, relativeTo: configPath) } ?? storePath + ".directory",
                                         master: master)
    }
}

/// `tanba cluster seed`: bulk-loads synthetic ten-print persons straight into a stopped
/// coordinator's encrypted store, for load tests and migration rehearsals.
///
/// **No 1:N de-duplication**: persons go in without being searched against the gallery (the
/// whole point: de-duplicating 100,000 persons one by one through the cluster takes hours).
/// Use it only for synthetic galleries or for migrating a gallery that was de-duplicated
/// elsewhere. It still audits: one audit entry per person (`Store.enrollMany`, actor
/// `bulk-seed:<user>`, role `migration`) plus a start and an end entry naming the range.
///
/// Persons are `Synthetic` person numbers (`--from` ..< `--from + --persons`), impression 0
/// of the fixed-seed template generator — the same persons `tanba loadtest burst` probes with
/// fresh impressions 1–3. Idempotent and resumable: persons already in the directory are
/// skipped, persons in the store but not yet in the directory (a run killed between the two
/// commits) are only added to the directory, so re-running after an interruption finishes
/// the job without duplicates.
struct ClusterSeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Bulk-load synthetic ten-print persons into a STOPPED coordinator's store (no de-duplication; load tests and migration rehearsals only).",
        discussion: """
        Writes straight into the store named by the coordinator's config (encrypted, audited, in transactions of \
        --batch persons) and into its sealed IIN directory; workers get the persons when the coordinator loads \
        their shards at start or on rebalancing. Refuses to run while the coordinator holds the store. \
        Idempotent: persons already present are skipped.
        """)

    @Option(help: "The coordinator's configuration file (JSON).") var config: String
    @Option(help: "Persons to seed.") var persons: Int
    @Option(help: "First synthetic person number.") var from: Int = 0
    @Option(help: "Fingers per person (1-10).") var fingers: Int = 10
    @Option(help: "Persons per store transaction (keeps one changeset well under the 1 MiB replication message).")
    var batch: Int = 128
    @Flag(help: "Print only one JSON object at the end.") var json = false

    func validate() throws {
        guard persons > 0, from >= 0, batch > 0 else { throw ValidationError("--persons and --batch must be > 0, --from ≥ 0") }
        guard (1...10).contains(fingers) else { throw ValidationError("--fingers must be 1-10") }
    }

    func run() async throws {
        let files = try CoordinatorFiles(try ConfigFile.load(CoordinatorConfig.self, path: config), configPath: config)
        defer { withExtendedLifetime(files) {} }
        let (store, directory) = (files.store, files.directory)
        let actor = Actor(login: "bulk-seed:\(ProcessInfo.processInfo.environment["USER"] ?? "unknown")", role: "migration",
                          basis: "load test / migration rehearsal; no de-duplication")
        let range = from..<(from + persons)
        let consent = Consent(operatorName: "synthetic load-test person", operatorBIN: "000000000000", term: "synthetic",
                              signatureReference: "tanba cluster seed", acceptedBy: "synthetic")
        let capture = CaptureInfo(branch: "bulk-seed", station: "tanba cluster seed", operatorLogin: actor.login, device: "synthetic")
        func say(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }

        try store.record(actor, operation: "bulk-seed", result: "start: synthetic persons \(range.lowerBound)..<\(range.upperBound), \(fingers) fingers, no de-duplication")
        let todo = range.filter { !directory.contains(Synthetic.iin(person: $0)) }
        say("seed: \(persons) persons requested, \(persons - todo.count) already in the directory, \(todo.count) to write")
        let start = ContinuousClock.now
        var written = 0, recovered = 0, done = 0, lastReport = ContinuousClock.now
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var i = 0
        while i < todo.count {
            let chunk = Array(todo[i..<min(todo.count, i + batch)])
            i += chunk.count
            // A person committed to the store by an interrupted run but missing from the
            // directory is only added to the directory (enrollMany would refuse the batch).
            var fresh: [Int] = [], present: [Int] = []
            for p in chunk { if try store.person(iin: Synthetic.iin(person: p)) != nil { present.append(p) } else { fresh.append(p) } }
            // Template generation is the CPU-heavy part: both cores, then one transaction.
            let slots = ResultSlots<FingerprintRecord>(count: fresh.count)
            let fingers = self.fingers, generate = fresh
            DispatchQueue.concurrentPerform(iterations: cores) { t in
                var k = t
                while k < generate.count { slots.set(k, Synthetic.record(person: generate[k], impression: 0, fingers: fingers)); k += cores }
            }
            let records = slots.values
            try store.enrollMany(fresh.enumerated().map { k, p in
                let iin = Synthetic.iin(person: p)
                return Store.BulkEnrollment(identity: PersonIdentity(fullName: "Synthetic Person \(p)", iin: iin), iin: iin,
                                            enrollment: Enrollment(record: records[k], capture: capture), consent: consent)
            }, by: actor)
            try directory.insertMany((fresh + present).map { (iin: Synthetic.iin(person: $0), fingers: fingers) })
            written += fresh.count
            recovered += present.count
            done += chunk.count
            if ContinuousClock.now - lastReport > .seconds(5) || done == todo.count {
                lastReport = ContinuousClock.now
                let s = Double((ContinuousClock.now - start).milliseconds) / 1000
                say(String(format: "seed: %d/%d persons (%.0f persons/s, %.0f s)", done, todo.count, Double(done) / max(s, 1e-9), s))
            }
        }
        let seconds = Double((ContinuousClock.now - start).milliseconds) / 1000
        try store.record(actor, operation: "bulk-seed", result: "end: \(written) written, \(recovered) recovered into the directory, \(persons - todo.count) already present")
        print("{\"persons\": \(persons), \"written\": \(written), \"recovered\": \(recovered), \"skipped\": \(persons - todo.count), "
              + "\"directory_persons\": \(directory.count), \"seconds\": \(String(format: "%.1f", seconds))}")
    }
}
