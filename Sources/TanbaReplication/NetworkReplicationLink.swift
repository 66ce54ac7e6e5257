import TanbaStore
import TanbaWire

/// `ReplicationLink` over TanbaWire: signed envelopes on any `Transport` (nng with mutual
/// TLS in production, `EmbeddedTransport` in tests). Every call returns only once the
/// standby answered, and the standby answers only after its commit (synchronous FULL), so
/// an acknowledgement means "durable on the standby".
///
/// Refusals come back typed: a gap as `ReplicationError.gap` (the standby's position is
/// in `expected - 1`), a latched divergence as `ReplicationError.diverged` with the
/// standby's own reason; transport failures (timeout, refused, TLS) as
/// `ReplicationError.link`.
public struct NetworkReplicationLink: ReplicationLink {
    public let caller: SignedCaller
    /// The standby's node name (its answers must be signed by it) and address.
    public let peer: String
    public let address: String
    public let deadline: Duration

    public init(caller: SignedCaller, peer: String, address: String, deadline: Duration = .seconds(5)) {
        self.caller = caller
        self.peer = peer
        self.address = address
        self.deadline = deadline
    }

    func call(_ message: ReplicationMessage) async throws -> ReplicationMessage {
        let answer: WireMessage
        do {
            answer = try await caller.call(.replication(message), to: peer, at: address, deadline: deadline)
        } catch {
            if case .remote(let code, let text) = error, code == .unavailable, text.hasPrefix("diverged: ") {
                throw ReplicationError.diverged(String(text.dropFirst("diverged: ".count)))
            }
            throw ReplicationError.link("\(peer) at \(address): \(error)")
        }
        guard case .replication(let m) = answer else {
            throw ReplicationError.link("\(peer) answered \(answer.type) to \(message.type)")
        }
        return m
    }

    public func send(_ entry: ChangesetEntry) async throws -> ReplicationAck {
        try await send(batch: [entry])
    }

    /// Sends consecutive entries in one message; the standby applies them in one
    /// transaction and acknowledges the last.
    public func send(batch entries: [ChangesetEntry]) async throws -> ReplicationAck {
        let answer = try await call(.replicate(entries.map(\.wire)))
        guard case .replicateAnswer(let ack) = answer else {
            throw ReplicationError.link("\(peer) answered \(answer.type) to REPLICATE")
        }
        switch ack.outcome {
        case .applied: return ReplicationAck(seq: ack.seq, hash: ack.hash)
        case .gap: throw ReplicationError.gap(expected: ack.seq + 1, received: entries.first?.seq ?? 0)
        case .diverged: throw ReplicationError.diverged(ack.reason)
        }
    }

    public func sendKeys(_ delta: KeyStoreDelta) async throws -> Int64 {
        let answer = try await call(.replicateKeys(delta.wire))
        guard case .replicateKeysAnswer(let ack) = answer else {
            throw ReplicationError.link("\(peer) answered \(answer.type) to REPLICATE_KEYS")
        }
        switch ack.outcome {
        case .applied: return ack.seq
        case .gap: throw ReplicationError.gap(expected: ack.seq, received: delta.from)
        case .diverged: throw ReplicationError.diverged(ack.reason)
        }
    }

    /// The peer's replication state (REPLICA_STATUS).
    public func status() async throws -> ReplicaStatusMessage {
        let answer = try await call(.replicaStatus)
        guard case .replicaStatusAnswer(let s) = answer else {
            throw ReplicationError.link("\(peer) answered \(answer.type) to REPLICA_STATUS")
        }
        return s
    }

    /// Asks a standby to become the primary (PROMOTE); returns its position.
    public func promote() async throws -> ReplicationAck {
        let answer = try await call(.promote)
        guard case .promoteAnswer(let seq, let hash) = answer else {
            throw ReplicationError.link("\(peer) answered \(answer.type) to PROMOTE")
        }
        return ReplicationAck(seq: seq, hash: hash)
    }
}
