import Dispatch

/// Runs blocking or CPU-heavy work (gallery search, SQLite commits with fsync) on Dispatch's
/// global queue instead of Swift's cooperative pool. The pool has one thread per core; a
/// search or an fsync holding one of the two threads here would delay every other task —
/// including the continuations that complete nng requests — and turn into timeouts.
enum Offload {
    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in
            DispatchQueue.global(qos: .userInitiated).async { c.resume(returning: work()) }
        }
    }

    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            DispatchQueue.global(qos: .userInitiated).async { c.resume(with: Result { try work() }) }
        }
    }
}
