import Foundation
import Synchronization
import TanbaCluster
import TanbaCore
import Testing
import TanbaWire

/// The core scenario again over real nng: mutual TLS on 127.0.0.1, port 0, certificates
/// and envelope keys from DevelopmentPKI.
@Suite(.serialized) struct ClusterOverNNGTests {
    @Test func enrollIdentifyAndReplicaRetryOverMutualTLS() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-cluster-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        let names = ["coordinator", "station-1", "admin-1", "worker-1", "worker-2", "worker-3", "worker-4", "intruder"]
        _ = try DevelopmentPKI.initialize(directory: pki + "/ca")
        for n in names { try DevelopmentPKI.issue(name: n, caDirectory: pki + "/ca", directory: pki + "/nodes") }
        // Every node dials by address and checks the certificate name the address belongs to.
        let names_ = Mutex<[String: String]>([:])
        func transport(_ name: String) throws -> NNGTransport {
            NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: pki + "/nodes"),
                         serverName: { address in names_.withLock { $0[address] } })
        }
        // Each node has its own transport with its own certificate, as separate processes would.
        let transports = Mutex<[String: NNGTransport]>([:])
        func transportOf(_ name: String) throws -> any Transport {
            if let t = transports.withLock({ $0[name] }) { return t }
            let t = try transport(name)
            transports.withLock { $0[name] = t }
            return t
        }
        let listenAddress = "tls+tcp://127.0.0.1:0"
        var options = Coordinator.Options()
        options.shardDeadline = .seconds(2)
        let cluster = try await Cluster(transport: try transportOf("station-1"), workers: 3, shards: 4, address: { _ in listenAddress },
                                        coordinatorAddress: listenAddress, options: options,
                                        register: { name, address in names_.withLock { $0[address] = name } },
                                        transportFor: transportOf)
        defer { for t in transports.withLock({ Array($0.values) }) { t.shutdown() } }
        #expect(cluster.coordinator.isReady, "\(cluster.coordinator.statusDocument())")
        for p in 0..<8 {
            let a = try await cluster.enroll(p)
            #expect(a.outcome == .enrolled && !a.coverage.isPartial)
        }
        let answer = try await cluster.identify(People.probe(3))
        #expect(answer.candidates.first?.iin == People.iin(3) && !answer.coverage.isPartial)

        // A worker process dies: its listener closes; the replicas answer.
        await cluster.stopWorker("worker-1")
        for p in [1, 6] {
            let again = try await cluster.identify(People.probe(p))
            #expect(!again.coverage.isPartial && again.candidates.first?.iin == People.iin(p))
        }
        // A second one dies: shards held only by those two are reported missing.
        await cluster.stopWorker("worker-2")
        let map = cluster.coordinator.map
        let lost = map.allShards.filter { Set(map.placement[Int($0)]).isSubset(of: ["worker-1", "worker-2"]) }
        let partial = try await cluster.identify(People.probe(0))
        #expect(partial.coverage.missing == lost)
        #expect(partial.coverage.isPartial == !lost.isEmpty)

        // A client with a certificate from another CA cannot even connect.
        let rogueDir = pki + "/rogue"
        _ = try DevelopmentPKI.initialize(directory: rogueDir + "/ca")
        try DevelopmentPKI.issue(name: "station-1", caDirectory: rogueDir + "/ca", directory: rogueDir + "/nodes")
        var rogueTLS = try DevelopmentPKI.loadTLS(name: "station-1", directory: rogueDir + "/nodes")
        rogueTLS.caPEM = try String(contentsOfFile: pki + "/ca/ca.crt", encoding: .utf8)
        let rogue = NNGTransport(tls: rogueTLS, serverName: { _ in "coordinator" })
        defer { rogue.shutdown() }
        let caller = SignedCaller(identity: cluster.identities["station-1"]!, keyring: cluster.keyring, transport: rogue)
        await #expect(throws: SignedCaller.CallError.self) {
            try await caller.call(.ping(nonce: 1), to: "coordinator", at: cluster.coordinatorAddress, deadline: .seconds(2))
        }
        // …and the coordinator keeps serving.
        guard case .pong = try await cluster.ask(.ping(nonce: 2)) else { Issue.record("pong"); return }
        await cluster.shutdown()
    }

    /// The coordinator's store replicating synchronously to a standby over mutual TLS.
    @Test func writesAreOnTheStandbyWhenAnsweredOverMutualTLS() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-cluster-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        let names = ["coordinator", "station-1", "admin-1", "worker-1", "worker-2", Cluster.standbyName]
        _ = try DevelopmentPKI.initialize(directory: pki + "/ca")
        for n in names { try DevelopmentPKI.issue(name: n, caDirectory: pki + "/ca", directory: pki + "/nodes") }
        let names_ = Mutex<[String: String]>([:])
        let transports = Mutex<[String: NNGTransport]>([:])
        func transportOf(_ name: String) throws -> any Transport {
            if let t = transports.withLock({ $0[name] }) { return t }
            let t = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: pki + "/nodes"),
                                 serverName: { address in names_.withLock { $0[address] } })
            transports.withLock { $0[name] = t }
            return t
        }
        let listenAddress = "tls+tcp://127.0.0.1:0"
        let cluster = try await Cluster(transport: try transportOf("station-1"), workers: 2, shards: 2, address: { _ in listenAddress },
                                        coordinatorAddress: listenAddress,
                                        register: { name, address in names_.withLock { $0[address] = name } },
                                        transportFor: transportOf, standby: true, standbyAddress: listenAddress,
                                        syncTimeout: .seconds(2))
        defer { for t in transports.withLock({ Array($0.values) }) { t.shutdown() } }
        for p in 0..<3 {
            try await cluster.consent(p)
            #expect(try await cluster.enroll(p).outcome == .enrolled)
        }
        #expect(try cluster.openStandby().personCount == 3)
        // The standby process goes away: the next enrollment is not acknowledged.
        try await cluster.consent(3)
        await cluster.standbyListener?.close()
        do {
            _ = try await cluster.enroll(3, consent: false)
            Issue.record("acknowledged without the standby")
        } catch SignedCaller.CallError.remote(let code, _) {
            #expect(code == .unavailable)
        }
        #expect(!cluster.coordinator.isReady)
        await cluster.shutdown()
    }
}
