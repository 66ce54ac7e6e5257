import TanbaStore
import TanbaWire

/// Where one standby or copy stands, as the primary sees it.
public enum ReplicaState: Sendable, Equatable, CustomStringConvertible {
    /// Not contacted yet (or contact lost and not retried yet).
    case connecting
    /// Holds every entry of the primary's log.
    case inStep(seq: Int64)
    /// Reachable, catching up.
    case behind(seq: Int64, head: Int64)
    /// Could not be reached; entries wait in the primary's log.
    case unreachable(String)
    /// Its history is not a prefix of the primary's: refused until rebuilt from a backup.
    case diverged(String)
    /// Behind the oldest entry the primary keeps (pruned, or the backlog bound for copies).
    case needsRebuild(String)

    public var description: String {
        switch self {
        case .connecting: "connecting"
        case .inStep(let seq): "in step at \(seq)"
        case .behind(let seq, let head): "catching up: \(seq) of \(head)"
        case .unreachable(let why): "unreachable: \(why)"
        case .diverged(let why): "diverged: \(why)"
        case .needsRebuild(let why): "needs a rebuild: \(why)"
        }
    }

    /// Refused for good (until an operator rebuilds the replica).
    public var isRefused: Bool {
        switch self {
        case .diverged, .needsRebuild: true
        default: false
        }
    }
}

/// Ships a primary's log and key store to one replica over a `NetworkReplicationLink`.
///
/// On first contact (and after any failure) it asks the replica for its position
/// (REPLICA_STATUS) and checks it against the primary's log: the replica's (seq, hash)
/// must be an entry of this log — otherwise the replica holds history this primary never
/// had (an old primary rejoining with writes that were never replicated), and it is
/// refused as diverged. Then key deltas first, then changesets in batches of consecutive
/// entries, each batch one transaction on the replica.
///
/// `flush(through:)` is single-flight: concurrent callers share one shipping round, so
/// many enrollments committed together reach the standby in one batch (group commit).
public actor ReplicationChannel {
    public nonisolated let name: String
    public nonisolated let address: String
    let store: Store
    let link: NetworkReplicationLink
    public private(set) var acknowledged: Int64 = -1
    public private(set) var keysAcknowledged: Int64 = -1
    public private(set) var state: ReplicaState = .connecting
    private var connected = false
    private var sentMasterKeys: [KeyStoreDelta.MasterKeyRecord]? = nil
    private var inFlight: Task<Void, any Error>? = nil

    /// Limits of one REPLICATE message (well under the 1 MiB payload limit).
    static let batchBytes = 768 << 10
    static let batchEntries = 512
    static let keysPerDelta = 2_000

    public init(name: String, store: Store, link: NetworkReplicationLink) {
        self.name = name
        self.address = link.address
        self.store = store
        self.link = link
    }

    /// Returns once the replica durably holds every entry up to `target` (and every key
    /// written before it); throws if it cannot get there now.
    public func flush(through target: Int64) async throws {
        while true {
            if connected && acknowledged >= target { return }
            if state.isRefused, case .diverged(let why) = state { throw ReplicationError.diverged(why) }
            if case .needsRebuild(let why) = state { throw ReplicationError.link("\(name) needs a rebuild: \(why)") }
            let round: Task<Void, any Error>
            if let running = inFlight {
                round = running
            } else {
                round = Task { try await self.shipRound() }
                inFlight = round
            }
            do {
                try await round.value
            } catch {
                if connected && acknowledged >= target { return }
                throw error
            }
        }
    }

    /// Flushes everything the primary's log holds now.
    public func flush() async throws {
        try await flush(through: try store.replicationHead().seq)
    }

    /// Marks the replica as needing a rebuild (the primary stops keeping entries for it).
    public func drop(_ reason: String) {
        state = .needsRebuild(reason)
        connected = false
    }

    private func shipRound() async throws {
        defer { inFlight = nil }
        do {
            if !connected { try await handshake() }
            // The head is read before the keys: every entry up to it committed after its
            // data key did, so shipping keys then entries up to this head never puts data
            // on the replica without the key that opens it (nor acknowledges such data).
            let head = try store.replicationHead().seq
            try await shipKeys()
            try await shipEntries(upTo: head)
        } catch let error as ReplicationError {
            connected = false
            switch error {
            case .diverged(let why): state = .diverged(why)
            case .link(let why): if !state.isRefused { state = .unreachable(why) }
            case .gap, .session: state = .connecting
            }
            throw error
        }
    }

    private func handshake() async throws {
        let status = try await link.status()
        guard status.role == .standby else {
            throw ReplicationError.diverged("\(name) answers as a primary; two primaries must never replicate to each other")
        }
        if let reason = status.divergedReason { throw ReplicationError.diverged(reason) }
        let head = try store.replicationHead()
        if status.seq > head.seq {
            throw ReplicationError.diverged(
                "\(name) holds entries up to \(status.seq) but this primary's log ends at \(head.seq): it has history this primary " +
                "never had (an old primary that committed writes it never replicated?); rebuild it from a backup of this primary")
        }
        guard let hash = try store.replicationHash(at: status.seq) else {
            let reason = "\(name) stands at entry \(status.seq), older than the oldest entry this primary keeps " +
                "(\(try store.replicationOldestResumable())); rebuild it from a backup of this primary"
            state = .needsRebuild(reason)
            throw ReplicationError.link(reason)
        }
        guard hash == status.hash else {
            // Ship the next entry anyway: the replica checks the running hash itself and
            // latches the divergence, so its own STATUS says why it stopped.
            if let next = try store.replicationEntries(after: status.seq, limit: 1).first { _ = try? await link.send(batch: [next]) }
            throw ReplicationError.diverged(
                "\(name)'s entry \(status.seq) has another hash than this primary's: the histories forked there; " +
                "rebuild it from a backup of this primary")
        }
        acknowledged = status.seq
        keysAcknowledged = status.keyVersion
        sentMasterKeys = nil
        connected = true
        state = status.seq == head.seq ? .inStep(seq: head.seq) : .behind(seq: status.seq, head: head.seq)
    }

    private func shipKeys() async throws {
        while true {
            let delta = try store.keys.delta(after: keysAcknowledged, limit: Self.keysPerDelta)
            if delta.keys.isEmpty && delta.shredded.isEmpty && sentMasterKeys == delta.masterKeys { return }
            keysAcknowledged = try await link.sendKeys(delta)
            sentMasterKeys = delta.masterKeys
            if delta.to == delta.from { return }
        }
    }

    private func shipEntries(upTo head: Int64) async throws {
        while acknowledged < head {
            let entries = try store.replicationEntries(after: acknowledged, limit: Self.batchEntries).filter { $0.seq <= head }
            guard let first = entries.first else {
                state = .inStep(seq: acknowledged)
                return
            }
            guard first.seq == acknowledged + 1 else {
                let reason = "\(name) stands at \(acknowledged) but this primary's log resumes at \(first.seq); rebuild it from a backup"
                state = .needsRebuild(reason)
                throw ReplicationError.link(reason)
            }
            var batch: [ChangesetEntry] = []
            var bytes = 0
            for entry in entries {
                let size = entry.changeset.count + ReplicationMessage.entryOverhead
                if !batch.isEmpty && bytes + size > Self.batchBytes { break }
                batch.append(entry)
                bytes += size
            }
            guard bytes <= WireLimits.maximumPayload - 64 else {
                throw ReplicationError.link("entry \(first.seq) (\(bytes) bytes) exceeds the wire's message limit")
            }
            let ack = try await link.send(batch: batch)
            guard ack.seq == batch.last!.seq, ack.hash == batch.last!.hash else {
                throw ReplicationError.diverged("\(name) acknowledged \(ack.seq) with another hash than entry \(batch.last!.seq)")
            }
            acknowledged = ack.seq
            let now = try store.replicationHead().seq
            state = acknowledged >= now ? .inStep(seq: acknowledged) : .behind(seq: acknowledged, head: now)
        }
    }
}
