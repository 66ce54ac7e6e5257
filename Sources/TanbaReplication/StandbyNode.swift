import Foundation
import TanbaStore
import TanbaWire

/// The standby side of replication, as a `SignedService` handler: applies REPLICATE
/// batches and REPLICATE_KEYS deltas durably (each answer is sent after the commit),
/// answers REPLICA_STATUS, and refuses everything else. Only the configured primaries may
/// replicate to it. Once diverged it refuses to apply or serve and every answer says why.
public final class StandbyNode: @unchecked Sendable {
    public let applier: StandbyApplier
    public let keys: KeyStoreReplica
    public let path: String
    public let keyStorePath: String
    /// Node names allowed to send REPLICATE / REPLICATE_KEYS (nil: any trusted signer).
    public let primaries: Set<String>?

    public init(path: String, keyStorePath: String? = nil, primaries: Set<String>? = nil) throws {
        self.path = path
        self.keyStorePath = keyStorePath ?? Store.keyStorePath(for: path)
        applier = try StandbyApplier(path: path)
        keys = try KeyStoreReplica(path: self.keyStorePath)
        self.primaries = primaries
    }

    public func status() -> ReplicaStatusMessage {
        do {
            let position = try applier.position
            let reason = try applier.divergedReason
            let persons = Int64(try applier.personCount)
            return ReplicaStatusMessage(role: .standby, serving: reason == nil, seq: position.seq, hash: position.hash,
                                        keyVersion: try keys.version, persons: UInt64(max(0, persons)),
                                        divergedReason: reason,
                                        detail: reason == nil ? "standby: applying the primary's log" : "standby: diverged, refusing")
        } catch {
            return ReplicaStatusMessage(role: .standby, serving: false, seq: -1, hash: [], keyVersion: -1, persons: 0,
                                        divergedReason: "cannot read the standby's state: \(error)", detail: "")
        }
    }

    public func handle(sender: String, _ message: WireMessage) async -> WireMessage {
        switch message {
        case .replication(.replicate(let entries)):
            guard primaries?.contains(sender) ?? true else { return Self.notAllowed(sender) }
            do {
                let ack = try applier.apply(batch: entries.map(ChangesetEntry.init))
                return .replication(.replicateAnswer(ReplicationAckMessage(outcome: .applied, seq: ack.seq, hash: ack.hash)))
            } catch ReplicationError.gap {
                let position = (try? applier.position) ?? ReplicationAck(seq: 0, hash: ChangesetEntry.genesisHash)
                return .replication(.replicateAnswer(ReplicationAckMessage(
                    outcome: .gap, seq: position.seq, hash: position.hash, reason: "expects entry \(position.seq + 1)")))
            } catch ReplicationError.diverged(let reason) {
                let position = (try? applier.position) ?? ReplicationAck(seq: 0, hash: ChangesetEntry.genesisHash)
                return .replication(.replicateAnswer(ReplicationAckMessage(outcome: .diverged, seq: position.seq,
                                                                           hash: position.hash, reason: reason)))
            } catch {
                return .error(code: .unavailable, message: "standby cannot apply: \(error)")
            }
        case .replication(.replicateKeys(let delta)):
            guard primaries?.contains(sender) ?? true else { return Self.notAllowed(sender) }
            do {
                let version = try keys.apply(KeyStoreDelta(delta))
                return .replication(.replicateKeysAnswer(ReplicationAckMessage(outcome: .applied, seq: version, hash: [])))
            } catch ReplicationError.gap(let expected, _) {
                return .replication(.replicateKeysAnswer(ReplicationAckMessage(outcome: .gap, seq: expected, hash: [],
                                                                               reason: "key store at version \(expected)")))
            } catch {
                return .error(code: .unavailable, message: "standby cannot apply keys: \(error)")
            }
        case .replication(.replicaStatus):
            return .replication(.replicaStatusAnswer(status()))
        case .status:
            let s = status()
            return .statusAnswer(StatusAnswer(role: .coordinator, ready: false, uptimeMilliseconds: 0, shards: [],
                                              persons: s.persons, pendingJobs: 0))
        default:
            let s = status()
            if let reason = s.divergedReason { return .error(code: .unavailable, message: "diverged: \(reason)") }
            return .error(code: .unavailable, message: "this node is a standby; send \(message.type) to the primary")
        }
    }

    static func notAllowed(_ sender: String) -> WireMessage {
        .error(code: .unauthenticated, message: "\(sender) is not a primary of this standby")
    }
}
