import Foundation
import Synchronization
import Testing
@testable import TanbaWire

/// The nng 1.5.2 close race (docs/operations.md): closing a connection while a message is
/// being read from it wedged nng's reaper, and the next `nng_close` never returned — the
/// test suite hung in `NNGServer.close` after the cancellation tests. Every test here
/// runs under its own watchdog, so a regression fails instead of hanging the run.
@Suite(.serialized) struct NNGCloseTests {
    /// Runs `body` and fails (instead of hanging) when it has not finished after `limit`.
    /// The body runs in an unstructured task: a stuck body is reported and left behind.
    static func withWatchdog(_ limit: Duration, _ what: String,
                             _ body: @escaping @Sendable () async throws -> Void) async {
        let finished = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let once = Once(c)
            Task { do { try await body() } catch { Issue.record(error) }; once.resume(true) }
            let ms = Int(limit.components.seconds * 1000)
            // A Dispatch timer, not Task.sleep: a body blocked on cooperative threads must
            // not be able to starve its own watchdog.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) { once.resume(false) }
        }
        #expect(finished, "\(what) did not finish within \(limit): nng close path hung")
    }

    static var iterations: Int {
        Int(ProcessInfo.processInfo.environment["TANBA_NNG_CLOSE_ITERATIONS"] ?? "") ?? 40
    }

    @Test func closingAServerWhileRequestsAreArrivingAlwaysReturns() async {
        // Before the fix: the server closed its socket while requests were still being
        // read; under CPU load one in a few dozen closes left nng's reaper waiting forever
        // and `nng_close` never returned.
        let wedgedBefore = NNGHealth.wedgedCloses
        await Self.withWatchdog(.seconds(180), "\(Self.iterations) server closes with requests in flight") {
            for _ in 0..<Self.iterations {
                let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", concurrency: 2) { request in
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
                    return request
                }
                let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
                let requests = (0..<3).map { i in
                    Task { try? await client.request([UInt8(i)], deadline: .milliseconds(400)) }
                }
                if Bool.random() { try? await Task.sleep(for: .milliseconds(Int.random(in: 0...2))) }
                await server.close(drainTimeout: .milliseconds(Int.random(in: 0...5)))
                for request in requests { _ = await request.value }
                // Every answer has arrived or its request has expired: nothing is in flight
                // to the client when it closes.
                client.close()
            }
        }
        #expect(NNGHealth.wedgedCloses == wedgedBefore, "an nng_close did not return in time")
    }

    @Test func aCloseThatDoesNotReturnIsBoundedAndReported() async {
        // Stand-in for a wedged nng_close: the caller gets control back after the limit,
        // the wedge is counted, and the blocked thread is left behind.
        let saved = NNGClose.limitMilliseconds.load(ordering: .relaxed)
        NNGClose.limitMilliseconds.store(200, ordering: .relaxed)
        defer { NNGClose.limitMilliseconds.store(saved, ordering: .relaxed) }
        let wedgedBefore = NNGHealth.wedgedCloses
        let release = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        let returned = await NNGClose.close(what: "stand-in") { release.wait() }
        #expect(!returned)
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(NNGHealth.wedgedCloses == wedgedBefore + 1)
        release.signal()
        // A close that returns in time is not counted.
        #expect(await NNGClose.close(what: "quick") {})
        #expect(NNGHealth.wedgedCloses == wedgedBefore + 1)
    }

    @Test func aServerDroppedWithoutCloseReleasesItsPort() async throws {
        // deinit closes on its own thread (receives cancelled, settle, nng_close): the
        // port is released soon after, without anyone waiting for it.
        var port = 0
        do {
            let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", handler: { $0 })
            port = server.port
            let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(port)")
            #expect(try await client.request([7], deadline: .seconds(5)) == [7])
            client.close()
        }
        let end = ContinuousClock.now + .seconds(10)
        var refused = false
        while !refused, ContinuousClock.now < end {
            do { _ = try NNGClient(connectingTo: "tcp://127.0.0.1:\(port)").close() } catch { refused = true }
            if !refused { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(refused, "port \(port) still accepts connections after the server was dropped")
    }

    @Test func cancelledRequestsThenCloseAlwaysReturn() async {
        // The cancellation tests' pattern, repeated: a request cancelled before or while it
        // runs, then client and server closed.
        let wedgedBefore = NNGHealth.wedgedCloses
        await Self.withWatchdog(.seconds(180), "cancel-then-close loop") {
            for _ in 0..<Self.iterations {
                let server = try NNGServer(listeningOn: "tcp://127.0.0.1:0", concurrency: 2) { request in
                    try? await Task.sleep(for: .milliseconds(30))
                    return request
                }
                let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)")
                let task = Task { try await client.request([1], deadline: .seconds(5)) }
                if Bool.random() { try? await Task.sleep(for: .milliseconds(Int.random(in: 0...3))) }
                task.cancel()
                _ = await task.result
                // The cancelled request's answer may still come: the server is closed
                // (draining it) before the client, so nothing is arriving when it closes.
                await server.close(drainTimeout: .seconds(2))
                client.close()
            }
        }
        #expect(NNGHealth.wedgedCloses == wedgedBefore, "an nng_close did not return in time")
    }
}

/// Resumes a continuation exactly once, whoever comes first.
final class Once: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>
    init(_ c: CheckedContinuation<Bool, Never>) { continuation = Mutex(c) }
    func resume(_ value: Bool) {
        let c = continuation.withLock { c -> CheckedContinuation<Bool, Never>? in defer { c = nil }; return c }
        c?.resume(returning: value)
    }
}
