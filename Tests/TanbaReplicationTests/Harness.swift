import Crypto
import Foundation
import Synchronization
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaTestSupport
import TanbaWire
@testable import TanbaReplication

/// A fresh directory per test, removed afterwards.
final class TempDir: @unchecked Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-repl-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Records every byte a transport carried (requests and answers), for leak searches.
final class CapturingTransport: Transport {
    let inner: any Transport
    let captured = Mutex<[UInt8]>([])
    init(_ inner: any Transport) { self.inner = inner }
    func listen(on address: String, handler: @escaping RequestHandler) async throws(WireError) -> any TransportListener {
        try await inner.listen(on: address, handler: handler)
    }
    func request(_ request: [UInt8], to address: String, deadline: Duration) async throws(WireError) -> [UInt8] {
        captured.withLock { $0 += request }
        let answer = try await inner.request(request, to: address, deadline: deadline)
        captured.withLock { $0 += answer }
        return answer
    }
    var bytes: [UInt8] { captured.withLock { $0 } }
}

enum R {
    static let master = try! MasterKey.parse("k2026a:" + Data((0..<32).map { UInt8($0 * 11 % 256) }).base64EncodedString())
    static let actor = Actor(login: "op-0042", role: "operator", basis: "BIO 3 consent")

    static func identity(_ name: String, seed: UInt8) -> NodeIdentity {
        try! NodeIdentity(name: name, signingKey: try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: seed, count: 32)))
    }
    static let names = ["store-a": UInt8(1), "store-b": 2, "store-c": 3, "ops": 4, "station-1": 5]
    static let keyring: Keyring = {
        var k = Keyring()
        for (name, seed) in names { try! k.trust(name, key: identity(name, seed: seed).publicKey) }
        return k
    }()
    static func node(_ name: String) -> NodeIdentity { identity(name, seed: names[name]!) }

    static func iin(_ serial: Int) -> IIN {
        for k in 0..<10 {
            if let iin = IIN.make(birthDate: .init(year: 1990, month: 3, day: 8), sex: .male, serial: serial * 10 + k) { return iin }
        }
        fatalError("no IIN")
    }
    static func name(_ serial: Int) -> String { "Ерлан Бақытжанұлы Тестов-\(serial)" }

    static func enrollment(seed: UInt64) -> Enrollment {
        var rng = SplitMix64(seed: seed &+ 1)
        let views = FingerPosition.tenPrint.map { position in
            FingerTemplate(position: position, width: 416, height: 560, quality: 70, minutiae: (0..<36).map { _ in
                Minutia(x: UInt16(rng.next() % 400), y: UInt16(rng.next() % 540), angle: rng.byte(),
                        kind: rng.next() % 2 == 0 ? .ridgeEnding : .bifurcation, quality: UInt8(rng.next() % 100))
            })
        }
        return Enrollment(record: FingerprintRecord(views: views, captureDeviceID: 0x2222),
                          capture: CaptureInfo(branch: "Almaty-1", station: "st-2", operatorLogin: "op-0042", device: "scan-9",
                                               capturedAt: "2026-11-21T11:00:00.000+05:00"))
    }
    static func consent() -> Consent {
        Consent(operatorName: "Government for Citizens", operatorBIN: "021240001789", term: "indefinite",
                signedAt: "2026-11-21T10:55:00.000+05:00", signatureReference: "doc-1", acceptedBy: "op-0042")
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return Data(haystack).range(of: Data(needle)) != nil
    }

    static func fileBytes(_ path: String) -> [UInt8] { FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? [] }
}

/// A primary and a standby (and optionally a copy) on one transport.
final class Pair: @unchecked Sendable {
    let dir = TempDir()
    let transport: any Transport
    let embedded: EmbeddedTransport?
    var listeners: [String: any TransportListener] = [:]
    var nodes: [String: StoreNode] = [:]

    init(transport: any Transport = EmbeddedTransport()) {
        self.transport = transport
        embedded = transport as? EmbeddedTransport
    }

    func caller(_ name: String) -> SignedCaller { SignedCaller(identity: R.node(name), keyring: R.keyring, transport: transport) }

    func address(_ name: String) -> String { listeners[name]?.address ?? "mem://\(name)" }

    /// Serves `node` under `name` (address mem://NAME).
    func serve(_ name: String, _ node: StoreNode, on address: String? = nil) async throws {
        nodes[name] = node
        let service = SignedService(identity: R.node(name), keyring: R.keyring) { sender, message in
            await node.handle(sender: sender, message)
        }
        listeners[name] = try await transport.listen(on: address ?? "mem://\(name)", handler: service.requestHandler)
    }

    func promotionPlan(standby: StorePrimary.Peer? = nil, caller name: String) -> StoreNode.PromotionPlan {
        StoreNode.PromotionPlan(master: { R.master }, caller: caller(name), standby: standby)
    }

    /// Starts a standby called `name` in files `name`.db.
    @discardableResult
    func startStandby(_ name: String, primaries: Set<String>? = nil, rejoin: Bool = false,
                      plan: StoreNode.PromotionPlan? = nil, address: String? = nil) async throws -> StandbyNode {
        if rejoin { try StandbyApplier.demote(path: dir.path("\(name).db"), keyStorePath: dir.path("\(name).db.keys")) }
        let standby = try StandbyNode(path: dir.path("\(name).db"), primaries: primaries)
        try await serve(name, StoreNode(role: .standby(standby), promotion: plan ?? promotionPlan(caller: name), operators: ["ops"]),
                        on: address)
        return standby
    }

    /// Starts a primary called `name` replicating synchronously to `standby`.
    @discardableResult
    func startPrimary(_ name: String, standby: String?, copies: [String] = [], options: StorePrimary.Options = .init(),
                      address: String? = nil) async throws -> StorePrimary {
        let store = try Store(path: dir.path("\(name).db"), master: R.master)
        let primary = StorePrimary(store: store, caller: caller(name),
                                   standby: standby.map { StorePrimary.Peer(node: $0, address: self.address($0)) },
                                   copies: copies.map { StorePrimary.Peer(node: $0, address: self.address($0)) }, options: options)
        primary.start()
        try await serve(name, StoreNode(role: .primary(primary)), on: address)
        return primary
    }

    /// Opens a node's files as a store with the master key (for checks).
    func open(_ name: String) throws -> Store {
        try Store(path: dir.path("\(name).db"), master: R.master, replication: false)
    }

    func enroll(_ primary: StorePrimary, _ serial: Int) async throws {
        try await primary.enroll(PersonIdentity(fullName: R.name(serial), iin: R.iin(serial)), iin: R.iin(serial),
                                 enrollment: R.enrollment(seed: UInt64(serial)), consent: R.consent(), by: R.actor)
    }

    func stop() async {
        for node in nodes.values { await node.stop() }
        for listener in listeners.values { await listener.close() }
        (transport as? NNGTransport)?.shutdown()
    }
}
