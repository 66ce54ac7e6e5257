import Foundation
import Synchronization
import TanbaAccess
import TanbaCluster
import TanbaCore
import Testing
import TanbaWire

/// The coordinator's access gate over real nng (mutual TLS on 127.0.0.1): a version-3
/// IDENTIFY with the requester is decided and answered, a refused one comes back as ERROR 17
/// and is logged; a login over the wire opens a session IDENTIFY then accepts.
@Suite(.serialized) struct AccessOverNNGTests {
    @Test func authorityRequestsAreDecidedOverMutualTLS() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-access-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        let names = ["coordinator", "station-1", "admin-1", "worker-1", "worker-2"]
        _ = try DevelopmentPKI.initialize(directory: pki + "/ca")
        for n in names { try DevelopmentPKI.issue(name: n, caDirectory: pki + "/ca", directory: pki + "/nodes") }
        let addressNames = Mutex<[String: String]>([:])
        let transports = Mutex<[String: NNGTransport]>([:])
        func transportOf(_ name: String) throws -> any Transport {
            if let t = transports.withLock({ $0[name] }) { return t }
            let t = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: pki + "/nodes"),
                                 serverName: { address in addressNames.withLock { $0[address] } })
            transports.withLock { $0[name] = t }
            return t
        }
        defer { for t in transports.withLock({ Array($0.values) }) { t.shutdown() } }
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        try accounts.account("bf-1", .bailiff)
        let investigator = try await accounts.session("inv-1"), bailiff = try await accounts.session("bf-1")
        var options = Coordinator.Options()
        options.access = accounts.coordinatorAccess
        let listen = "tls+tcp://127.0.0.1:0"
        let cluster = try await Cluster(transport: try transportOf("station-1"), workers: 2, shards: 2, address: { _ in listen },
                                        coordinatorAddress: listen, options: options,
                                        register: { name, address in addressNames.withLock { $0[address] = name } },
                                        transportFor: transportOf)
        defer { Task { await cluster.shutdown() } }
        #expect(try await cluster.enroll(6).outcome == .enrolled)
        let before = try cluster.coordinator.store.audit.entries().count
        let allowed = try await cluster.answer(.identify(IdentifyRequest(probe: People.probe(6), topK: 3, requester:
            accounts.requester(investigator, "inv-1", .investigatorPolice, .criminal, "261500031000117"))))
        guard case .identifyAnswer(let a) = allowed else { Issue.record("refused over nng: \(allowed)"); return }
        #expect(a.candidates.first?.iin == People.iin(6))
        let refused = try await cluster.answer(.identify(IdentifyRequest(probe: People.probe(6), topK: 3, requester:
            accounts.requester(bailiff, "bf-1", .bailiff, .criminal, "261500031000117"))))
        guard case .error(let code, let text) = refused else { Issue.record("a bailiff searched on a criminal case"); return }
        #expect(code == .accessDenied && text.hasPrefix("basis-kind-not-allowed"))
        let logged = try cluster.coordinator.store.audit.entries().dropFirst(before).map(\.entry)
        #expect(logged.map(\.actor) == ["inv-1", "bf-1"] && logged[0].result.hasPrefix("allowed")
                && logged[1].result.hasPrefix("refused: basis-kind-not-allowed"), "\(logged)")

        // Login over the same mutual-TLS connection (LOGIN_CHALLENGE, LOGIN): the session the
        // coordinator issues to station-1 is then accepted for IDENTIFY from station-1.
        try accounts.account("inv-w", .investigatorPolice)
        let (_, wire) = try await cluster.station.login(
            account: "inv-w", secondFactor: .totp(accounts.totps["inv-w"]!.code(at: accounts.clock.now)), acceptAgreement: true,
            sign: { Array(try accounts.keys["inv-w"]!.signature(for: $0).derRepresentation) },
            to: "coordinator", at: cluster.coordinatorAddress, deadline: .seconds(30))
        #expect(wire.agreementSigned && wire.role == "investigator-police")
        let viaWire = try await cluster.answer(.identify(IdentifyRequest(probe: People.probe(6), topK: 3, requester:
            accounts.requester(wire.session, "inv-w", .investigatorPolice, .criminal, "261500031000117"))))
        guard case .identifyAnswer(let w) = viaWire else { Issue.record("the wire-issued session was refused over nng: \(viaWire)"); return }
        #expect(w.candidates.first?.iin == People.iin(6))
        let tail = try cluster.coordinator.store.audit.entries().suffix(2).map(\.entry)
        #expect(tail.map(\.operation) == ["login", "identify"] && tail.allSatisfy { $0.actor == "inv-w" && $0.result.hasPrefix("allowed") },
                "\(tail)")
    }
}
