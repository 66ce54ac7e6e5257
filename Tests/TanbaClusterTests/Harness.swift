import Crypto
import Foundation
import Logging
import Synchronization
import TanbaCluster
import TanbaCore
import TanbaMatch
import TanbaReplication
import TanbaStore
import TanbaSynth
import TanbaWire

/// Synthetic persons: person p's finger f is master p·16+f of a fixed template generator;
/// impression 0 is enrolled, impression 1 (or more) probes.
enum People {
    static let generator = SyntheticTemplateGenerator(seed: 20261121)
    static let fingers: [FingerPosition] = [.rightThumb, .rightIndex, .leftThumb, .leftIndex]

    static func iin(_ p: Int) -> IIN {
        var serial = p + 1
        while true {
            if let iin = IIN.make(birthDate: .init(year: 1980 + p % 20, month: 1 + p % 12, day: 1 + p % 28), sex: .male, serial: serial) {
                return iin
            }
            serial += 1
        }
    }

    /// Enrollment and probe records of the first persons, made once per test process.
    static let enrolled: [FingerprintRecord] = (0..<32).map { record($0, impression: 0) }
    static let probes: [FingerprintRecord] = (0..<32).map { record($0, impression: 1) }
    static func probe(_ p: Int) -> FingerprintRecord { p < probes.count ? probes[p] : record(p, impression: 1) }
    static func enrollment(_ p: Int) -> FingerprintRecord { p < enrolled.count ? enrolled[p] : record(p, impression: 0) }

    /// The six fingers test records do not capture, recorded as exceptions with a reason
    /// (the coordinator refuses a ten-print with fingers neither captured nor excepted).
    static let exceptions: [FingerException] = FingerPosition.tenPrint.filter { !fingers.contains($0) }
        .map { FingerException(position: $0, kind: .bandaged, reason: "test fixture: four-finger records") }

    static func record(_ p: Int, impression: Int, fingers: [FingerPosition] = People.fingers, seedOffset: UInt64 = 0) -> FingerprintRecord {
        FingerprintRecord(views: fingers.map { position in
            let master = generator.master(finger: UInt64(p) * 16 + UInt64(position.rawValue) + seedOffset)
            return generator.impression(of: master, index: impression, position: position)
        })
    }
}

/// Nodes over one transport: a coordinator, workers, a station, an admin.
final class Cluster: @unchecked Sendable {
    let transport: any Transport
    let coordinator: Coordinator
    let coordinatorAddress: String
    let workers: [String: ClusterWorker]
    var workerListeners: [String: any TransportListener]
    let station: SignedCaller
    let admin: SignedCaller
    let keyring: Keyring
    let identities: [String: NodeIdentity]
    let directory: URL
    var coordinatorListener: any TransportListener
    let master = MasterKey.generate(id: "test")
    /// The store's standby (nil: the coordinator's store is standalone).
    let standby: StandbyNode?
    var standbyListener: (any TransportListener)?
    var standbyAddress: String?
    static let standbyName = "store-standby"

    static func identity(_ name: String) -> NodeIdentity {
        let seed = Array(SHA256.hash(data: Data(name.utf8)))
        return try! NodeIdentity(name: name, signingKey: try! Curve25519.Signing.PrivateKey(rawRepresentation: seed))
    }

    /// Small prefilter tables: test galleries hold a few dozen fingers.
    static var workerOptions: ClusterWorker.Options {
        var o = ClusterWorker.Options()
        o.bucketBits = 10
        return o
    }

    static var quietLogger: Logger {
        var l = Logger(label: "test")
        l.logLevel = .critical
        return l
    }

    /// Workers named worker-1…N listening at `address(name)`; the coordinator at "coordinator".
    /// `dial(name, listenerAddress)` gives the address the other nodes use to reach a node
    /// (default: where it listens; a test may put a TCP recorder in between). `register` is
    /// told both addresses, so a dialer checks the node's certificate name either way.
    init(transport: any Transport, workers count: Int, shards: Int, extraNames: [String] = [],
         address: (String) -> String = { $0 }, coordinatorAddress: String = "coordinator",
         options: Coordinator.Options = .init(), register: (String, String) -> Void = { _, _ in },
         transportFor: ((String) throws -> any Transport)? = nil,
         standby: Bool = false, asyncStandby: Bool = false, standbyAddress: String = "store-standby",
         syncTimeout: Duration = .seconds(2), dial: (String, String) throws -> String = { $1 }) async throws {
        self.transport = transport
        let transportOf = transportFor ?? { _ in transport }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let names = ["coordinator", "station-1", "admin-1", Self.standbyName] + (1...max(count, 1)).map { "worker-\($0)" } + extraNames
        var ids: [String: NodeIdentity] = [:]
        var keyring = Keyring()
        for n in names {
            ids[n] = Self.identity(n)
            try keyring.trust(n, key: ids[n]!.publicKey)
        }
        identities = ids
        self.keyring = keyring
        var workers: [String: ClusterWorker] = [:]
        var listeners: [String: any TransportListener] = [:]
        var entries: [ShardMap.Worker] = []
        for i in 1...count {
            let name = "worker-\(i)"
            let worker = ClusterWorker(name: name, coordinators: ["coordinator"], options: Self.workerOptions, logger: Self.quietLogger)
            let service = SignedService(identity: ids[name]!, keyring: keyring) { sender, message in
                await worker.handle(sender: sender, message: message)
            }
            let listener = try await transportOf(name).listen(on: address(name), handler: service.requestHandler)
            workers[name] = worker
            listeners[name] = listener
            let dialed = try dial(name, listener.address)
            register(name, listener.address)
            register(name, dialed)
            entries.append(ShardMap.Worker(name: name, address: dialed))
        }
        self.workers = workers
        workerListeners = listeners
        let store = try Store(path: directory.appendingPathComponent("store.db").path, master: master)
        let subjects = try SubjectDirectory(path: directory.appendingPathComponent("directory").path, master: master)
        var options = options
        options.admins = ["admin-1"]
        let coordinatorCaller = SignedCaller(identity: ids["coordinator"]!, keyring: keyring, transport: try transportOf("coordinator"))
        var primary: StorePrimary? = nil
        if standby {
            let node = try StandbyNode(path: directory.appendingPathComponent("standby.db").path, primaries: ["coordinator"])
            let service = SignedService(identity: ids[Self.standbyName]!, keyring: keyring) { sender, message in
                await node.handle(sender: sender, message)
            }
            let listener = try await transportOf(Self.standbyName).listen(on: standbyAddress, handler: service.requestHandler)
            let dialed = try dial(Self.standbyName, listener.address)
            register(Self.standbyName, listener.address)
            register(Self.standbyName, dialed)
            self.standby = node
            self.standbyListener = listener
            self.standbyAddress = dialed
            var replicationOptions = StorePrimary.Options()
            replicationOptions.syncTimeout = syncTimeout
            replicationOptions.copyInterval = .milliseconds(20)
            let peer = StorePrimary.Peer(node: Self.standbyName, address: dialed)
            primary = StorePrimary(store: store, caller: coordinatorCaller, standby: asyncStandby ? nil : peer,
                                   copies: asyncStandby ? [peer] : [], options: replicationOptions)
            primary?.start()
        } else {
            self.standby = nil
        }
        coordinator = Coordinator(name: "coordinator", store: store, directory: subjects,
                                  map: ShardMap(shardCount: shards, workers: entries),
                                  caller: coordinatorCaller, options: options, logger: Self.quietLogger, primary: primary)
        let coordinator = self.coordinator
        let service = SignedService.withContext(identity: ids["coordinator"]!, keyring: keyring) { context, message in
            await coordinator.handle(context: context, message: message)
        }
        coordinatorListener = try await transportOf("coordinator").listen(on: coordinatorAddress, handler: service.requestHandler)
        self.coordinatorAddress = try dial("coordinator", coordinatorListener.address)
        register("coordinator", coordinatorListener.address)
        register("coordinator", self.coordinatorAddress)
        station = SignedCaller(identity: ids["station-1"]!, keyring: keyring, transport: try transportOf("station-1"))
        admin = SignedCaller(identity: ids["admin-1"]!, keyring: keyring, transport: try transportOf("admin-1"))
        await coordinator.reconcile()
    }

    /// Starts one more worker (not yet in the map).
    func startWorker(_ name: String, at address: String) async throws -> (ClusterWorker, any TransportListener) {
        let worker = ClusterWorker(name: name, coordinators: ["coordinator"], options: Self.workerOptions, logger: Self.quietLogger)
        let service = SignedService(identity: identities[name]!, keyring: keyring) { sender, message in
            await worker.handle(sender: sender, message: message)
        }
        return (worker, try await transport.listen(on: address, handler: service.requestHandler))
    }

    /// Stops a worker the way a crashed process disappears: its listener closes.
    func stopWorker(_ name: String) async {
        if let l = workerListeners.removeValue(forKey: name) { await l.close() }
    }

    func ask(_ message: WireMessage, requestID: RequestID = .random()) async throws -> WireMessage {
        try await station.call(message, to: "coordinator", at: coordinatorAddress, deadline: .seconds(30), requestID: requestID)
    }

    /// A consent form for `iin` signed by `signer`'s envelope key (what a station sends
    /// ahead of ENROLL and UPDATE).
    func consentMessage(_ iin: IIN, name: String = "Test Person", date: IIN.BirthDate = EnrollmentRules(now: Date()).today,
                        term: String = "until revoked", purpose: EnrollmentPurpose = .publicServices,
                        citizenship: Subject.Citizenship? = nil, declaredIncapable: Bool? = nil, guardian: Guardian? = nil,
                        signer: String = "station-1") -> WireMessage {
        let record = ConsentRecord(operatorEmployee: "op-1", branch: "astana-01", station: signer, subjectName: "\(name) \(iin)",
                                   subjectIIN: iin, date: date, term: term, formReference: "form-\(UUID().uuidString.prefix(6))",
                                   purpose: purpose, guardian: guardian, citizenship: citizenship, declaredIncapable: declaredIncapable)
        let document = record.canonicalJSON()
        return .consent(ConsentRequest(iin: iin, action: .granted, document: document,
                                       signature: Array(try! identities[signer]!.signingKey.signature(for: document))))
    }

    /// Sends person `p`'s consent (a new form each time).
    @discardableResult
    func consent(_ p: Int) async throws -> Bool {
        guard case .consentAnswer(let recorded) = try await ask(consentMessage(People.iin(p))) else { throw TestFailure("not a consent answer") }
        return recorded
    }

    func enroll(_ p: Int, consent: Bool = true) async throws -> EnrollAnswer {
        if consent { try await self.consent(p) }
        guard case .enrollAnswer(let a) = try await ask(.enroll(EnrollRequest(iin: People.iin(p), record: People.enrollment(p), exceptions: People.exceptions))) else {
            throw TestFailure("not an enroll answer")
        }
        return a
    }

    func identify(_ probe: FingerprintRecord, topK: Int = 5) async throws -> IdentifyAnswer {
        guard case .identifyAnswer(let a) = try await ask(.identify(IdentifyRequest(probe: probe, topK: topK))) else {
            throw TestFailure("not an identify answer")
        }
        return a
    }

    /// The standby's files opened as a store (read-only use, for checks).
    func openStandby() throws -> Store {
        try Store(path: directory.appendingPathComponent("standby.db").path, master: master, replication: false)
    }

    func shutdown() async {
        await coordinator.primary.stop()
        if let l = standbyListener { await l.close() }
        await coordinatorListener.close()
        for l in workerListeners.values { await l.close() }
        try? FileManager.default.removeItem(at: directory)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

final class Tally: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func add(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }
    subscript(_ key: String) -> Int { counts.withLock { $0[key] ?? 0 } }
}
