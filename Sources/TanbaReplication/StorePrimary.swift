import Foundation
import Synchronization
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaWire

public enum StorePrimaryError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The change is committed on the primary but the synchronous standby does not hold it
    /// (yet): it was NOT acknowledged. A retry of the same request is acknowledged once the
    /// standby has it (see `StorePrimary.enroll`).
    case notAcknowledged(String)

    public var description: String {
        switch self {
        case .notAcknowledged(let why): "not acknowledged: the synchronous standby does not hold the change (\(why))"
        }
    }
}

/// The store as the coordinator embeds it: a `Store`, an optional synchronous standby
/// and asynchronous copies.
///
/// - Synchronous mode: `enroll`, `reenroll` and `delete` return only after the standby
///   holds the change durably (`ReplicationChannel.flush`). While the standby cannot be
///   reached nothing is acknowledged: the call throws `notAcknowledged` after
///   `Options.syncTimeout` (no silent degradation to asynchronous mode — docs/store.md).
///   The change stays committed on the primary and is shipped when the standby is back;
///   a retried enrollment of the same record is then acknowledged without a second copy.
/// - Asynchronous copies (remote sites) are fed in the background every
///   `Options.copyInterval`, catch up after an outage, and are dropped (state
///   `needsRebuild`) once more than `Options.maxBacklog` entries behind, so the log the
///   primary keeps for them is bounded.
/// - The replication log is pruned up to the slowest replica still followed.
public final class StorePrimary: @unchecked Sendable {
    public struct Peer: Sendable, Equatable, Codable {
        public var node: String
        public var address: String
        public init(node: String, address: String) { self.node = node; self.address = address }
    }

    public struct Options: Sendable {
        /// How long an acknowledgement may wait for the synchronous standby.
        public var syncTimeout: Duration = .seconds(5)
        public var copyInterval: Duration = .milliseconds(200)
        public var maxBacklog: Int64 = 1_000_000
        public init() {}
    }

    public let store: Store
    public let standby: ReplicationChannel?
    public let copies: [ReplicationChannel]
    public let options: Options
    private let started = ContinuousClock.now
    private let tasks = Mutex<[Task<Void, Never>]>([])

    /// `caller` signs and sends replication traffic (needed when there is a standby or
    /// copies).
    public init(store: Store, caller: SignedCaller?, standby: Peer?, copies: [Peer] = [], options: Options = Options()) {
        self.store = store
        self.options = options
        func channel(_ peer: Peer) -> ReplicationChannel {
            ReplicationChannel(name: peer.node, store: store,
                               link: NetworkReplicationLink(caller: caller!, peer: peer.node, address: peer.address,
                                                            deadline: options.syncTimeout))
        }
        self.standby = standby.map(channel)
        self.copies = copies.map(channel)
    }

    /// Starts feeding the asynchronous copies and pruning the log.
    public func start() {
        var started: [Task<Void, Never>] = []
        for copy in copies {
            started.append(Task { [options, store] in
                while !Task.isCancelled {
                    if let head = try? store.replicationHead().seq {
                        let acknowledged = await copy.acknowledged
                        if acknowledged >= 0, head - acknowledged > options.maxBacklog {
                            await copy.drop("more than \(options.maxBacklog) entries behind")
                        } else {
                            try? await copy.flush(through: head)
                        }
                    }
                    try? await Task.sleep(for: options.copyInterval)
                }
            })
        }
        started.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                try? await self?.prune()
            }
        })
        tasks.withLock { $0 += started }
    }

    /// Stops the background work (the store stays open).
    public func stop() async {
        let running = tasks.withLock { t -> [Task<Void, Never>] in defer { t = [] }; return t }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    /// Drops log entries every followed replica holds — all but the entry at the slowest
    /// replica's position, whose hash the next handshake checks.
    public func prune() async throws {
        var slowest = try store.replicationHead().seq
        for channel in [standby].compactMap({ $0 }) + copies {
            if await channel.state.isRefused { continue }
            let acknowledged = await channel.acknowledged
            guard acknowledged >= 0 else { return }   // position unknown yet: keep everything
            slowest = min(slowest, acknowledged)
        }
        try store.pruneReplicationLog(through: slowest - 1)
    }

    /// Waits for the synchronous standby to hold everything committed so far.
    public func acknowledge() async throws {
        guard let standby else { return }
        let target = try store.replicationHead().seq
        do {
            try await standby.flush(through: target)
        } catch {
            throw StorePrimaryError.notAcknowledged("\(standby.name): \(await standby.state)")
        }
    }

    public enum EnrollResult: Sendable, Equatable {
        case enrolled
        /// The same record was already enrolled (a retry): acknowledged, no second copy.
        case alreadyHeld
    }

    /// Enrolls and acknowledges (after the standby holds it in synchronous mode). A retry
    /// of an enrollment whose first attempt was committed but not acknowledged finds the
    /// same record in place and is acknowledged as `.alreadyHeld`; a different record for
    /// the same IIN is `StoreError.alreadyEnrolled`.
    @discardableResult
    public func enroll(_ identity: PersonIdentity, iin: IIN, enrollment: Enrollment, consent: Consent,
                       by actor: Actor) async throws -> EnrollResult {
        var result = EnrollResult.enrolled
        do {
            try store.enroll(identity, iin: iin, enrollment: enrollment, consent: consent, by: actor)
        } catch StoreError.alreadyEnrolled {
            guard try store.currentEnrollment(iin: iin)?.record == enrollment.record else { throw StoreError.alreadyEnrolled }
            result = .alreadyHeld
        }
        try await acknowledge()
        return result
    }

    public func reenroll(iin: IIN, enrollment: Enrollment, consent: Consent, by actor: Actor) async throws {
        if try store.currentEnrollment(iin: iin)?.record != enrollment.record {
            try store.reenroll(iin: iin, enrollment: enrollment, consent: consent, by: actor)
        }
        try await acknowledge()
    }

    /// Crypto-shredding deletion, acknowledged once the standby has destroyed the key too
    /// (key deltas travel before the changeset that removes the rows).
    @discardableResult
    public func delete(iin: IIN, request: DeletionRequest, by actor: Actor) async throws -> Bool {
        let deleted = try store.delete(iin: iin, request: request, by: actor)
        try await acknowledge()
        return deleted
    }

    /// The primary's own position and its replicas' states.
    public func replicationStatus() async -> ReplicaStatusMessage {
        let head = (try? store.replicationHead()) ?? (seq: -1, hash: [])
        var parts: [String] = []
        if let standby { parts.append("sync standby \(standby.name): \(await standby.state)") } else { parts.append("no synchronous standby") }
        for copy in copies { parts.append("copy \(copy.name): \(await copy.state)") }
        return ReplicaStatusMessage(role: .primary, serving: true, seq: head.seq, hash: head.hash,
                                    keyVersion: (try? store.keys.version) ?? -1,
                                    persons: UInt64(max(0, (try? store.personCount) ?? 0)), divergedReason: nil,
                                    detail: parts.joined(separator: "; "))
    }

    // MARK: Serving over TanbaWire

    /// ENROLL / UPDATE / DELETE / STATUS / REPLICA_STATUS, for the standalone
    /// `tanba store primary` (store fault scenarios, `cluster/chaos`). It checks no consent:
    /// the identity holds the IIN only, the consent and capture metadata name the sending
    /// node. The coordinator embeds `StorePrimary` and passes the real identity and the
    /// station's consent through `Store` (docs/cluster.md "Consent and rules").
    public func handle(sender: String, _ message: WireMessage) async -> WireMessage {
        let actor = Actor(login: sender, role: "station", basis: "TanbaWire \(message.type)")
        do {
            switch message {
            case .enroll(let request):
                let enrollment = Enrollment(record: request.record,
                                            capture: CaptureInfo(branch: sender, station: sender, operatorLogin: sender, device: "wire"))
                let consent = Consent(operatorName: "wire", operatorBIN: "", term: "", signedAt: enrollment.capture.capturedAt,
                                      signatureReference: "wire:\(sender)", acceptedBy: sender)
                let result = try await enroll(PersonIdentity(fullName: "", iin: request.iin), iin: request.iin,
                                              enrollment: enrollment, consent: consent, by: actor)
                _ = result
                return .enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: .none))
            case .update(let request):
                let enrollment = Enrollment(record: request.record,
                                            capture: CaptureInfo(branch: sender, station: sender, operatorLogin: sender, device: "wire"))
                let consent = Consent(operatorName: "wire", operatorBIN: "", term: "", signedAt: enrollment.capture.capturedAt,
                                      signatureReference: "wire:\(sender)", acceptedBy: sender)
                try await reenroll(iin: request.iin, enrollment: enrollment, consent: consent, by: actor)
                return .updateAnswer(archivedPrevious: true, coverage: .none)
            case .delete(let request):
                let deleted = try await delete(iin: request.iin,
                                               request: DeletionRequest(requestedBy: sender, branch: sender, basis: request.reason),
                                               by: actor)
                return .deleteAnswer(deleted: deleted, coverage: .none)
            case .status:
                return .statusAnswer(StatusAnswer(role: .coordinator, ready: true,
                                                  uptimeMilliseconds: UInt64((ContinuousClock.now - started).components.seconds * 1000),
                                                  shards: [], persons: UInt64(max(0, try store.personCount)), pendingJobs: 0))
            case .replication(.replicaStatus):
                return .replication(.replicaStatusAnswer(await replicationStatus()))
            case .replication(.replicate), .replication(.replicateKeys):
                return .error(code: .unavailable, message: "this node is a primary; it does not apply another primary's log")
            default:
                return .error(code: .unsupported, message: "the store primary does not serve \(message.type)")
            }
        } catch let error as StorePrimaryError {
            return .error(code: .unavailable, message: error.description)
        } catch StoreError.alreadyEnrolled {
            return .enrollAnswer(EnrollAnswer(outcome: .alreadyEnrolled, coverage: .none))
        } catch StoreError.notEnrolled {
            return .error(code: .notFound, message: StoreError.notEnrolled.description)
        } catch let error as StoreError {
            return .error(code: .invalidArgument, message: error.description)
        } catch SQLiteError.diskFull(let message) {
            return .error(code: .unavailable, message: "the store's disk is full (SQLITE_FULL: \(message)): nothing was written, nothing acknowledged")
        } catch {
            return .error(code: .internal, message: "\(error)")
        }
    }
}
