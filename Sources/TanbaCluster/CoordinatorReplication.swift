import Foundation
import Synchronization
import TanbaCore
import TanbaReplication
import TanbaStore
import TanbaWire

/// The coordinator's view of its store's replication, as /cluster and /readyz show it.
///
/// Cached (refreshed after every acknowledgement and by `reconcile`) because the status
/// document and /readyz are synchronous, while the channels' states live in actors.
public struct ReplicationStatus: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// No standby: the store is written alone (development, tests).
        case standalone
        /// Writes are acknowledged only once the synchronous standby holds them.
        case synchronous
        /// The standby (and any copies) are fed in the background; writes never wait.
        case asynchronous
    }
    public var mode: Mode
    /// The synchronous standby's node name (nil in the other modes).
    public var standby: String?
    /// Asynchronous copies' node names.
    public var copies: [String]
    /// Last known state of each replica, by node name ("in step at 42", "unreachable: …").
    public var states: [String: String]
    /// False while the synchronous standby could not confirm the last write: nothing is
    /// acknowledged until it does, and /readyz answers 503.
    public var writable: Bool
    /// Why the last acknowledgement failed, and when (Astana time); nil once one succeeds.
    public var lastFailure: String?
    public var lastFailureAt: String?

    init(primary: StorePrimary) {
        if let standby = primary.standby {
            mode = .synchronous
            self.standby = standby.name
        } else {
            mode = primary.copies.isEmpty ? .standalone : .asynchronous
            standby = nil
        }
        copies = primary.copies.map(\.name)
        states = [:]
        writable = true
    }
}

extension Coordinator {
    public var replicationStatus: ReplicationStatus { replicationHealth.withLock { $0 } }

    /// Waits until the synchronous standby holds every change committed so far (a no-op
    /// without one). Throws ERROR 9 (unavailable) otherwise: the change is committed on the
    /// primary but NOT acknowledged; the client's retry of the same request is acknowledged,
    /// without a second copy, once the standby is back.
    func acknowledgeWrite(_ what: String) async throws {
        guard let standby = primary.standby else { return }
        do {
            try await primary.acknowledge()
            await noteReplication(failure: nil)
        } catch {
            let state = await standby.state
            let why = "\(standby.name): \(state)"
            await noteReplication(failure: why)
            metrics.increment("replication_not_acknowledged")
            logger.error("write not acknowledged: the synchronous standby does not hold it",
                         metadata: ["what": .string(what), "standby": .string(standby.name), "state": .string(state.description)])
            throw CoordinatorError(code: .unavailable, description:
                "\(what) committed on the primary but the synchronous standby does not hold it (\(why)): NOT acknowledged; "
                + "retry the same request — it is acknowledged once the standby has it, without a second copy")
        }
    }

    /// Ships whatever the synchronous standby lacks (e.g. writes made while it was down)
    /// and records every replica's state. Run periodically by `reconcile`.
    public func refreshReplication() async {
        guard primary.standby != nil || !primary.copies.isEmpty else { return }
        if let standby = primary.standby {
            do {
                try await primary.acknowledge()
                await noteReplication(failure: nil)
            } catch {
                await noteReplication(failure: "\(standby.name): \(await standby.state)")
            }
        } else {
            await noteReplication(failure: nil)
        }
    }

    private func noteReplication(failure: String?) async {
        var states: [String: String] = [:]
        for channel in [primary.standby].compactMap({ $0 }) + primary.copies {
            states[channel.name] = await channel.state.description
        }
        let wasWritable = replicationHealth.withLock { h -> Bool in
            let was = h.writable
            h.states = states
            h.writable = failure == nil
            if let failure {
                h.lastFailure = failure
                h.lastFailureAt = AstanaTime.now()
            } else {
                h.lastFailure = nil
                h.lastFailureAt = nil
            }
            return was
        }
        if !wasWritable && failure == nil {
            logger.notice("synchronous standby back in step: writes are acknowledged again")
        }
    }
}
