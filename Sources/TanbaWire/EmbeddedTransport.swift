import Synchronization

/// An in-memory `Transport` for tests of cluster logic: deterministic, no sockets, no
/// sleeps (in the spirit of SwiftNIO's NIOEmbedded).
///
/// A request calls the listener's handler directly in the requesting task. Time is virtual:
/// each request's outcome is decided from the faults injected for its address and its
/// deadline, and recorded in `events` with the virtual time it would have taken, so a test
/// can assert "shard 3 timed out after its 200 ms deadline" without waiting 200 ms.
///
/// Faults mirror what nng shows the caller:
/// - no listener, or `.dead`: `.connectionRefused` at once (a crashed process, RST);
/// - `.dropRequest`: the peer never sees the request; `.timedOut` at the deadline;
/// - `.dropAnswer`: the handler runs (its side effects happen!) but the answer is lost;
///   `.timedOut` at the deadline — the case request-ID de-duplication exists for;
/// - `.delay(d)`: the handler runs and answers after `d`; `.timedOut` if `d` ≥ deadline;
/// - requests or answers above `maximumMessageSize`: the request fails with
///   `.messageTooLarge`; an oversized answer is dropped as nng drops it (`.timedOut`).
public final class EmbeddedTransport: Transport {
    public enum Fault: Sendable, Equatable {
        case dead
        case dropRequest
        case dropAnswer
        case delay(Duration)
    }

    /// What happened to one request, in the order requests were made.
    public struct Event: Sendable, Equatable {
        public enum Outcome: Sendable, Equatable {
            case answered
            case timedOut
            case refused
            case tooLarge
        }
        public var address: String
        public var outcome: Outcome
        /// Virtual time the request took (its delay, or its whole deadline on a timeout).
        public var elapsed: Duration
        /// Whether the handler ran (false for refused and dropped requests).
        public var handled: Bool
    }

    public let maximumMessageSize: Int
    private let state = Mutex(State())

    private struct State {
        var handlers: [String: RequestHandler] = [:]
        var faults: [String: Fault] = [:]
        var oneShot: [String: [Fault]] = [:]
        var events: [Event] = []
    }

    public init(maximumMessageSize: Int = WireLimits.maximumMessage) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Sets (or with nil clears) a fault that applies to every request to `address`.
    public func setFault(_ fault: Fault?, for address: String) {
        state.withLock { $0.faults[address] = fault }
    }

    /// Adds a fault for the next request to `address` only; several queue up in order and
    /// take precedence over the persistent fault.
    public func injectOnce(_ fault: Fault, for address: String) {
        state.withLock { $0.oneShot[address, default: []].append(fault) }
    }

    public var events: [Event] { state.withLock { $0.events } }

    public func listen(on address: String, handler: @escaping RequestHandler) async throws(WireError) -> any TransportListener {
        let taken = state.withLock { s -> Bool in
            if s.handlers[address] != nil { return true }
            s.handlers[address] = handler
            return false
        }
        if taken { throw .addressInUse(address: address) }
        return EmbeddedListener(address: address, transport: self)
    }

    fileprivate func unregister(_ address: String) {
        _ = state.withLock { $0.handlers.removeValue(forKey: address) }
    }

    public func request(_ request: [UInt8], to address: String, deadline: Duration) async throws(WireError) -> [UInt8] {
        let (handler, fault) = state.withLock { s -> (RequestHandler?, Fault?) in
            var fault = s.faults[address]
            if var queue = s.oneShot[address], !queue.isEmpty {
                fault = queue.removeFirst()
                s.oneShot[address] = queue
            }
            return (s.handlers[address], fault)
        }
        func record(_ outcome: Event.Outcome, _ elapsed: Duration, handled: Bool) {
            state.withLock { $0.events.append(Event(address: address, outcome: outcome, elapsed: elapsed, handled: handled)) }
        }
        guard request.count <= maximumMessageSize else {
            record(.tooLarge, .zero, handled: false)
            throw .messageTooLarge(size: request.count, limit: maximumMessageSize)
        }
        guard let handler, fault != .dead else {
            record(.refused, .zero, handled: false)
            throw .connectionRefused(address: address)
        }
        if fault == .dropRequest {
            record(.timedOut, deadline, handled: false)
            throw .timedOut
        }
        let answer = await handler(request)
        var elapsed = Duration.zero
        if case .delay(let d) = fault { elapsed = d }
        if fault == .dropAnswer || elapsed >= deadline || answer.count > maximumMessageSize {
            record(.timedOut, deadline, handled: true)
            throw .timedOut
        }
        record(.answered, elapsed, handled: true)
        return answer
    }
}

struct EmbeddedListener: TransportListener {
    let address: String
    let transport: EmbeddedTransport
    /// Requests already inside the handler finish normally; later ones are refused.
    func close() async { transport.unregister(address) }
}
