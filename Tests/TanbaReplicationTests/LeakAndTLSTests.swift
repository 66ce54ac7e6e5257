import Foundation
import Testing
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaTestSupport
import TanbaWire
@testable import TanbaReplication

@Suite(.serialized) struct LeakAndTLSTests {
    /// Known IINs, names and template bytes appear nowhere on disk or in the replication
    /// traffic: not in either node's database, WAL or key store, not in a backup, not in
    /// any byte the transport carried between primary and standby.
    @Test func noPlaintextInFilesWALBackupOrReplicationTraffic() async throws {
        let capture = CapturingTransport(EmbeddedTransport())
        let pair = Pair(transport: capture)
        try await pair.startStandby("store-b")
        let primary = try await pair.startPrimary("store-a", standby: "store-b")
        let serials = Array(0..<6)
        for s in serials { try await pair.enroll(primary, s) }
        try await primary.reenroll(iin: R.iin(0), enrollment: R.enrollment(seed: 500), consent: R.consent(), by: R.actor)
        try await primary.delete(iin: R.iin(5), request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                                 by: R.actor)
        try primary.store.backup(to: pair.dir.path("backup.db"))

        var needles: [(String, [UInt8])] = []
        for s in serials {
            needles.append(("IIN \(s)", Array(R.iin(s).digits.utf8)))
            needles.append(("name \(s)", Array(R.name(s).utf8)))
            for view in R.enrollment(seed: UInt64(s)).record.views.prefix(3) {
                let bytes = try TemplateCodec.encode(FingerprintRecord(views: [view]), as: .native)
                // The minutiae section: 24 bytes from the middle of the record.
                needles.append(("template \(s)/\(view.position)", Array(bytes[(bytes.count / 2)..<(bytes.count / 2 + 24)])))
            }
        }
        needles.append(("branch", Array("Almaty-1".utf8)))
        needles.append(("consent operator", Array("Government for Citizens".utf8)))

        let files = ["store-a.db", "store-a.db-wal", "store-a.db.keys", "store-a.db.keys-wal",
                     "store-b.db", "store-b.db-wal", "store-b.db.keys", "store-b.db.keys-wal", "backup.db"]
        var haystacks = files.map { ($0, R.fileBytes(pair.dir.path($0))) }
        haystacks.append(("replication traffic", capture.bytes))
        #expect(R.fileBytes(pair.dir.path("store-a.db-wal")).count > 0, "the WAL is searched while it holds frames")
        #expect(capture.bytes.count > 10_000, "the capture holds the replication traffic")
        for (what, bytes) in haystacks {
            for (label, needle) in needles {
                #expect(!R.contains(bytes, needle), "\(label) found in \(what)")
            }
        }
        // The search finds what is there (guards against a search that never matches).
        #expect(R.contains(capture.bytes, Array("store-a".utf8)))
        await pair.stop()
    }

    /// Client traffic as a network observer sees it: ENROLL requests (IIN and templates in
    /// the signed envelope) from a station to a store primary over mutual TLS, recorded
    /// by a TCP proxy between them. The envelopes hold the plaintext; the wire does not.
    @Test func clientTrafficOverMutualTLSCarriesNoPlaintext() async throws {
        let dir = TempDir()
        let ca = dir.path("ca"), nodes = dir.path("nodes")
        try DevelopmentPKI.initialize(directory: ca)
        for name in ["store-a", "station-1"] { try DevelopmentPKI.issue(name: name, caDirectory: ca, directory: nodes) }
        let keyring = try DevelopmentPKI.loadKeyring(directory: nodes)
        let store = try Store(path: dir.path("a.db"), master: R.master)
        let node = StoreNode(role: .primary(StorePrimary(store: store, caller: nil, standby: nil)))
        let service = SignedService(identity: try DevelopmentPKI.loadIdentity(name: "store-a", directory: nodes), keyring: keyring) {
            await node.handle(sender: $0, $1)
        }
        let serverTransport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "store-a", directory: nodes))
        let listener = try await serverTransport.listen(on: "tls+tcp://127.0.0.1:0", handler: service.requestHandler)
        let upstream = UInt16(listener.address.split(separator: ":").last!)!
        let recorder = try TCPRecorder(upstreamPort: upstream)
        let clientTransport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "station-1", directory: nodes),
                                           serverName: { _ in "store-a" })
        let station = try DevelopmentPKI.loadIdentity(name: "station-1", directory: nodes)
        let caller = SignedCaller(identity: station, keyring: keyring, transport: clientTransport)
        var needles: [[UInt8]] = []
        var envelopes: [UInt8] = []
        for s in 0..<3 {
            let request = EnrollRequest(iin: R.iin(s), record: R.enrollment(seed: UInt64(s)).record)
            envelopes += station.seal(.enroll(request), requestID: .random())
            let answer = try await caller.call(.enroll(request), to: "store-a", at: "tls+tcp://127.0.0.1:\(recorder.port)",
                                               deadline: .seconds(10))
            #expect(answer == .enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: .none)))
            needles.append(Array(R.iin(s).digits.utf8))
            let native = try TemplateCodec.encode(FingerprintRecord(views: [request.record.views[0]]), as: .native)
            needles.append(Array(native[(native.count / 2)..<(native.count / 2 + 24)]))
        }
        #expect(try store.personCount == 3)
        let wire = recorder.bytes
        #expect(wire.count > 3 * 2_000, "the proxy carried the requests")
        for needle in needles {
            #expect(R.contains(envelopes, needle), "the search finds the plaintext in an unencrypted envelope")
            #expect(!R.contains(wire, needle), "plaintext on the wire")
        }
        clientTransport.shutdown()
        recorder.stop()
        await listener.close()
    }

    /// Primary and standby over real nng with mutual TLS (DevelopmentPKI certificates,
    /// 127.0.0.1, ephemeral ports), then promotion of the standby over the same socket.
    @Test func replicationOverMutualTLS() async throws {
        let dir = TempDir()
        let ca = dir.path("ca"), nodes = dir.path("nodes")
        try DevelopmentPKI.initialize(directory: ca)
        for name in ["store-a", "store-b", "ops"] { try DevelopmentPKI.issue(name: name, caDirectory: ca, directory: nodes) }
        let keyring = try DevelopmentPKI.loadKeyring(directory: nodes)
        func transport(_ name: String) throws -> NNGTransport {
            NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: nodes), serverName: { _ in "store-b" })
        }
        func caller(_ name: String) throws -> SignedCaller {
            SignedCaller(identity: try DevelopmentPKI.loadIdentity(name: name, directory: nodes), keyring: keyring,
                         transport: try transport(name))
        }
        let standby = try StandbyNode(path: dir.path("b.db"), primaries: ["store-a"])
        let node = StoreNode(role: .standby(standby), promotion: .init(master: { R.master }), operators: ["ops"])
        let service = SignedService(identity: try DevelopmentPKI.loadIdentity(name: "store-b", directory: nodes), keyring: keyring) {
            await node.handle(sender: $0, $1)
        }
        let serverTransport = try transport("store-b")
        let listener = try await serverTransport.listen(on: "tls+tcp://127.0.0.1:0", handler: service.requestHandler)
        #expect(listener.address.hasPrefix("tls+tcp://127.0.0.1:") && !listener.address.hasSuffix(":0"))

        let store = try Store(path: dir.path("a.db"), master: R.master)
        let primaryCaller = try caller("store-a")
        let primary = StorePrimary(store: store, caller: primaryCaller,
                                   standby: StorePrimary.Peer(node: "store-b", address: listener.address))
        for s in 0..<5 {
            try await primary.enroll(PersonIdentity(fullName: R.name(s), iin: R.iin(s)), iin: R.iin(s),
                                     enrollment: R.enrollment(seed: UInt64(s)), consent: R.consent(), by: R.actor)
        }
        let head = try store.replicationLog.head()
        #expect(try standby.applier.position == ReplicationAck(seq: head.seq, hash: head.hash))

        let opsCaller = try caller("ops")
        let position = try await NetworkReplicationLink(caller: opsCaller, peer: "store-b", address: listener.address).promote()
        #expect(position.seq == head.seq)
        let status = try await NetworkReplicationLink(caller: opsCaller, peer: "store-b", address: listener.address).status()
        #expect(status.role == .primary && status.persons == 5)
        (primaryCaller.transport as? NNGTransport)?.shutdown()
        (opsCaller.transport as? NNGTransport)?.shutdown()
        await node.stop()
        await listener.close()
    }
}
