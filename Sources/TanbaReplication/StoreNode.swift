import Foundation
import Synchronization
import TanbaStore
import TanbaWire

/// One store process: a standby until promoted, then a primary. `tanba store standby`
/// and `tanba store primary` run one of these behind a `SignedService`.
///
/// Promotion (PROMOTE, or `promote()`): the standby must not have diverged; its
/// replication log restarts at its position (`StandbyApplier.prepareForPromotion`), its
/// key store's counter moves past every version it holds, then the files are opened as a
/// `Store` with the master key and served by a `StorePrimary` — on the same address,
/// without a restart. The old primary, if it comes back, must rejoin as a standby
/// (`StandbyApplier.demote`, `tanba store standby --rejoin`); the new primary checks its
/// position and refuses it if it holds writes that were never replicated.
public final class StoreNode: @unchecked Sendable {
    public enum Role: Sendable {
        case standby(StandbyNode)
        case primary(StorePrimary)
    }

    /// What a promoted standby needs to become a primary.
    public struct PromotionPlan: Sendable {
        public var master: @Sendable () throws -> MasterKey
        public var caller: SignedCaller?
        public var standby: StorePrimary.Peer?
        public var copies: [StorePrimary.Peer]
        public var options: StorePrimary.Options
        public init(master: @escaping @Sendable () throws -> MasterKey, caller: SignedCaller? = nil,
                    standby: StorePrimary.Peer? = nil, copies: [StorePrimary.Peer] = [],
                    options: StorePrimary.Options = .init()) {
            self.master = master; self.caller = caller; self.standby = standby; self.copies = copies; self.options = options
        }
    }

    private let state: Mutex<Role>
    private let plan: PromotionPlan?
    /// Node names allowed to send PROMOTE (nil: any trusted signer).
    public let operators: Set<String>?

    public init(role: Role, promotion: PromotionPlan? = nil, operators: Set<String>? = nil) {
        state = Mutex(role)
        plan = promotion
        self.operators = operators
    }

    public var role: Role { state.withLock { $0 } }

    public var primary: StorePrimary? {
        if case .primary(let p) = role { return p }
        return nil
    }

    /// Turns the standby into the primary; returns its position. Idempotent for a node
    /// that is already primary.
    @discardableResult
    public func promote() throws -> ReplicationAck {
        try state.withLock { role -> ReplicationAck in
            switch role {
            case .primary(let p):
                let head = try p.store.replicationHead()
                return ReplicationAck(seq: head.seq, hash: head.hash)
            case .standby(let standby):
                guard let plan else { throw ReplicationError.link("this standby has no promotion plan (master key)") }
                let master = try plan.master()
                let position = try standby.applier.prepareForPromotion()
                try standby.keys.prepareForPromotion()
                let store = try Store(path: standby.path, keyStorePath: standby.keyStorePath, master: master)
                let primary = StorePrimary(store: store, caller: plan.caller, standby: plan.standby, copies: plan.copies,
                                           options: plan.options)
                primary.start()
                role = .primary(primary)
                return position
            }
        }
    }

    public func handle(sender: String, _ message: WireMessage) async -> WireMessage {
        if case .replication(.promote) = message {
            guard operators?.contains(sender) ?? true else {
                return .error(code: .unauthenticated, message: "\(sender) may not promote this node")
            }
            do {
                let position = try promote()
                return .replication(.promoteAnswer(seq: position.seq, hash: position.hash))
            } catch ReplicationError.diverged(let reason) {
                return .error(code: .unavailable, message: "diverged: \(reason)")
            } catch {
                return .error(code: .internal, message: "promotion failed: \(error)")
            }
        }
        switch role {
        case .standby(let standby): return await standby.handle(sender: sender, message)
        case .primary(let primary): return await primary.handle(sender: sender, message)
        }
    }

    public func stop() async {
        if let primary { await primary.stop() }
    }
}
