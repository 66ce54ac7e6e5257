import ArgumentParser
import Foundation
import Synchronization
import TanbaCore
import TanbaReplication
import TanbaSQLite
import TanbaStore
import TanbaSynth
import TanbaWire

/// `tanba chaos`: fault scenarios against real store processes (cluster/chaos wraps it).
///
/// Each run builds a fresh directory: a development PKI, a master key, a standby process
/// and a primary process (this same binary, `tanba store standby|primary`) on 127.0.0.1
/// with mutual TLS, then streams synthetic ten-print ENROLLs from four concurrent clients
/// and injects the fault. Afterwards the surviving store's files are opened and every
/// acknowledged enrollment is looked for:
/// - `lost`: acknowledged but absent (or with other templates) where it must be;
/// - `duplicated`: present more than once;
/// - `diverged`: runs where a standby latched divergence, promotion was refused, or the
///   audit chain does not verify.
struct ChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos", abstract: "Fault scenarios for the store: primary-kill, standby-partition, disk-full.")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case primaryKill = "primary-kill", standbyPartition = "standby-partition", diskFull = "disk-full"
    }

    @Option(help: "primary-kill | standby-partition | disk-full") var scenario: Scenario
    @Option(help: "Runs.") var runs = 1
    @Option(help: "Ten-print enrollments per run.") var enrollments = 2000
    @Option(help: "standby-partition: seconds the standby is cut off.") var partitionSeconds = 60.0
    @Option(help: "Concurrent clients.") var clients = 4
    @Option(help: "Seed of the synthetic templates and the fault points.") var seed: UInt64 = 2026
    @Option(help: "Keep run directories under this folder (default: a temporary folder, removed).") var work: String?
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "primary-kill: drive a coordinator (embedding the store primary) and a worker instead of `tanba store primary`.")
    var throughCoordinator = false

    struct Totals: Encodable {
        var scenario: String
        var runs = 0, acknowledged = 0, lost = 0, duplicated = 0, diverged = 0
    }

    func run() throws {
        var totals = Totals(scenario: scenario.rawValue)
        let root = work ?? FileManager.default.temporaryDirectory.appendingPathComponent("tanba-chaos-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if work == nil { try? FileManager.default.removeItem(atPath: root) } }
        for index in 0..<runs {
            let dir = (root as NSString).appendingPathComponent("run-\(index)")
            let harness = try ChaosRun(directory: dir, seed: seed &+ UInt64(index) &* 7919, enrollments: enrollments,
                                       clients: clients, run: index)
            let result: ChaosRun.Result
            switch scenario {
            case .primaryKill: result = try throughCoordinator ? harness.coordinatorKill() : harness.primaryKill()
            case .standbyPartition: result = try harness.standbyPartition(seconds: partitionSeconds)
            case .diskFull: result = try harness.diskFull()
            }
            harness.cleanUp()
            totals.runs += 1
            totals.acknowledged += result.acknowledged
            totals.lost += result.lost
            totals.duplicated += result.duplicated
            totals.diverged += result.diverged ? 1 : 0
            FileHandle.standardError.write(Data("run \(index): \(result.note)\n".utf8))
        }
        if json {
            print("{\"scenario\": \"\(totals.scenario)\", \"runs\": \(totals.runs), \"acknowledged\": \(totals.acknowledged), " +
                  "\"lost\": \(totals.lost), \"duplicated\": \(totals.duplicated), \"diverged\": \(totals.diverged)}")
        } else {
            print("\(totals.scenario): \(totals.runs) runs, \(totals.acknowledged) acknowledged, \(totals.lost) lost, " +
                  "\(totals.duplicated) duplicated, \(totals.diverged) diverged")
        }
        if totals.lost > 0 || totals.duplicated > 0 || totals.diverged > 0 { throw ExitCode(1) }
    }
}

/// One run's processes, files and client.
final class ChaosRun: @unchecked Sendable {
    struct Result {
        var acknowledged = 0, lost = 0, duplicated = 0
        var diverged = false
        var note = ""
    }

    let dir: String
    let seed: UInt64
    let count: Int
    let clients: Int
    let pki: String
    let masterFile: String
    let master: MasterKey
    let generator: SyntheticTemplateGenerator
    let runIndex: Int
    var processes: [String: Process] = [:]
    private var mounted: String?

    init(directory: String, seed: UInt64, enrollments: Int, clients: Int, run: Int) throws {
        dir = directory
        self.seed = seed
        count = enrollments
        self.clients = clients
        runIndex = run
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        pki = dir + "/pki"
        try DevelopmentPKI.initialize(directory: dir + "/ca")
        for name in ["store-a", "store-b", "chaos", "coordinator", "worker-1"] {
            try DevelopmentPKI.issue(name: name, caDirectory: dir + "/ca", directory: pki)
        }
        master = MasterKey.generate(id: "chaos\(run)")
        masterFile = dir + "/master.key"
        try master.write(to: masterFile)
        generator = SyntheticTemplateGenerator(seed: seed)
    }

    // MARK: Data

    func iin(_ i: Int) -> IIN { BenchPersons.iin(runIndex * 1_000_000 + i) }

    func record(_ i: Int) -> FingerprintRecord {
        FingerprintRecord(views: FingerPosition.tenPrint.enumerated().map { f, position in
            generator.impression(of: generator.master(finger: UInt64(i * 10 + f)), index: 0, position: position)
        })
    }

    // MARK: Processes

    static var executable: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    }

    func writeConfig(_ name: String, _ config: StoreNodeConfig) throws -> String {
        let path = "\(dir)/\(name).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(config).write(to: URL(fileURLWithPath: path))
        return path
    }

    func config(_ node: String, db: String, standby: StorePrimary.Peer?) -> StoreNodeConfig {
        StoreNodeConfig(node: node, pki: pki, db: db, keys: nil, masterKeyFile: masterFile, listen: "tls+tcp://127.0.0.1:0",
                        standby: standby, copies: nil, primaries: ["store-a"], operators: ["chaos"], operatorIdentity: "chaos",
                        syncTimeoutMilliseconds: 2000, maxBacklog: nil, readyFile: "\(dir)/\(node).address")
    }

    /// Starts `tanba store ROLE --config` and waits for its address.
    func start(_ node: String, role: String, config: StoreNodeConfig, extra: [String] = []) throws -> String {
        try? FileManager.default.removeItem(atPath: config.readyFile!)
        let path = try writeConfig(node, config)
        try spawn(node, ["store", role, "--config", path] + extra)
        let process = processes[node]!
        let log = "\(dir)/\(node).log"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let text = FileManager.default.contents(atPath: config.readyFile!) {
                return String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard process.isRunning else { throw CommandError("\(node) exited at start; see \(log)") }
            usleep(20_000)
        }
        throw CommandError("\(node) did not start within 60 s; see \(log)")
    }

    func signal(_ node: String, _ sig: Int32) {
        if let p = processes[node], p.isRunning { kill(p.processIdentifier, sig) }
    }

    /// Graceful stop (SIGTERM) and wait.
    func stop(_ node: String) {
        guard let p = processes[node] else { return }
        if p.isRunning { kill(p.processIdentifier, SIGCONT); kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
    }

    func cleanUp() {
        for node in processes.keys { stop(node) }
        if let mounted { _ = shell("umount", mounted) }
    }

    @discardableResult
    func shell(_ args: String...) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    // MARK: Client

    func caller(_ peers: [String: String]) throws -> SignedCaller {
        let names = peers
        let transport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "chaos", directory: pki), concurrency: 8,
                                     serverName: { names[$0] })
        return SignedCaller(identity: try DevelopmentPKI.loadIdentity(name: "chaos", directory: pki),
                            keyring: try DevelopmentPKI.loadKeyring(directory: pki), transport: transport)
    }

    enum Outcome: Sendable { case acknowledged, refused(String), failed(String) }

    func enroll(_ i: Int, caller: SignedCaller, peer: String, address: String, deadline: Duration = .seconds(10)) async -> Outcome {
        do {
            let answer = try await caller.call(.enroll(EnrollRequest(iin: iin(i), record: record(i))), to: peer, at: address,
                                               deadline: deadline)
            if case .enrollAnswer(let a) = answer, a.outcome == .enrolled { return .acknowledged }
            return .refused("\(answer)")
        } catch {
            if case .remote = error { return .refused("\(error)") }
            return .failed("\(error)")
        }
    }

    /// Streams enrollments `indices` with `clients` concurrent callers until done or until
    /// `stopWhen` says so; returns the indices acknowledged and the errors seen.
    func stream(_ indices: [Int], caller: SignedCaller, peer: String, address: String, deadline: Duration = .seconds(10),
                onAck: @escaping @Sendable (Int) -> Void = { _ in },
                stopWhen: @escaping @Sendable () -> Bool = { false }) async -> (acked: Set<Int>, errors: [String]) {
        let next = Locked(0)
        let acked = Locked(Set<Int>())
        let errors = Locked([String]())
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    while !stopWhen() {
                        let k = next.with { n -> Int? in
                            guard n < indices.count else { return nil }
                            defer { n += 1 }
                            return n
                        }
                        guard let k else { return }
                        switch await self.enroll(indices[k], caller: caller, peer: peer, address: address, deadline: deadline) {
                        case .acknowledged:
                            acked.with { _ = $0.insert(indices[k]) }
                            onAck(indices[k])
                        case .refused(let why), .failed(let why):
                            errors.with { $0.append(why) }
                        }
                    }
                }
            }
        }
        return (acked.with { $0 }, errors.with { $0 })
    }

    // MARK: Verification

    /// Opens a stopped node's files and counts acknowledged enrollments.
    func verify(db: String, acknowledged: Set<Int>) throws -> (lost: Int, duplicated: Int, auditOK: Bool, persons: Int) {
        let store = try Store(path: db, master: master, replication: false)
        var seen: [IIN: Int] = [:]
        var records: [IIN: FingerprintRecord] = [:]
        try store.forEachCurrentEnrollment(shard: 0, of: 1) { member in
            seen[member.iin, default: 0] += 1
            records[member.iin] = member.record
        }
        var lost = 0, duplicated = 0
        for i in acknowledged {
            let id = iin(i)
            switch seen[id] ?? 0 {
            case 0: lost += 1
            case 1: if records[id]?.views != record(i).views { lost += 1 }
            default: duplicated += 1
            }
        }
        return (lost, duplicated, try store.audit.verify().ok, try store.personCount)
    }

    func standbyStatus(_ caller: SignedCaller, address: String) async -> ReplicaStatusMessage? {
        try? await NetworkReplicationLink(caller: caller, peer: "store-b", address: address, deadline: .seconds(5)).status()
    }

    func startPair(primaryDB: String? = nil) throws -> (a: String, b: String) {
        let b = try start("store-b", role: "standby", config: config("store-b", db: "\(dir)/b/store.db", standby: nil))
        let a = try start("store-a", role: "primary",
                          config: config("store-a", db: primaryDB ?? "\(dir)/a/store.db", standby: StorePrimary.Peer(node: "store-b", address: b)))
        return (a, b)
    }

    // MARK: Scenarios

    /// kill -9 the primary at a random point of the stream, promote the standby, finish
    /// the stream on it (unacknowledged enrollments are retried), check the new primary.
    func primaryKill() throws -> Result {
        try FileManager.default.createDirectory(atPath: "\(dir)/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/b", withIntermediateDirectories: true)
        let (a, b) = try startPair()
        var rng = SystemRandomNumberGenerator()
        let killAt = Int.random(in: max(1, count / 10)...max(1, count * 9 / 10), using: &rng)
        let caller = try caller([a: "store-a", b: "store-b"])
        let primaryPID = processes["store-a"]!.processIdentifier
        let count = self.count
        var (result, acked, promoted) = try blocking { [self] () async throws -> (Result, Set<Int>, Bool) in
            var result = Result()
            let ackCount = Locked(0)
            let killed = Locked(false)
            // Watchdog: a primary that makes no progress for 20 s is killed there (the kill
            // point is then "while stalled"); reported in the run's note.
            let lastProgress = Locked(Date())
            let stalled = Locked(false)
            let watchdog = Task {
                while !killed.with({ $0 }) {
                    try? await Task.sleep(for: .seconds(1))
                    if Date().timeIntervalSince(lastProgress.with { $0 }) > 20, killed.with({ k in defer { k = true }; return !k }) {
                        stalled.with { $0 = true }
                        kill(primaryPID, SIGKILL)
                    }
                }
            }
            let first = await stream(Array(0..<count), caller: caller, peer: "store-a", address: a, deadline: .seconds(5), onAck: { _ in
                lastProgress.with { $0 = Date() }
                if ackCount.with({ $0 += 1; return $0 }) == killAt, killed.with({ k in defer { k = true }; return !k }) {
                    kill(primaryPID, SIGKILL)
                }
            }, stopWhen: { killed.with { $0 } })
            killed.with { $0 = true }
            await watchdog.value
            if stalled.with({ $0 }) { result.note = "STALLED (no acknowledgement for 20 s; killed then); " }
            // Promote the standby (its status first: it must not have diverged).
            guard let status = await standbyStatus(caller, address: b) else {
                result.diverged = true; result.note = "standby unreachable"
                return (result, first.acked, false)
            }
            if status.divergedReason != nil { result.diverged = true }
            do {
                _ = try await NetworkReplicationLink(caller: caller, peer: "store-b", address: b, deadline: .seconds(30)).promote()
            } catch {
                result.diverged = true
                result.note = "promotion refused: \(error)"
                return (result, first.acked, false)
            }
            // Finish the stream on the new primary: everything not acknowledged is retried.
            let rest = (0..<count).filter { !first.acked.contains($0) }
            let second = await stream(rest, caller: caller, peer: "store-b", address: b)
            result.acknowledged = first.acked.count + second.acked.count
            result.note += "killed after \(min(killAt, first.acked.count)) acks; \(first.acked.count) acknowledged by store-a, \(second.acked.count) by " +
                "store-b after promotion (standby was at entry \(status.seq)); \(count - first.acked.union(second.acked).count) never acknowledged"
            caller.transport.shutdownIfNNG()
            return (result, first.acked.union(second.acked), true)
        }
        stop("store-b")
        stop("store-a")
        if promoted {
            let check = try verify(db: "\(dir)/b/store.db", acknowledged: acked)
            result.lost = check.lost
            result.duplicated = check.duplicated
            if !check.auditOK { result.diverged = true }
            if check.persons != acked.count { result.note += "; \(check.persons) persons for \(acked.count) acknowledged" }
        } else {
            result.lost = acked.count
        }
        return result
    }

    /// Freezes the standby (SIGSTOP: its socket stays open, it answers nothing) for
    /// `seconds` during the stream. Synchronous mode must acknowledge nothing meanwhile;
    /// afterwards the standby catches up and unacknowledged enrollments are retried.
    func standbyPartition(seconds: Double) throws -> Result {
        try FileManager.default.createDirectory(atPath: "\(dir)/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/b", withIntermediateDirectories: true)
        let (a, b) = try startPair()
        let caller = try caller([a: "store-a", b: "store-b"])
        let standbyPID = processes["store-b"]!.processIdentifier
        let count = self.count
        var (result, acked) = try blocking { [self] () async throws -> (Result, Set<Int>) in
            var result = Result()
            let third = count / 3
            let before = await stream(Array(0..<third), caller: caller, peer: "store-a", address: a)
            kill(standbyPID, SIGSTOP)
            let partitionEnd = Date().addingTimeInterval(seconds)
            // During the partition: every attempt must fail (not acknowledged).
            let during = await stream(Array(third..<(2 * third)), caller: caller, peer: "store-a", address: a,
                                      deadline: .seconds(4), stopWhen: { Date() >= partitionEnd })
            while Date() < partitionEnd { try await Task.sleep(for: .milliseconds(100)) }
            kill(standbyPID, SIGCONT)
            let rest = (third..<count).filter { !during.acked.contains($0) }
            let after = await stream(rest, caller: caller, peer: "store-a", address: a)
            let acked = before.acked.union(during.acked).union(after.acked)
            result.acknowledged = acked.count
            // An acknowledgement while the standby was away breaks synchronous mode.
            result.lost += during.acked.count
            let status = await standbyStatus(caller, address: b)
            if status?.divergedReason != nil { result.diverged = true }
            result.note = "\(before.acked.count) acknowledged before, \(during.acked.count) during (\(during.errors.count) refused: " +
                "\(during.errors.first.map { String($0.prefix(160)) } ?? "-")), \(after.acked.count) after; standby at entry \(status?.seq ?? -1)"
            caller.transport.shutdownIfNNG()
            return (result, acked)
        }
        stop("store-a")
        stop("store-b")
        for db in ["\(dir)/a/store.db", "\(dir)/b/store.db"] {
            let check = try verify(db: db, acknowledged: acked)
            result.lost += check.lost
            result.duplicated += check.duplicated
            if !check.auditOK { result.diverged = true }
        }
        return result
    }

    /// The primary's store on a small tmpfs: enrollments fail with a clear SQLITE_FULL
    /// error once the disk is full, nothing acknowledged is lost, and after space is freed
    /// the same process serves again and the failed enrollments go through on retry.
    func diskFull() throws -> Result {
        let disk = "\(dir)/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/b", withIntermediateDirectories: true)
        guard shell("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", disk) == 0 else {
            throw CommandError("disk-full needs root to mount a 24 MiB tmpfs at \(disk)")
        }
        mounted = disk
        try FileManager.default.createDirectory(atPath: "\(disk)/a", withIntermediateDirectories: true)
        let (a, _) = try startPair(primaryDB: "\(disk)/a/store.db")
        let caller = try caller([a: "store-a"])
        let count = self.count
        var (result, acked) = try blocking { [self] () async throws -> (Result, Set<Int>) in
            var result = Result()
            let warm = min(50, count)
            let warmup = await stream(Array(0..<warm), caller: caller, peer: "store-a", address: a)
            // Fill the disk, then free a little: some enrollments fit, then it is full.
            let balloon = "\(disk)/balloon"
            _ = FileManager.default.createFile(atPath: balloon, contents: nil)
            if let handle = FileHandle(forWritingAtPath: balloon) {
                let chunk = Data(count: 256 << 10)
                while (try? handle.write(contentsOf: chunk)) != nil {}
                try? handle.close()
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: balloon)[.size] as? Int) ?? 0
            _ = truncate(balloon, off_t(max(0, size - (3 << 19))))
            let full = await stream(Array(warm..<count), caller: caller, peer: "store-a", address: a)
            let fullErrors = full.errors.filter { $0.contains("disk is full") }
            // Free the space; the same process must serve again.
            try? FileManager.default.removeItem(atPath: balloon)
            let rest = (warm..<count).filter { !full.acked.contains($0) }
            let after = await stream(rest, caller: caller, peer: "store-a", address: a)
            let acked = warmup.acked.union(full.acked).union(after.acked)
            result.acknowledged = acked.count
            result.note = "\(warmup.acked.count) before filling, \(full.acked.count) while filling, \(full.errors.count) failed " +
                "(\(fullErrors.count) with the disk-full error, e.g. \(fullErrors.first.map { String($0.prefix(160)) } ?? "none")), " +
                "\(after.acked.count) after freeing space; \(count - acked.count) never acknowledged"
            if full.errors.isEmpty { result.note += "; WARNING: the disk never filled" }
            let other = full.errors.filter { !$0.contains("disk is full") }
            if !other.isEmpty { result.note += "; other errors: \(other.prefix(2))" }
            caller.transport.shutdownIfNNG()
            return (result, acked)
        }
        stop("store-a")
        stop("store-b")
        for db in ["\(disk)/a/store.db", "\(dir)/b/store.db"] {
            let check = try verify(db: db, acknowledged: acked)
            result.lost += check.lost
            result.duplicated += check.duplicated
            if !check.auditOK { result.diverged = true }
        }
        return result
    }
}

extension Transport {
    func shutdownIfNNG() { (self as? NNGTransport)?.shutdown() }
}
