import Foundation
import TanbaTestSupport
import Testing
@testable import TanbaWire

/// The signed request/answer path over both transports: rejected inputs get a typed ERROR
/// answer and the node keeps serving; a retried request ID never runs twice.
@Suite(.serialized) struct SignedServiceTests {
    static let now: Int64 = 1_800_000_000_000
    let coordinator = WireFixtures.identity("coordinator", seed: 10)
    let station = WireFixtures.identity("station-1", seed: 11)
    let stranger = WireFixtures.identity("station-x", seed: 12)

    var keyring: Keyring {
        var k = Keyring(windowMilliseconds: 30_000)
        try! k.trust("coordinator", key: coordinator.publicKey)
        try! k.trust("station-1", key: station.publicKey)
        return k
    }

    /// A service that counts enrollments and answers PING.
    func makeService(enrollments: Counter) -> SignedService {
        SignedService(identity: coordinator, keyring: keyring, clock: { Self.now }) { sender, request in
            switch request {
            case .enroll:
                enrollments.increment()
                return .enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: ShardCoverage(contributed: [0])))
            case .ping(let nonce):
                return .pong(nonce: nonce, uptimeMilliseconds: 1)
            default:
                return .error(code: .unsupported, message: "not here")
            }
        }
    }

    func answer(_ bytes: [UInt8]) throws -> WireMessage {
        try keyring.open(bytes, now: Self.now).message()
    }

    @Test func rejectedInputsGetTypedErrorsAndTheNodeKeepsServing() async throws {
        let service = makeService(enrollments: Counter())
        let inputs: [(String, [UInt8], WireErrorCode)] = [
            ("garbage", Array("GET / HTTP/1.1\r\n\r\n".utf8), .malformed),
            ("empty", [], .malformed),
            ("truncated", Array(station.seal(.ping(nonce: 1), requestID: .random(), timestamp: Self.now).dropLast(10)), .malformed),
            ("oversized", [UInt8](repeating: 0x54, count: WireLimits.maximumMessage + 1), .tooLarge),
            ("unknown signer", stranger.seal(.ping(nonce: 1), requestID: .random(), timestamp: Self.now), .unauthenticated),
            ("unsigned", Envelope(type: .ping, requestID: .random(), sender: "station-1", timestamp: Self.now,
                                  payload: WireMessage.ping(nonce: 1).encodedBody(),
                                  signature: [UInt8](repeating: 0, count: 64)).encoded(), .unauthenticated),
            ("stale", station.seal(.ping(nonce: 1), requestID: .random(), timestamp: Self.now - 60_000), .stale),
            ("answer as request", station.seal(.pong(nonce: 1, uptimeMilliseconds: 1), requestID: .random(), timestamp: Self.now), .unsupported),
            ("bad body", {
                var e = Envelope(type: .enroll, requestID: .random(), sender: "station-1", timestamp: Self.now, payload: [1, 2, 3])
                e.signature = Array(try! station.signingKey.signature(for: e.signedBytes()))
                return e.encoded()
            }(), .malformed),
        ]
        for (label, bytes, expected) in inputs {
            let reply = try answer(await service.handle(bytes))
            guard case .error(let code, let text) = reply else { Issue.record("\(label): got \(reply)"); continue }
            #expect(code == expected, "\(label): \(text)")
            #expect(!text.isEmpty)
        }
        // Still serving.
        let id = RequestID.random()
        let pong = try answer(await service.handle(station.seal(.ping(nonce: 42), requestID: id, timestamp: Self.now)))
        #expect(pong == .pong(nonce: 42, uptimeMilliseconds: 1))
    }

    @Test func lostAnswerThenRetryEnrollsOnceAndReturnsTheFirstAnswer() async throws {
        let net = EmbeddedTransport()
        let enrollments = Counter()
        _ = try await net.listen(on: "coordinator", handler: makeService(enrollments: enrollments).requestHandler)
        let caller = SignedCaller(identity: station, keyring: keyring, transport: net, clock: { Self.now })
        let enroll = WireMessage.enroll(EnrollRequest(iin: WireFixtures.iin(1), record: WireFixtures.record(fingers: [.rightThumb])))
        let id = RequestID.random()
        net.injectOnce(.dropAnswer, for: "coordinator")
        await #expect(throws: SignedCaller.CallError.transport(.timedOut)) {
            _ = try await caller.call(enroll, to: "coordinator", at: "coordinator", deadline: .seconds(1), requestID: id)
        }
        let retried = try await caller.call(enroll, to: "coordinator", at: "coordinator", deadline: .seconds(1), requestID: id)
        #expect(retried == .enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: ShardCoverage(contributed: [0]))))
        #expect(enrollments.value == 1)
        // Reusing the ID for a different request is refused, not answered from the cache.
        let other = WireMessage.enroll(EnrollRequest(iin: WireFixtures.iin(2), record: WireFixtures.record(fingers: [.rightThumb])))
        do {
            _ = try await caller.call(other, to: "coordinator", at: "coordinator", deadline: .seconds(1), requestID: id)
            Issue.record("a reused request ID was accepted")
        } catch .remote(let code, _) {
            #expect(code == .requestIDReused)
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(enrollments.value == 1)
    }

    @Test func answerFromTheWrongNodeIsRejectedByTheCaller() async throws {
        let net = EmbeddedTransport()
        // A node that signs with a key the caller trusts, but it is not the node asked.
        let impersonator = SignedService(identity: station, keyring: keyring, clock: { Self.now }) { _, _ in .pendingJobsAnswer(count: 0) }
        _ = try await net.listen(on: "tcp://coordinator", handler: impersonator.requestHandler)
        let caller = SignedCaller(identity: station, keyring: keyring, transport: net, clock: { Self.now })
        await #expect(throws: SignedCaller.CallError.unauthenticAnswer(.unexpectedSender(expected: "coordinator", found: "station-1"))) {
            _ = try await caller.call(.pendingJobs, to: "coordinator", at: "tcp://coordinator", deadline: .seconds(1))
        }
    }

    /// Over real nng: random garbage and unsigned frames get ERROR answers, and the same
    /// socket keeps answering signed requests afterwards.
    @Test func garbageOverNNGIsAnsweredWithErrorsAndServiceContinues() async throws {
        let service = makeService(enrollments: Counter())
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", handler: service.requestHandler)
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        var rng = SplitMix64(seed: 3)
        for i in 0..<50 {
            let junk = i == 0 ? [] : rng.bytes(1 + Int(rng.next() % 2000))
            let reply = try answer(await client.request(junk, deadline: .seconds(5)))
            guard case .error(let code, _) = reply else { Issue.record("junk accepted: \(reply)"); continue }
            #expect(code == .malformed)
        }
        let pong = try answer(await client.request(station.seal(.ping(nonce: 7), requestID: .random(), timestamp: Self.now),
                                                   deadline: .seconds(5)))
        #expect(pong == .pong(nonce: 7, uptimeMilliseconds: 1))
        client.close()
        await server.close()
    }

    /// End to end over real sockets: `tanba pki` files, mutual TLS, signed envelopes.
    @Test func signedPingOverMutualTLSWithPKIFiles() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let caDir = root + "/ca", nodes = root + "/nodes"
        try DevelopmentPKI.initialize(directory: caDir)
        try DevelopmentPKI.issue(name: "coordinator", caDirectory: caDir, directory: nodes)
        try DevelopmentPKI.issue(name: "station-1", caDirectory: caDir, directory: nodes)

        // Private keys are 0600, certificates and public keys readable.
        for (file, mode) in [("ca/ca.key", 0o600), ("ca/ca.crt", 0o644), ("nodes/coordinator.key", 0o600),
                             ("nodes/coordinator.sign.key", 0o600), ("nodes/coordinator.sign.pub", 0o644),
                             ("nodes/station-1.crt", 0o644)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + file)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(file)")
        }
        #expect(throws: (any Error).self) { try DevelopmentPKI.initialize(directory: caDir) }   // never overwrite a CA

        let keyring = try DevelopmentPKI.loadKeyring(directory: nodes)
        #expect(Set(keyring.keys.keys) == ["coordinator", "station-1"])
        let serverIdentity = try DevelopmentPKI.loadIdentity(name: "coordinator", directory: nodes)
        let stationIdentity = try DevelopmentPKI.loadIdentity(name: "station-1", directory: nodes)

        let service = SignedService(identity: serverIdentity, keyring: keyring) { sender, request in
            guard case .ping(let nonce) = request else { return .error(code: .unsupported, message: "") }
            return .pong(nonce: nonce &+ UInt64(sender.count), uptimeMilliseconds: 0)
        }
        let serverTransport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "coordinator", directory: nodes))
        let listener = try await serverTransport.listen(on: "tls+tcp://127.0.0.1:0", handler: service.requestHandler)
        let clientTransport = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: "station-1", directory: nodes),
                                           serverName: { _ in "coordinator" })
        let caller = SignedCaller(identity: stationIdentity, keyring: keyring, transport: clientTransport)
        // The non-blocking dial may need a moment to connect; the deadline covers it.
        let answer = try await caller.call(.ping(nonce: 100), to: "coordinator", at: listener.address, deadline: .seconds(5))
        #expect(answer == .pong(nonce: 109, uptimeMilliseconds: 0))
        clientTransport.shutdown()
        await listener.close()
    }
}
