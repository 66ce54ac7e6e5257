import CNNG

/// One asynchronous nng operation bridged to async/await.
///
/// Why the shape: nng completes an aio by calling a C function on one of its own threads.
/// That function must not be a closure from an isolated context (Swift 6 traps when a
/// MainActor closure runs on a foreign thread, see PLATFORM_NOTES), so the callback is the
/// free function `tanbaAIOCompleted`. It only resumes the continuation; the aio is freed
/// later in `deinit`, on the awaiting task's thread, because nng_aio_free waits for the
/// callback to return and must never be called from inside it.
final class AIOOperation: @unchecked Sendable {
    let aio: OpaquePointer
    private let completion: AIOCompletion

    init() throws(WireError) {
        let completion = AIOCompletion()
        var pointer: OpaquePointer?
        // The box outlives the aio (we hold it until deinit frees the aio), so passing it
        // unretained is safe.
        let rv = nng_aio_alloc(&pointer, tanbaAIOCompleted, Unmanaged.passUnretained(completion).toOpaque())
        guard rv == 0, let pointer else { throw WireError.from(nng: rv) }
        completion.aio = pointer
        self.completion = completion
        aio = pointer
    }

    deinit { nng_aio_free(aio) }

    /// Starts the operation with `start` and waits for its completion code (0 = success).
    /// `timeoutMilliseconds` < 0 waits forever. Cancelling the task cancels the aio, which
    /// then completes with NNG_ECANCELED.
    func run(timeoutMilliseconds: Int32, _ start: (OpaquePointer) -> Void) async -> Int32 {
        nng_aio_set_timeout(aio, timeoutMilliseconds < 0 ? NNG_DURATION_INFINITE : timeoutMilliseconds)
        let aio = self.aio
        let completion = self.completion
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
                // Stored before the operation starts, so the callback always finds it.
                completion.continuation = c
                start(aio)
                // A task cancelled before the operation started ran `onCancel` while the aio
                // was idle, where nng_aio_cancel does nothing; cancel again now that it is
                // in flight (harmless if it already completed: the aio lives until deinit).
                if Task.isCancelled { completion.cancel() }
            }
        } onCancel: {
            // Runs only while the operation is pending, never after `run` returned, so the
            // aio is still allocated.
            completion.cancel()
        }
    }
}

/// What the C callback reaches through its argument pointer.
final class AIOCompletion: @unchecked Sendable {
    // Written before each operation starts and taken exactly once by the callback; nng's
    // start/complete ordering makes a lock unnecessary.
    var aio: OpaquePointer?
    var continuation: CheckedContinuation<Int32, Never>?

    func cancel() {
        if let aio { nng_aio_cancel(aio) }
    }

    func complete() {
        let c = continuation
        continuation = nil
        c?.resume(returning: aio.map { nng_aio_result($0) } ?? Int32(NNG_EINTERNAL.rawValue))
    }
}

/// The C callback for every aio. A free function: nonisolated, no captures.
private func tanbaAIOCompleted(_ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    Unmanaged<AIOCompletion>.fromOpaque(argument).takeUnretainedValue().complete()
}

// MARK: Messages

enum NNGMessage {
    /// Copies `bytes` into a fresh nng message.
    static func make(_ bytes: [UInt8]) throws(WireError) -> OpaquePointer {
        var msg: OpaquePointer?
        let rv = nng_msg_alloc(&msg, bytes.count)
        guard rv == 0, let msg else { throw WireError.from(nng: rv) }
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { src in
                nng_msg_body(msg)!.copyMemory(from: src.baseAddress!, byteCount: src.count)
            }
        }
        return msg
    }

    /// Copies out the body and frees the message.
    static func take(_ msg: OpaquePointer) -> [UInt8] {
        defer { nng_msg_free(msg) }
        let count = nng_msg_len(msg)
        guard count > 0, let body = nng_msg_body(msg) else { return [] }
        return Array(UnsafeRawBufferPointer(start: body, count: count))
    }

    /// Sends `bytes` on a context. nng takes the message only on success; on failure it is
    /// still ours and freed here (PLATFORM_NOTES: nng_sendmsg ownership).
    static func send(_ bytes: [UInt8], on ctx: nng_ctx, timeoutMilliseconds: Int32) async throws(WireError) {
        let msg = try make(bytes)
        let op = try AIOOperation()
        let rv = await op.run(timeoutMilliseconds: timeoutMilliseconds) { aio in
            nng_aio_set_msg(aio, msg)
            nng_ctx_send(ctx, aio)
        }
        if rv != 0 {
            nng_msg_free(msg)
            throw WireError.from(nng: rv)
        }
    }

    /// Receives one message on a context.
    static func receive(on ctx: nng_ctx, timeoutMilliseconds: Int32) async throws(WireError) -> [UInt8] {
        let op = try AIOOperation()
        let rv = await op.run(timeoutMilliseconds: timeoutMilliseconds) { aio in nng_ctx_recv(ctx, aio) }
        guard rv == 0, let msg = nng_aio_get_msg(op.aio) else { throw WireError.from(nng: rv) }
        return take(msg)
    }
}
