import ArgumentParser
import Dispatch
import Foundation
import Synchronization
import TanbaReplication
import TanbaStore
import TanbaWire

/// The configuration file of `tanba store primary|standby|promote|status` (JSON; samples
/// in configs/store-primary.json and configs/store-standby.json).
struct StoreNodeConfig: Codable {
    /// This node's name: its certificate, envelope key and keyring name.
    var node: String
    /// Directory with ca.crt, NODE.crt/.key, NODE.sign.key and every trusted *.sign.pub (`tanba pki issue`).
    var pki: String
    /// The data store; the key store is <db>.keys unless `keys` says otherwise.
    var db: String
    var keys: String?
    /// '<id>:<base64>' master key file (0600); or TANBA_MASTER_KEY. A standby needs it only to be promoted.
    var masterKeyFile: String?
    /// Where this node serves (tls+tcp://HOST:PORT; port 0 picks one, see `readyFile`).
    var listen: String
    /// Primary (and a standby once promoted): the synchronous standby, if any.
    var standby: StorePrimary.Peer?
    /// Primary: asynchronous copies (remote sites).
    var copies: [StorePrimary.Peer]?
    /// Standby: nodes allowed to replicate to it (default: any node of the PKI directory).
    var primaries: [String]?
    /// Nodes allowed to send PROMOTE (default: any node of the PKI directory).
    var operators: [String]?
    /// `tanba store promote|status`: the identity to sign with (default: `node`).
    var operatorIdentity: String?
    var syncTimeoutMilliseconds: Int?
    var maxBacklog: Int64?
    /// When set, the bound address is written there once the node serves (for scripts).
    var readyFile: String?

    static func load(_ path: String) throws -> StoreNodeConfig {
        let data = try Output.readFile(path)
        do { return try JSONDecoder().decode(StoreNodeConfig.self, from: Data(data)) } catch {
            throw CommandError("\(path): not a valid store configuration: \(error)")
        }
    }

    var keyStorePath: String { keys ?? Store.keyStorePath(for: db) }

    var options: StorePrimary.Options {
        var o = StorePrimary.Options()
        if let ms = syncTimeoutMilliseconds { o.syncTimeout = .milliseconds(ms) }
        if let b = maxBacklog { o.maxBacklog = b }
        return o
    }

    /// Transport with this node's certificate; dialed addresses must present the
    /// certificate of the peer configured for them.
    func transport(identity name: String) throws -> NNGTransport {
        var names: [String: String] = [:]
        for peer in [standby].compactMap({ $0 }) + (copies ?? []) { names[peer.address] = peer.node }
        let fixed = names
        return NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: pki), serverName: { fixed[$0] })
    }

    func caller(identity name: String? = nil) throws -> SignedCaller {
        let name = name ?? node
        return SignedCaller(identity: try DevelopmentPKI.loadIdentity(name: name, directory: pki),
                            keyring: try DevelopmentPKI.loadKeyring(directory: pki), transport: try transport(identity: name))
    }
}

/// A value behind a lock that escaping closures may capture (Mutex and Atomic cannot be).
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    @discardableResult
    func with<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Runs `body` on the concurrency pool and blocks the calling (main) thread until it ends.
@discardableResult
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let outcome = Locked<Result<T, any Error>?>(nil)
    Task.detached {
        do {
            let value = try await body()
            outcome.with { $0 = .success(value) }
        } catch {
            outcome.with { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    return try outcome.with { $0! }.get()
}

/// Serves `node` until SIGTERM or SIGINT, then closes the listener (requests in progress
/// finish) and stops background replication: a graceful shutdown.
func serve(_ node: StoreNode, config: StoreNodeConfig, transport: NNGTransport) throws {
    let service = SignedService(identity: try DevelopmentPKI.loadIdentity(name: config.node, directory: config.pki),
                                keyring: try DevelopmentPKI.loadKeyring(directory: config.pki)) { sender, message in
        await node.handle(sender: sender, message)
    }
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    let stop = DispatchSemaphore(value: 0)
    let sources = [SIGTERM, SIGINT].map { sig -> DispatchSourceSignal in
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { stop.signal() }
        source.resume()
        return source
    }
    try blocking {
        let listener = try await transport.listen(on: config.listen, handler: service.requestHandler)
        print("\(config.node) serving on \(listener.address)")
        if let ready = config.readyFile {
            try Data((listener.address + "\n").utf8).write(to: URL(fileURLWithPath: ready + ".tmp"))
            _ = rename(ready + ".tmp", ready)
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { stop.wait(); c.resume() }
        }
        await listener.close()
        await node.stop()
        transport.shutdown()
        print("\(config.node) stopped")
    }
    _ = sources
}

struct StorePrimaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "primary",
        abstract: "Serve the store as primary: ENROLL/UPDATE/DELETE/STATUS over TanbaWire, synchronous standby, async copies.")

    @Option(help: "Configuration file (configs/store-primary.json).") var config: String

    func run() throws {
        let config = try StoreNodeConfig.load(config)
        let master = try MasterKey.load(file: config.masterKeyFile)
        let store = try Store(path: config.db, keyStorePath: config.keys, master: master)
        let caller = try config.caller()
        let primary = StorePrimary(store: store, caller: caller, standby: config.standby, copies: config.copies ?? [],
                                   options: config.options)
        primary.start()
        try serve(StoreNode(role: .primary(primary)), config: config, transport: try config.transport(identity: config.node))
        (caller.transport as? NNGTransport)?.shutdown()
    }
}

struct StoreStandbyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standby",
        abstract: "Serve as standby: apply the primary's changesets and key deltas durably; promotable.")

    @Option(help: "Configuration file (configs/store-standby.json).") var config: String
    @Flag(help: "These files belonged to a primary: rejoin as its successor's standby (its history is checked).")
    var rejoin = false

    func run() throws {
        let config = try StoreNodeConfig.load(config)
        if rejoin { try StandbyApplier.demote(path: config.db, keyStorePath: config.keyStorePath) }
        let standby = try StandbyNode(path: config.db, keyStorePath: config.keyStorePath, primaries: config.primaries.map(Set.init))
        if let reason = try standby.applier.divergedReason { print("warning: this standby has diverged: \(reason)") }
        let keyFile = config.masterKeyFile
        let plan = StoreNode.PromotionPlan(master: { try MasterKey.load(file: keyFile) }, caller: try config.caller(),
                                           standby: config.standby, copies: config.copies ?? [], options: config.options)
        try serve(StoreNode(role: .standby(standby), promotion: plan, operators: config.operators.map(Set.init)),
                  config: config, transport: try config.transport(identity: config.node))
    }
}

struct StorePromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Turn a running standby into the primary (PROMOTE); refused if it has diverged.")

    @Option(help: "The standby's configuration file (its node name and address; operatorIdentity signs).") var config: String
    @Option(help: "The standby's address (default: the config's listen address, or its readyFile).") var address: String?

    func run() throws {
        let config = try StoreNodeConfig.load(config)
        let target = try address ?? StoreStatusCommand.address(of: config)
        try blocking {
            let link = NetworkReplicationLink(caller: try config.caller(identity: config.operatorIdentity ?? config.node),
                                              peer: config.node, address: target, deadline: .seconds(30))
            let position = try await link.promote()
            print("\(config.node) is the primary; its log continues after entry \(position.seq)")
            (link.caller.transport as? NNGTransport)?.shutdown()
        }
    }
}

struct StoreStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Replication state of a running store node (REPLICA_STATUS).")

    @Option(help: "The node's configuration file.") var config: String
    @Option(help: "The node's address (default: listen address, or its readyFile).") var address: String?
    @Flag(help: "Print JSON.") var json = false

    static func address(of config: StoreNodeConfig) throws -> String {
        if let ready = config.readyFile, let text = FileManager.default.contents(atPath: ready) {
            return String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return config.listen
    }

    struct Report: Encodable {
        var node: String, role: String, serving: Bool, seq: Int64, keyVersion: Int64, persons: UInt64
        var divergedReason: String?, detail: String
    }

    func run() throws {
        let config = try StoreNodeConfig.load(config)
        let target = try address ?? Self.address(of: config)
        let json = self.json
        try blocking {
            let link = NetworkReplicationLink(caller: try config.caller(identity: config.operatorIdentity ?? config.node),
                                              peer: config.node, address: target, deadline: .seconds(10))
            let s = try await link.status()
            (link.caller.transport as? NNGTransport)?.shutdown()
            let report = Report(node: config.node, role: s.role == .primary ? "primary" : "standby", serving: s.serving, seq: s.seq,
                                keyVersion: s.keyVersion, persons: s.persons, divergedReason: s.divergedReason, detail: s.detail)
            if json { print(try Output.json(report)) } else {
                print("\(report.node): \(report.role), \(s.serving ? "serving" : "NOT SERVING"), entry \(s.seq), keys \(s.keyVersion), \(s.persons) persons")
                if let why = s.divergedReason { print("diverged: \(why)") }
                if !s.detail.isEmpty { print(s.detail) }
            }
        }
    }
}
