import ArgumentParser
import Foundation
import Synchronization
import TanbaCore
import TanbaReplication
import TanbaStore
import TanbaSynth
import TanbaWire

/// Synthetic ten-print persons for the store benchmarks: a pool of generated fingers
/// (SyntheticTemplateGenerator) reused round-robin, so generation does not dominate.
struct BenchPersons: Sendable {
    let pool: [FingerTemplate]
    init(poolFingers: Int, seed: UInt64) {
        let generator = SyntheticTemplateGenerator(seed: seed)
        pool = (0..<poolFingers).map { generator.impression(of: generator.master(finger: UInt64($0)), index: 0) }
    }

    /// A distinct valid IIN per index (1000 indices per birth date, ten serials tried each).
    static func iin(_ i: Int) -> IIN
    {
        let date = IIN.BirthDate(year: 1940 + (i / 1000) % 80, month: 1 + (i / 80_000) % 12, day: 1 + (i / 960_000) % 28)
        for k in 0..<10 {
            if let iin = IIN.make(birthDate: date, sex: .female, serial: (i % 1000) * 10 + k) { return iin }
        }
        fatalError("no valid IIN for index \(i)")
    }

    func iin(_ i: Int) -> IIN { Self.iin(i) }

    func enrollment(_ i: Int) -> Enrollment {
        let views = FingerPosition.tenPrint.enumerated().map { f, position -> FingerTemplate in
            var t = pool[(i * 10 + f) % pool.count]
            t.position = position
            return t
        }
        return Enrollment(record: FingerprintRecord(views: views),
                          capture: CaptureInfo(branch: "bench", station: "bench", operatorLogin: "bench", device: "synthetic"))
    }

    static let consent = Consent(operatorName: "bench", operatorBIN: "000000000000", term: "bench", signatureReference: "bench",
                                 acceptedBy: "bench")
    static let actor = Actor(login: "bench", role: "operator", basis: "benchmark")
}

struct StoreThroughputBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Enrollment throughput with a synchronous standby (loopback, mutual TLS) vs without replication.")

    @Option(help: "Enrollments per configuration.") var enrollments = 1000
    @Option(help: "Concurrent enrolling tasks.") var concurrency = 8
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        var enrollments: Int, concurrency: Int
        var withoutReplicationPerSecond: Double
        var synchronousStandbyPerSecond: Double
        var ratio: Double
        var standbyPosition: Int64
    }

    func run() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-bench-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let persons = BenchPersons(poolFingers: 500, seed: 11)
        let (n, c) = (enrollments, concurrency)
        let master = MasterKey.generate(id: "bench")

        @Sendable func measure(_ primary: StorePrimary, offset: Int) async throws -> Double {
            let next = Locked(0)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<c {
                    group.addTask {
                        while true {
                            let i = next.with { n -> Int in defer { n += 1 }; return n }
                            guard i < n else { return }
                            let k = offset + i
                            try await primary.enroll(PersonIdentity(fullName: "Bench Person \(k)", iin: persons.iin(k)), iin: persons.iin(k),
                                                     enrollment: persons.enrollment(k), consent: BenchPersons.consent, by: BenchPersons.actor)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Double(n) / seconds
        }

        let report = try blocking { () async throws -> Report in
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let pki = root + "/pki"
            try DevelopmentPKI.initialize(directory: root + "/ca")
            for name in ["store-a", "store-b"] { try DevelopmentPKI.issue(name: name, caDirectory: root + "/ca", directory: pki) }
            let keyring = try DevelopmentPKI.loadKeyring(directory: pki)

            // 1. No replication.
            let alone = StorePrimary(store: try Store(path: root + "/alone.db", master: master), caller: nil, standby: nil)
            let withoutRate = try await measure(alone, offset: 0)

            // 2. Synchronous standby over loopback mutual TLS.
            let standby = try StandbyNode(path: root + "/standby.db", primaries: ["store-a"])
            let node = StoreNode(role: .standby(standby))
            let service = SignedService(identity: try DevelopmentPKI.loadIdentity(name: "store-b", directory: pki), keyring: keyring) {
                await node.handle(sender: $0, $1)
            }
            let serverTransport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "store-b", directory: pki))
            let listener = try await serverTransport.listen(on: "tls+tcp://127.0.0.1:0", handler: service.requestHandler)
            let clientTransport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "store-a", directory: pki),
                                               serverName: { _ in "store-b" })
            let caller = SignedCaller(identity: try DevelopmentPKI.loadIdentity(name: "store-a", directory: pki), keyring: keyring,
                                      transport: clientTransport)
            let primary = StorePrimary(store: try Store(path: root + "/primary.db", master: master), caller: caller,
                                       standby: StorePrimary.Peer(node: "store-b", address: listener.address))
            try await primary.acknowledge()   // connect before timing
            let syncRate = try await measure(primary, offset: 0)
            let position = try standby.applier.position.seq
            clientTransport.shutdown()
            await listener.close()
            return Report(enrollments: n, concurrency: c, withoutReplicationPerSecond: withoutRate,
                          synchronousStandbyPerSecond: syncRate, ratio: syncRate / withoutRate, standbyPosition: position)
        }
        if json {
            print(try Output.json(report))
        } else {
            print(String(format: "without replication:    %8.1f enrollments/s", report.withoutReplicationPerSecond))
            print(String(format: "synchronous standby:    %8.1f enrollments/s (loopback, mutual TLS)", report.synchronousStandbyPerSecond))
            print(String(format: "ratio:                  %8.1f %%  (%d ten-print enrollments each, %d concurrent)",
                         report.ratio * 100, n, c))
        }
    }
}

struct StoreLoadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-load",
        abstract: "Time for workers to stream their shards from the store (decrypting every template).")

    @Option(help: "Fingers in the store (ten per person).") var fingers = 1_000_000
    @Option(help: "Shards; the whole store is read shard by shard, and the slowest shard is reported.") var shards = 1
    @Option(help: "Existing store directory to reuse (created if missing; kept).") var directory: String?
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        var fingers: Int, persons: Int, shards: Int
        var buildSeconds: Double
        var loadSeconds: Double
        var slowestShardSeconds: Double
        var fingersPerSecond: Double
        var databaseBytes: Int64
    }

    func run() throws {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("tanba-store-load-\(UUID().uuidString)").path
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: dir) } }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let master = try MasterKey.parse("bench:" + Data(repeating: 7, count: 32).base64EncodedString())
        let persons = fingers / 10
        let path = dir + "/store.db"
        var buildSeconds = 0.0
        do {
            let store = try Store(path: path, master: master, replication: false)
            let have = try store.personCount
            if have < persons {
                let data = BenchPersons(poolFingers: 2_000, seed: 5)
                let start = Date()
                var i = have
                while i < persons {
                    let end = min(persons, i + 2_000)
                    try store.enrollMany((i..<end).map { k in
                        Store.BulkEnrollment(identity: PersonIdentity(fullName: "Bench Person \(k)", iin: data.iin(k)), iin: data.iin(k),
                                             enrollment: data.enrollment(k), consent: BenchPersons.consent)
                    }, by: BenchPersons.actor)
                    i = end
                    if !json, i % 20_000 == 0 { FileHandle.standardError.write(Data("built \(i)/\(persons) persons\n".utf8)) }
                }
                buildSeconds = Date().timeIntervalSince(start)
            }
        }
        // A fresh open, as a worker starting up.
        let store = try Store(path: path, master: master, replication: false)
        var loaded = 0, members = 0
        var slowest = 0.0
        let start = Date()
        for shard in 0..<shards {
            let t = Date()
            members += try store.forEachCurrentEnrollment(shard: shard, of: shards) { loaded += $0.record.views.count }
            slowest = max(slowest, Date().timeIntervalSince(t))
        }
        let seconds = Date().timeIntervalSince(start)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        let report = Report(fingers: loaded, persons: members, shards: shards, buildSeconds: buildSeconds, loadSeconds: seconds,
                            slowestShardSeconds: slowest, fingersPerSecond: Double(loaded) / seconds, databaseBytes: size)
        if json { print(try Output.json(report)) } else {
            print(String(format: "loaded %d fingers of %d persons in %.2f s (%.0f fingers/s), %d shard(s), slowest shard %.2f s; store %.0f MB (built in %.1f s)",
                         loaded, members, seconds, report.fingersPerSecond, shards, slowest, Double(size) / 1e6, buildSeconds))
        }
    }
}
