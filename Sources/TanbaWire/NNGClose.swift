import CNNG
import Foundation
import Synchronization

/// `nng_close` with a bound, off Swift's cooperative pool.
///
/// Why: nng 1.5.2 can wedge its single reaper thread when a connection is closed while a
/// message is being read from it (the TCP/TLS transport issues the message body read on
/// a receive the close has already stopped; that read never completes, and the reaper
/// waits for it forever — docs/operations.md, "nng 1.5.2 close race"). From then on every
/// `nng_close` of a socket with connections blocks for good. `NNGServer` orders its close
/// so that no read is in progress, but a peer can still send at the wrong instant, and a
/// client cannot stop late answers. A blocked `nng_close` on one of the two cooperative
/// threads would stall the whole process (and hang CI), so the close runs on its own
/// thread and the caller waits at most `limit`. When nng does not return, the error is
/// written to standard error and counted in `NNGHealth`, the thread is left behind, and
/// the caller goes on: the process can still serve, but nng can no longer release
/// connections, so it should be restarted.
enum NNGClose {
    /// How long a caller waits for `nng_close` (a healthy close takes well under 100 ms,
    /// even with drained requests; the drain happens before this).
    static var limit: Duration { .milliseconds(limitMilliseconds.load(ordering: .relaxed)) }
    static let limitMilliseconds = Atomic<Int>(10_000)
    /// Time given, after a server's receives are cancelled, to a request that was already
    /// arriving: it is read to the end before the connections close.
    static let settle: Duration = .milliseconds(100)

    /// Starts the close on its own thread; the returned box reports completion.
    @discardableResult
    static func start(_ socket: nng_socket, what: String) -> Completion {
        start(what: what) { nng_close(socket) }
    }

    /// Runs `body` (a blocking close) on its own thread; tests pass a stand-in.
    @discardableResult
    static func start(what: String, _ body: @escaping @Sendable () -> Void) -> Completion {
        let done = Completion()
        let thread = Thread {
            body()
            done.finish()
        }
        thread.name = "tanba:nng-close"
        thread.start()
        // Reports a wedged close even when nobody waits for it (deinit).
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(limitMilliseconds.load(ordering: .relaxed))) {
            if !done.isFinished { report(what, done) }
        }
        return done
    }

    /// Closes `socket`, waiting at most `limit`. Returns whether nng returned in time.
    @discardableResult
    static func close(_ socket: nng_socket, what: String) async -> Bool {
        await close(what: what) { nng_close(socket) }
    }

    @discardableResult
    static func close(what: String, _ body: @escaping @Sendable () -> Void) async -> Bool {
        let done = start(what: what, body)
        let finished = await done.wait(upTo: limit)
        if !finished { report(what, done) }
        return finished
    }

    /// The same for synchronous callers (`NNGClient.close`): blocks this thread at most `limit`.
    @discardableResult
    static func closeBlocking(_ socket: nng_socket, what: String) -> Bool {
        let done = start(socket, what: what)
        let finished = done.waitBlocking(upTo: limit)
        if !finished { report(what, done) }
        return finished
    }

    private static func report(_ what: String, _ done: Completion) {
        // Once per close, however many paths notice it.
        guard done.markReported() else { return }
        NNGHealth.wedged.add(1, ordering: .relaxed)
        let message = "tanba: ERROR nng_close(\(what)) has not returned after \(limit): nng 1.5.2's reaper is "
            + "wedged (connection closed while a message was being read; docs/operations.md, \"nng 1.5.2 close "
            + "race\"). This process can no longer release nng connections: restart it.\n"
        FileHandle.standardError.write(Data(message.utf8))
    }

    /// Completion of one close, awaited by at most one async waiter or blocking waiters.
    final class Completion: Sendable {
        private struct State {
            var finished = false
            var reported = false
            var waiter: CheckedContinuation<Bool, Never>?
        }
        private let state = Mutex(State())
        private let semaphore = DispatchSemaphore(value: 0)

        var isFinished: Bool { state.withLock { $0.finished } }

        func finish() {
            let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                s.finished = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(returning: true)
            semaphore.signal()
        }

        /// True the first time only.
        func markReported() -> Bool {
            state.withLock { s in defer { s.reported = true }; return !s.reported }
        }

        /// Exactly one resume: whichever of completion and timeout comes first takes the
        /// continuation out of the state under the lock.
        func wait(upTo limit: Duration) async -> Bool {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let already = state.withLock { s -> Bool in
                    if s.finished { return true }
                    s.waiter = c
                    return false
                }
                if already { c.resume(returning: true); return }
                let ms = Int(limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000)
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) { [self] in
                    let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                        defer { s.waiter = nil }
                        return s.waiter
                    }
                    waiter?.resume(returning: false)
                }
            }
        }

        func waitBlocking(upTo limit: Duration) -> Bool {
            let ms = Int(limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000)
            if semaphore.wait(timeout: .now() + .milliseconds(ms)) == .success {
                semaphore.signal() // leave it signalled for any other waiter
                return true
            }
            return isFinished
        }
    }
}

/// Process-wide health of the nng layer, for status endpoints and tests.
public enum NNGHealth {
    static let wedged = Atomic<Int>(0)
    /// Socket closes that did not return within the bound (see `NNGClose`). Anything but 0
    /// means nng's reaper is stuck: the process keeps serving, but should be restarted.
    public static var wedgedCloses: Int { wedged.load(ordering: .relaxed) }
}
