import Foundation
import Testing
@testable import TanbaWire

/// Real nng sockets on 127.0.0.1 with ephemeral ports (nng reports the bound port).
@Suite(.serialized) struct NNGTransportTests {
    static let echo: RequestHandler = { request in Array("echo:".utf8) + request }

    @Test func requestReplyOverTCPWithEphemeralPort() async throws {
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", handler: Self.echo)
        #expect(server.port > 0)
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        let answer = try await client.request(Array("hello".utf8), deadline: .seconds(5))
        #expect(String(decoding: answer, as: UTF8.self) == "echo:hello")
        client.close()
        await server.close()
    }

    @Test func manyConcurrentRequestsEachGetTheirOwnAnswer() async throws {
        // Contexts let requests overlap on one socket; each answer must go to its caller.
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", concurrency: 4) { request in
            try? await Task.sleep(for: .milliseconds(Int(request[0]) % 7))
            return request.reversed()
        }
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    let request: [UInt8] = [UInt8(i), 1, 2, 3]
                    let answer = try await client.request(request, deadline: .seconds(10))
                    #expect(answer == request.reversed())
                }
            }
            try await group.waitForAll()
        }
        client.close()
        await server.close()
    }

    @Test func deadlineExpiresWithTimedOut() async throws {
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0") { request in
            try? await Task.sleep(for: .milliseconds(1200))
            return request
        }
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        let start = ContinuousClock.now
        await #expect(throws: WireError.timedOut) {
            _ = try await client.request([1], deadline: .milliseconds(150))
        }
        let elapsed = ContinuousClock.now - start
        // The handler would answer at 1.2 s, so .timedOut already shows the deadline won; the
        // lower bound shows the deadline was honoured rather than failing early.
        #expect(elapsed >= .milliseconds(140))
        await server.close()
        client.close()
    }

    @Test func dialingAClosedPortIsConnectionRefused() async throws {
        // Bind then close to find a port nobody listens on.
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", handler: Self.echo)
        let port = server.port
        await server.close()
        #expect(throws: WireError.connectionRefused(address: "tcp://127.0.0.1:\(port)")) {
            _ = try NNGClient(connectingTo: "tcp://127.0.0.1:\(port)")
        }
    }

    @Test func oversizedRequestIsRefusedBeforeSending() async throws {
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", handler: Self.echo)
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)", maximumMessageSize: 1000)
        await #expect(throws: WireError.messageTooLarge(size: 1001, limit: 1000)) {
            _ = try await client.request([UInt8](repeating: 7, count: 1001), deadline: .seconds(1))
        }
        client.close()
        await server.close()
    }

    @Test func serverReceiveLimitDropsOversizedMessagesAndKeepsServing() async throws {
        // RECVMAXSZ set to 1 KiB on the server: a 4 KiB request never reaches the handler
        // (nng drops it and closes that connection), the sender fails — at once with
        // "connection reset" since REQ sockets have no resend timer, or by its deadline — and
        // later small requests are still answered.
        let calls = Counter()
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", maximumMessageSize: 1024) { request in
            calls.increment()
            return request
        }
        let big = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        await #expect(throws: WireError.self) {
            _ = try await big.request([UInt8](repeating: 1, count: 4096), deadline: .milliseconds(300))
        }
        #expect(calls.value == 0)
        let small = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        #expect(try await small.request([9, 9], deadline: .seconds(5)) == [9, 9])
        #expect(calls.value == 1)
        big.close(); small.close()
        await server.close()
    }

    @Test func gracefulCloseLetsARequestInProgressAnswer() async throws {
        let started = Counter()
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0") { request in
            started.increment()
            try? await Task.sleep(for: .milliseconds(200))
            return request + [42]
        }
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        let pending = Task { try await client.request([1], deadline: .seconds(5)) }
        while started.value == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await server.close()
        #expect(try await pending.value == [1, 42])
        // After close nothing listens any more: the request fails, by timing out or — when
        // the dying connection's reset reaches the REQ socket first (no resend timer) — at once.
        await #expect(throws: WireError.self) {
            _ = try await client.request([2], deadline: .milliseconds(200))
        }
        client.close()
    }

    @Test func requestOnClosedClientFailsWithClosed() async throws {
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", handler: Self.echo)
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        client.close()
        await #expect(throws: WireError.closed) { _ = try await client.request([1], deadline: .seconds(1)) }
        await server.close()
    }

    @Test func invalidAddressesAreTyped() {
        #expect(throws: WireError.invalidAddress("udp://1.2.3.4:5")) {
            _ = try NNGServer(listeningOn: "udp://1.2.3.4:5", handler: Self.echo)
        }
    }

    @Test func transportProtocolOverNNGReportsTheBoundAddress() async throws {
        let transport = NNGTransport()
        let listener = try await transport.listen(on: "tcp://127.0.0.1:0", handler: Self.echo)
        #expect(!listener.address.hasSuffix(":0"))
        let answer = try await transport.request([5], to: listener.address, deadline: .seconds(5))
        #expect(answer == Array("echo:".utf8) + [5])
        transport.shutdown()
        await listener.close()
    }
}

/// A thread-safe counter for handlers.
final class Counter: Sendable {
    private let lock = NSLock()
    nonisolated(unsafe) private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

@Suite(.serialized) struct NNGCancellationTests {
    @Test func aTaskCancelledBeforeItsRequestStartsIsCancelledToo() async throws {
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0") { request in
            try? await Task.sleep(for: .milliseconds(700))
            return request
        }
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        let start = ContinuousClock.now
        let task = Task {
            // Returns as soon as the task is cancelled; the request then starts cancelled.
            try? await Task.sleep(for: .seconds(30))
            return try await client.request([1], deadline: .seconds(10))
        }
        task.cancel()
        let result = await task.result
        #expect(throws: WireError.cancelled) { try result.get() }
        #expect(ContinuousClock.now - start < .seconds(5))
        // Server first: its drain lets the late answer reach a client that is still open.
        // Closing the client while that answer arrives is what nng 1.5.2 cannot do safely
        // (NNGCloseTests, docs/operations.md).
        await server.close(drainTimeout: .seconds(3))
        client.close()
    }

    @Test func cancellingTheCallingTaskAbortsTheRequest() async throws {
        let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0") { request in
            try? await Task.sleep(for: .milliseconds(700))
            return request
        }
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
        let start = ContinuousClock.now
        let task = Task { try await client.request([1], deadline: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let result = await task.result
        #expect(throws: WireError.cancelled) { try result.get() }
        // Well before the 10 s deadline (and, since .cancelled, before the 0.7 s answer).
        #expect(ContinuousClock.now - start < .seconds(5))
        // Server first: its drain lets the late answer reach a client that is still open.
        // Closing the client while that answer arrives is what nng 1.5.2 cannot do safely
        // (NNGCloseTests, docs/operations.md).
        await server.close(drainTimeout: .seconds(3))
        client.close()
    }
}
