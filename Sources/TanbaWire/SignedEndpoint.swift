import Crypto

/// The server side of the signed protocol, as a `RequestHandler` for any `Transport`:
/// authenticate the envelope, answer repeats from the de-duplication cache, hand the
/// decoded request to `handler`, sign the answer.
///
/// Anything wrong with a request becomes a signed ERROR answer saying what was wrong, and
/// the node keeps serving: garbage, truncation, unknown version or type, unknown signer,
/// bad signature, stale timestamp, request ID reused for different content.
/// Who sent a request and which one it is: what a handler needs to keep the request's
/// answer durably (the coordinator's answered-requests table).
public struct RequestContext: Sendable, Equatable {
    public var sender: String
    public var requestID: RequestID
    /// SHA-256 of the message type byte and the payload: the same ID with other content is
    /// another request.
    public var fingerprint: [UInt8]
    public init(sender: String, requestID: RequestID, fingerprint: [UInt8]) {
        self.sender = sender
        self.requestID = requestID
        self.fingerprint = fingerprint
    }
}

public struct SignedService: Sendable {
    public typealias Handler = @Sendable (_ sender: String, _ request: WireMessage) async -> WireMessage
    public typealias ContextHandler = @Sendable (_ context: RequestContext, _ request: WireMessage) async -> WireMessage

    public let identity: NodeIdentity
    public let keyring: Keyring
    public let deduplicator: RequestDeduplicator<WireMessage>
    private let handler: ContextHandler
    private let clock: @Sendable () -> Int64

    public init(identity: NodeIdentity, keyring: Keyring,
                deduplicator: RequestDeduplicator<WireMessage> = SignedService.defaultDeduplicator(),
                clock: @escaping @Sendable () -> Int64 = WireClock.nowMilliseconds,
                handler: @escaping Handler) {
        self.init(identity: identity, keyring: keyring, deduplicator: deduplicator, clock: clock,
                  contextHandler: { context, request in await handler(context.sender, request) })
    }

    private init(identity: NodeIdentity, keyring: Keyring, deduplicator: RequestDeduplicator<WireMessage>,
                 clock: @escaping @Sendable () -> Int64, contextHandler: @escaping ContextHandler) {
        self.identity = identity
        self.keyring = keyring
        self.deduplicator = deduplicator
        self.clock = clock
        self.handler = contextHandler
    }

    /// For handlers that need the request ID (to keep answers beyond this cache's lifetime).
    /// A factory rather than an init: two inits differing only in the closure's parameters
    /// make every trailing closure ambiguous.
    public static func withContext(identity: NodeIdentity, keyring: Keyring,
                                   deduplicator: RequestDeduplicator<WireMessage> = SignedService.defaultDeduplicator(),
                                   clock: @escaping @Sendable () -> Int64 = WireClock.nowMilliseconds,
                                   handler: @escaping ContextHandler) -> SignedService {
        SignedService(identity: identity, keyring: keyring, deduplicator: deduplicator, clock: clock, contextHandler: handler)
    }

    /// 100,000 answers or 256 MiB of encoded answers, whichever is reached first, for
    /// 120 s (at least twice the keyring's default 30 s window). Transient refusals
    /// (unavailable, overloaded, timed out: "nothing done, retry later") are not kept, so
    /// a retry with the same request ID is executed once the cause is gone.
    public static func defaultDeduplicator() -> RequestDeduplicator<WireMessage> {
        RequestDeduplicator(capacity: 100_000, lifetimeMilliseconds: 120_000, weightBudget: 256 << 20,
                            weight: { 64 + $0.encodedBody().count }, retain: { !$0.isTransientRefusal })
    }

    /// Pass this to `Transport.listen`.
    public var requestHandler: RequestHandler { { bytes in await self.handle(bytes) } }

    public func handle(_ bytes: [UInt8]) async -> [UInt8] {
        let now = clock()
        let envelope: Envelope
        do {
            envelope = try keyring.open(bytes, now: now)
        } catch {
            // The request ID is echoed when the frame parsed, so the caller can match it.
            let id = (try? Envelope.decode(bytes))?.requestID ?? RequestID(high: 0, low: 0)
            return identity.seal(.error(code: Self.code(for: error), message: error.description), requestID: id, timestamp: now)
        }
        guard envelope.type.isRequest else {
            return identity.seal(.error(code: .unsupported, message: "\(envelope.type) is not a request"),
                                 requestID: envelope.requestID, timestamp: now)
        }
        let request: WireMessage
        do {
            request = try envelope.message()
        } catch {
            return identity.seal(.error(code: .malformed, message: error.description),
                                 requestID: envelope.requestID, timestamp: now)
        }
        let key = RequestDeduplicator<WireMessage>.Key(sender: envelope.sender, requestID: envelope.requestID)
        let fingerprint = Array(SHA256.hash(data: [envelope.type.rawValue] + envelope.payload))
        let handler = self.handler
        let context = RequestContext(sender: envelope.sender, requestID: envelope.requestID, fingerprint: fingerprint)
        let answer: WireMessage
        switch await deduplicator.run(key, fingerprint: fingerprint, now: now, { await handler(context, request) }) {
        case .fresh(let a), .repeated(let a): answer = a
        case .conflict:
            answer = .error(code: .requestIDReused, message: "request ID \(envelope.requestID) was already used for another request")
        }
        // Re-sealed with the current time: a repeat answered from the cache must still be
        // fresh for the caller's keyring.
        return identity.seal(answer, requestID: envelope.requestID, timestamp: clock())
    }

    static func code(for error: EnvelopeError) -> WireErrorCode {
        switch error {
        case .malformed(.oversized): .tooLarge
        case .malformed(.unsupportedVersion), .malformed(.unknownMessageType): .unsupported
        case .malformed: .malformed
        case .stale: .stale
        case .unknownSigner, .badSignature, .unexpectedSender, .requestIDMismatch, .invalidNodeName: .unauthenticated
        }
    }
}

/// The client side: seal a request, send it over a `Transport`, authenticate the answer
/// (signed by the node asked, same request ID), and turn ERROR answers into thrown errors.
public struct SignedCaller: Sendable {
    public enum CallError: Error, Equatable, Sendable, CustomStringConvertible {
        case transport(WireError)
        case unauthenticAnswer(EnvelopeError)
        case malformedAnswer(DecodeError)
        /// The peer answered with a typed ERROR.
        case remote(code: WireErrorCode, message: String)

        public var description: String {
            switch self {
            case .transport(let e): e.description
            case .unauthenticAnswer(let e): "answer rejected: \(e)"
            case .malformedAnswer(let e): "malformed answer: \(e)"
            case .remote(let code, let message): "peer error \(code.rawValue): \(message)"
            }
        }
    }

    public let identity: NodeIdentity
    public let keyring: Keyring
    public let transport: any Transport
    private let clock: @Sendable () -> Int64

    public init(identity: NodeIdentity, keyring: Keyring, transport: any Transport,
                clock: @escaping @Sendable () -> Int64 = WireClock.nowMilliseconds) {
        self.identity = identity
        self.keyring = keyring
        self.transport = transport
        self.clock = clock
    }

    /// Sends `message` to node `peer` at `address`. Retrying with the same `requestID`
    /// is safe: the peer answers a repeat with its first answer.
    public func call(_ message: WireMessage, to peer: String, at address: String, deadline: Duration,
                     requestID: RequestID = .random()) async throws(CallError) -> WireMessage {
        let bytes = identity.seal(message, requestID: requestID, timestamp: clock())
        let answerBytes: [UInt8]
        do { answerBytes = try await transport.request(bytes, to: address, deadline: deadline) } catch { throw .transport(error) }
        let envelope: Envelope
        do {
            envelope = try keyring.openAnswer(answerBytes, from: peer, to: requestID, now: clock())
        } catch {
            throw .unauthenticAnswer(error)
        }
        let answer: WireMessage
        do { answer = try envelope.message() } catch { throw .malformedAnswer(error) }
        if case .error(let code, let text) = answer { throw .remote(code: code, message: text) }
        return answer
    }
}

extension WireMessage {
    /// An ERROR that says "retry later": the request had no effect that a retry could repeat
    /// (or, for a write the synchronous standby did not confirm, the retry is how it gets
    /// acknowledged), so its answer must not be replayed to the retry.
    public var isTransientRefusal: Bool {
        guard case .error(let code, _) = self else { return false }
        return code == .unavailable || code == .overloaded || code == .timedOut
    }
}
