import Testing
@testable import TanbaWire

@Suite struct EmbeddedTransportTests {
    static let echo: RequestHandler = { $0 + [0xEE] }

    @Test func deliversRequestsToTheListener() async throws {
        let net = EmbeddedTransport()
        let listener = try await net.listen(on: "worker-1", handler: Self.echo)
        #expect(try await net.request([1], to: "worker-1", deadline: .seconds(1)) == [1, 0xEE])
        #expect(net.events == [.init(address: "worker-1", outcome: .answered, elapsed: .zero, handled: true)])
        await listener.close()
        await #expect(throws: WireError.connectionRefused(address: "worker-1")) {
            _ = try await net.request([1], to: "worker-1", deadline: .seconds(1))
        }
    }

    @Test func addressInUse() async throws {
        let net = EmbeddedTransport()
        _ = try await net.listen(on: "a", handler: Self.echo)
        await #expect(throws: WireError.addressInUse(address: "a")) { _ = try await net.listen(on: "a", handler: Self.echo) }
    }

    @Test func deadPeerIsRefusedAndRecovers() async throws {
        let net = EmbeddedTransport()
        _ = try await net.listen(on: "w", handler: Self.echo)
        net.setFault(.dead, for: "w")
        await #expect(throws: WireError.connectionRefused(address: "w")) { _ = try await net.request([1], to: "w", deadline: .seconds(1)) }
        net.setFault(nil, for: "w")
        #expect(try await net.request([2], to: "w", deadline: .seconds(1)) == [2, 0xEE])
    }

    @Test func droppedRequestTimesOutWithoutReachingTheHandler() async throws {
        let net = EmbeddedTransport()
        let calls = Counter()
        _ = try await net.listen(on: "w") { calls.increment(); return $0 }
        net.injectOnce(.dropRequest, for: "w")
        await #expect(throws: WireError.timedOut) { _ = try await net.request([1], to: "w", deadline: .milliseconds(250)) }
        #expect(calls.value == 0)
        #expect(net.events.last == .init(address: "w", outcome: .timedOut, elapsed: .milliseconds(250), handled: false))
        // One-shot: the next request goes through.
        #expect(try await net.request([3], to: "w", deadline: .seconds(1)) == [3])
    }

    @Test func droppedAnswerRunsTheHandlerButTimesOut() async throws {
        let net = EmbeddedTransport()
        let calls = Counter()
        _ = try await net.listen(on: "w") { calls.increment(); return $0 }
        net.injectOnce(.dropAnswer, for: "w")
        await #expect(throws: WireError.timedOut) { _ = try await net.request([1], to: "w", deadline: .seconds(1)) }
        #expect(calls.value == 1)
    }

    @Test func delayBeyondTheDeadlineIsATimeoutWithinItAnAnswer() async throws {
        let net = EmbeddedTransport()
        _ = try await net.listen(on: "w", handler: Self.echo)
        net.setFault(.delay(.milliseconds(300)), for: "w")
        await #expect(throws: WireError.timedOut) { _ = try await net.request([1], to: "w", deadline: .milliseconds(200)) }
        #expect(try await net.request([1], to: "w", deadline: .milliseconds(400)) == [1, 0xEE])
        #expect(net.events.map(\.elapsed) == [.milliseconds(200), .milliseconds(300)])
    }

    @Test func sizeLimitsMirrorNNG() async throws {
        let net = EmbeddedTransport(maximumMessageSize: 10)
        _ = try await net.listen(on: "w") { _ in [UInt8](repeating: 0, count: 11) }
        await #expect(throws: WireError.messageTooLarge(size: 11, limit: 10)) {
            _ = try await net.request([UInt8](repeating: 0, count: 11), to: "w", deadline: .seconds(1))
        }
        // An oversize answer is dropped like nng drops it.
        await #expect(throws: WireError.timedOut) { _ = try await net.request([1], to: "w", deadline: .seconds(1)) }
    }

    /// Scatter-gather over three shards with one dead and one slow: the caller sees exactly
    /// which shards answered, deterministically, without waiting.
    @Test func scatterGatherSeesEveryMissingShard() async throws {
        let net = EmbeddedTransport()
        for shard in 0..<3 { _ = try await net.listen(on: "shard-\(shard)") { _ in [UInt8(shard)] } }
        net.setFault(.dead, for: "shard-1")
        net.setFault(.delay(.seconds(2)), for: "shard-2")
        var answered: [Int] = [], missing: [Int] = []
        for shard in 0..<3 {
            do {
                let a = try await net.request([0], to: "shard-\(shard)", deadline: .milliseconds(500))
                answered.append(Int(a[0]))
            } catch {
                missing.append(shard)
            }
        }
        #expect(answered == [0])
        #expect(missing == [1, 2])
    }
}
