import Crypto
import Foundation
import Logging
import Synchronization
import TanbaCluster
import TanbaCore
import TanbaMatch
import TanbaReplication
import TanbaStore
import TanbaWire
@testable import TanbaCapture

/// The real cluster in one process, for the station's unit-level tests: TanbaCluster's
/// `Coordinator` (encrypted store, subject directory, de-duplication, the enrollment rules,
/// durable request IDs) replicating synchronously to a `StandbyNode`, and two matching
/// workers. Everything behind `SignedService`s on one `EmbeddedTransport` (signed envelopes
/// and request IDs as over nng, no sockets), so the station's outbox talks to exactly the
/// code a branch talks to in production. The coordinator can instead listen on another
/// transport (nng) for tests that run the `tanba` binary as the station.
///
/// The acceptance harnesses (`loadtest/branch-outage`, the terminal workflow test) run the
/// real processes from `cluster/local-up` instead.
final class RealCluster: @unchecked Sendable {
    let transport: EmbeddedTransport
    let coordinator: Coordinator
    let standby: StandbyNode
    /// Where stations reach the coordinator (on `transport`, or the nng listener's address).
    let address: String
    let stationIdentity: NodeIdentity
    let stationKeyring: Keyring
    let directory: URL
    /// ENROLL requests that reached the coordinator's handler (executed or answered from
    /// the kept answers): with `enrollDelay`, the window a test kills the station in.
    let enrollRequests: Counter
    private var listeners: [any TransportListener]
    private let stationTransport: any Transport

    static var quietLogger: Logger {
        var l = Logger(label: "capture-tests")
        l.logLevel = .critical
        return l
    }

    /// `coordinatorIdentity`/`keyring`: the coordinator's key and the keys it trusts
    /// (stations); worker and standby identities are added. `listen`: an nng transport and
    /// address for the coordinator's station-facing listener (default: the embedded one).
    init(coordinatorIdentity: NodeIdentity = CaptureFixtures.coordinator,
         keyring: Keyring = CaptureFixtures.coordinatorKeyring,
         station: NodeIdentity = CaptureFixtures.station, stationKeyring: Keyring = CaptureFixtures.stationKeyring,
         listen: (transport: any Transport, address: String)? = nil,
         enrollDelay: Duration? = nil,
         today: @escaping @Sendable () -> IIN.BirthDate = { CaptureFixtures.today }) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-capture-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let transport = EmbeddedTransport()
        var listeners: [any TransportListener] = []
        var keyring = keyring
        var ids: [String: NodeIdentity] = [:]
        for name in ["worker-1", "worker-2", "store-standby"] {
            ids[name] = try NodeIdentity(name: name, signingKey: Curve25519.Signing.PrivateKey())
            try keyring.trust(name, key: ids[name]!.publicKey)
        }
        try keyring.trust(coordinatorIdentity.name, key: coordinatorIdentity.publicKey)
        var workerOptions = ClusterWorker.Options()
        workerOptions.bucketBits = 10   // test galleries hold a few dozen fingers
        var entries: [ShardMap.Worker] = []
        for name in ["worker-1", "worker-2"] {
            let worker = ClusterWorker(name: name, coordinators: [coordinatorIdentity.name], options: workerOptions,
                                       logger: Self.quietLogger)
            let service = SignedService(identity: ids[name]!, keyring: keyring) { sender, message in
                await worker.handle(sender: sender, message: message)
            }
            listeners.append(try await transport.listen(on: name, handler: service.requestHandler))
            entries.append(ShardMap.Worker(name: name, address: name))
        }
        let master = MasterKey.generate(id: "capture-tests")
        let standby = try StandbyNode(path: directory.appendingPathComponent("standby.db").path, primaries: [coordinatorIdentity.name])
        let standbyService = SignedService(identity: ids["store-standby"]!, keyring: keyring) { sender, message in
            await standby.handle(sender: sender, message)
        }
        listeners.append(try await transport.listen(on: "store-standby", handler: standbyService.requestHandler))
        let store = try Store(path: directory.appendingPathComponent("store.db").path, master: master)
        let subjects = try SubjectDirectory(path: directory.appendingPathComponent("directory").path, master: master)
        let caller = SignedCaller(identity: coordinatorIdentity, keyring: keyring, transport: transport)
        var replication = StorePrimary.Options()
        replication.syncTimeout = .seconds(2)
        let primary = StorePrimary(store: store, caller: caller,
                                   standby: StorePrimary.Peer(node: "store-standby", address: "store-standby"), options: replication)
        primary.start()
        var options = Coordinator.Options()
        options.branch = CaptureFixtures.profile.branch
        // Ages and consent dates are judged on the tests' fixed day, as the station's are
        // (tests that run the `tanba` binary as the station pass the real date).
        options.today = today
        let coordinator = Coordinator(name: coordinatorIdentity.name, store: store, directory: subjects,
                                      map: ShardMap(shardCount: 4, workers: entries), caller: caller, options: options,
                                      logger: Self.quietLogger, primary: primary)
        let counter = Counter()
        let service = SignedService.withContext(identity: coordinatorIdentity, keyring: keyring) { context, message in
            if case .enroll = message {
                counter.increment()
                if let enrollDelay { try? await Task.sleep(for: enrollDelay) }
            }
            return await coordinator.handle(context: context, message: message)
        }
        let address: String
        let stationTransport: any Transport
        if let listen {
            let l = try await listen.transport.listen(on: listen.address, handler: service.requestHandler)
            listeners.append(l)
            address = l.address
            stationTransport = listen.transport
        } else {
            listeners.append(try await transport.listen(on: "coordinator", handler: service.requestHandler))
            address = "coordinator"
            stationTransport = transport
        }
        self.transport = transport
        self.coordinator = coordinator
        self.standby = standby
        self.address = address
        self.stationIdentity = station
        self.stationKeyring = stationKeyring
        self.directory = directory
        self.enrollRequests = counter
        self.listeners = listeners
        self.stationTransport = stationTransport
        await coordinator.reconcile()
        guard coordinator.isReady else { throw CaptureError.device("the in-process cluster is not ready: \(coordinator.unservedShards)") }
    }

    func shutdown() async {
        for l in listeners { await l.close() }
        listeners = []
    }

    func caller() -> SignedCaller {
        SignedCaller(identity: stationIdentity, keyring: stationKeyring, transport: stationTransport)
    }

    func sender(_ outbox: Outbox, policy: BackoffPolicy = .init(initialMilliseconds: 1, maximumMilliseconds: 4)) -> OutboxSender {
        OutboxSender(outbox: outbox, caller: caller(), peer: coordinator.name, address: address, policy: policy,
                     requestDeadline: .seconds(3))
    }

    // MARK: What the cluster holds (read from the coordinator's store, not from answers)

    var store: Store { coordinator.store }
    func enrolledIINs() -> [String] { coordinator.directory.all.map(\.digits) }
    func enrollment(_ iin: IIN) throws -> Enrollment? { try store.currentEnrollment(iin: iin) }
    func consents(_ iin: IIN) throws -> [Consent] { try store.consents(iin: iin) }
    func archived(_ iin: IIN) throws -> [Enrollment] {
        try store.archivedEnrollments(iin: iin, by: Actor(login: "capture-tests", role: "auditor", basis: "test"))
    }
    /// Store-level executions of `operation` for the person ("enroll", "reenroll", "delete", …)
    /// and their results, from the audit log.
    func audit(_ iin: IIN, operation: String) throws -> [String] {
        let reference = store.subjectReference(iin)
        return try store.audit.entries().filter { $0.entry.subjectRef == reference && $0.entry.operation == operation }
            .map(\.entry.result)
    }
    /// The standby holds every change the coordinator acknowledged (synchronous replication).
    func standbyInStep() throws -> Bool { standby.status().seq == (try store.replicationHead().seq) }
}

/// Ten distinct random templates per `person` (different persons never collide at the
/// coordinator's de-duplication; the same person always gives the same record).
extension CaptureFixtures {
    static func tenTemplates(person: UInt64, except excluded: Set<FingerPosition> = []) -> [FingerTemplate] {
        FingerPosition.tenPrint.filter { !excluded.contains($0) }.map { template($0, seed: 1_000 &+ person &* 104_729) }
    }
}
