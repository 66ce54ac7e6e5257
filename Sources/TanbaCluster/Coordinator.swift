import Foundation
import Logging
import Synchronization
import TanbaAccess
import TanbaCore
import TanbaMatch
import TanbaReplication
import TanbaStore
import TanbaWire

/// The coordinator: system of record (the encrypted `Store`), shard map, scatter-gather.
///
/// - ENROLL: 1:N de-duplication over every shard first (an incomplete search refuses the
///   enrollment: never enroll on a partial de-duplication); possible duplicates at or above
///   the de-duplication threshold are **held for adjudication** with their scores — kept in
///   the store (sealed, replicated), nothing enrolled or merged until an examiner decides
///   (ADJUDICATE, CoordinatorAdjudication.swift); otherwise the person is stored
///   (encrypted, audited) and pushed to the shard's replicas.
/// - Every request that reaches the handler leaves exactly one audit entry, refusals
///   included (`AuditPerOperationTests`).
/// - IDENTIFY: one SHARD_SEARCH per shard with a deadline to one replica; on an error, a
///   timeout or a "not served here" the next replica is asked; per-finger scores are fused
///   by the workers (mean over the probe's fingers), candidates merged, thresholded and cut
///   to top-K. An answer is complete or `partial` with the missing shards named.
/// - VERIFY: one SHARD_VERIFY to the claimed person's shard (replica retry as above).
/// - UPDATE: `Store.reenroll` (old record archived) and the new record replaces the old on
///   every replica. DELETE: `Store.delete` (crypto-shredding) and removal from every replica.
/// - A replica that misses a write is taken out of service until it is reloaded from the
///   store (`reconcile`), so a stale replica never answers.
public final class Coordinator: Sendable {
    public struct Options: Sendable {
        /// Deadline of one per-shard request (a replica that has not answered by then is
        /// skipped and the next one asked).
        public var shardDeadline: Duration = .seconds(2)
        /// Deadline for shard loads (one batch).
        public var loadDeadline: Duration = .seconds(30)
        /// Target false-positive identification rate when a request gives none.
        public var defaultFPIR: Double = 1e-3
        /// Target false-match rate of VERIFY decisions.
        public var verifyFMR: Double = 1e-3
        /// Fused score at or above which an enrollment is held as a possible duplicate
        /// (nil: the identification threshold at `defaultFPIR`).
        public var duplicateThreshold: Float? = nil
        /// Penetration sent to workers (0: the worker's default).
        public var penetration: Double = 0
        /// Encoded size of one SHARD_LOAD batch.
        public var loadBatchBytes: Int = 512 << 10
        /// How long a worker that failed a request is asked last.
        public var suspectFor: Duration = .seconds(5)
        /// A worker that has answered no status call (`reconcile`) for this long is taken out
        /// of service: its replicas are no longer asked or reported as serving, and are
        /// reloaded from the store once it answers again. Long enough that a worker merely
        /// busy under a burst is not reloaded for nothing (a reload of five 125,000-finger
        /// replicas takes minutes); a killed worker fails its status calls at once.
        public var outOfServiceAfter: Duration = .seconds(30)
        /// Senders allowed to send admin requests (`tanba cluster …`).
        public var admins: Set<String> = []
        /// Senders allowed to send ADJUDICATE (examiners' workstations): deciding whether a
        /// held enrollment is a duplicate is an examiner's call, not an operator's.
        public var examiners: Set<String> = []
        /// This coordinator's branch, recorded with deletion requests arriving over the wire
        /// (enrollments record the branch named in their consent).
        public var branch = "unknown"
        /// How long answers to writes are kept in the store for retries (a station's outbox
        /// retries for days at most); pruned hourly by `reconcile`.
        public var answerRetentionDays = 30
        /// Today in Astana (injected so tests can pin consent terms and ages).
        public var today: @Sendable () -> IIN.BirthDate = { EnrollmentRules(now: Date()).today }
        /// The access layer that decides every IDENTIFY, VERIFY and VIEW_RECORD
        /// (CoordinatorAccess.swift); nil: development mode, station requests unchecked and
        /// requests on an authority's basis refused.
        public var access: CoordinatorAccess? = nil
        public init() {}
    }

    struct Replica: Hashable { var shard: UInt16; var worker: String }

    struct State {
        var map: ShardMap
        /// serving[shard]: replicas loaded and consistent, asked for searches in this order.
        var serving: [[String]]
        /// Replicas being loaded (they receive writes, not searches).
        var loading: Set<Replica> = []
        /// Replicas a load is running for (claimed before the reset is sent), so two
        /// reconciliations never load the same replica at once.
        var claimed: Set<Replica> = []
        /// Persons written while a replica was loading: re-pushed before it serves.
        var dirty: [Replica: Set<IIN>] = [:]
        var suspects: [String: ContinuousClock.Instant] = [:]
        /// Enrollments waiting for adjudication (a cache of the store's count, refreshed
        /// after every hold and decision, so /cluster and STATUS need no store read).
        var heldCount = 0
        /// Workers whose last status call failed, since the first failure in a row.
        var unreachableSince: [String: ContinuousClock.Instant] = [:]
        var rotation = 0
        var rebalancing = false
        var answersPrunedAt: ContinuousClock.Instant? = nil
    }

    public let name: String
    public let store: Store
    /// The store as primary: synchronous standby and asynchronous copies (none: standalone).
    public let primary: StorePrimary
    let replicationHealth: Mutex<ReplicationStatus>
    public let directory: SubjectDirectory
    public let caller: SignedCaller
    public let options: Options
    public let metrics = ClusterMetrics()
    let state: Mutex<State>
    private let started = ContinuousClock.now
    private let inFlight = Atomic<Int>(0)
    let logger: Logger
    private let persistMap: @Sendable (ShardMap) -> Void

    /// `persistMap` is called with every new shard map (placement switch, worker added or
    /// removed), e.g. to write it to the coordinator's map file.
    /// `primary` wraps `store` with its replicas (nil: a standalone store, nothing replicated).
    public init(name: String, store: Store, directory: SubjectDirectory, map: ShardMap, caller: SignedCaller,
                options: Options = .init(), logger: Logger = Logger(label: "tanba.coordinator"),
                primary: StorePrimary? = nil,
                persistMap: @escaping @Sendable (ShardMap) -> Void = { _ in }) {
        precondition(primary == nil || primary!.store === store, "the primary must wrap the coordinator's store")
        self.persistMap = persistMap
        self.name = name
        self.store = store
        let primary = primary ?? StorePrimary(store: store, caller: nil, standby: nil)
        self.primary = primary
        replicationHealth = Mutex(ReplicationStatus(primary: primary))
        self.directory = directory
        self.caller = caller
        self.options = options
        var logger = logger
        logger[metadataKey: "node"] = .string(name)
        self.logger = logger
        var initial = State(map: map, serving: Array(repeating: [], count: map.shardCount))
        // Holds are durable: a restarted coordinator (or one on a promoted standby's files)
        // reports those it finds. A count that cannot be read shows as 0 until the next hold
        // or decision refreshes it; the holds themselves stay in the store.
        do { initial.heldCount = try store.heldEnrollmentCount() } catch {
            logger.error("held enrollments not counted", metadata: ["error": "\(error)"])
        }
        state = Mutex(initial)
    }

    // MARK: Introspection

    public var map: ShardMap { state.withLock { $0.map } }
    public var serving: [[String]] { state.withLock { $0.serving } }
    /// The enrollments waiting for adjudication, from the store (oldest first).
    public func heldEnrollments() throws -> [TanbaStore.HeldEnrollment] { try store.heldEnrollments() }
    /// Shards with no serving replica: searches are partial until they are reloaded.
    public var unservedShards: [UInt16] { state.withLock { s in s.map.allShards.filter { s.serving[Int($0)].isEmpty } } }
    /// Every shard served and, with a synchronous standby, the standby in step (otherwise
    /// no write could be acknowledged).
    public var isReady: Bool { unservedShards.isEmpty && replicationStatus.writable }
    public var pendingJobs: Int { state.withLock { $0.heldCount } + max(0, inFlight.load(ordering: .relaxed)) }
    private var uptime: UInt64 { UInt64((ContinuousClock.now - started).milliseconds) }

    // MARK: Requests

    /// The handler for `SignedService` without request IDs: answers are not kept in the
    /// store (only the service's in-memory cache de-duplicates). Production uses
    /// `handle(context:message:)`.
    public func handle(sender: String, message: WireMessage) async -> WireMessage {
        await handle(sender: sender, context: nil, message: message)
    }

    /// The handler for `SignedService.withContext`: the first answer to ENROLL, UPDATE,
    /// DELETE and CONSENT is kept in the store with the change it answers, so a retry after
    /// a coordinator restart gets it and is never executed twice.
    public func handle(context: RequestContext, message: WireMessage) async -> WireMessage {
        await handle(sender: context.sender, context: context, message: message)
    }

    private func handle(sender: String, context: RequestContext?, message: WireMessage) async -> WireMessage {
        inFlight.add(1, ordering: .relaxed)
        let start = ContinuousClock.now
        let answer = await respond(sender: sender, message: message, context: context)
        inFlight.subtract(1, ordering: .relaxed)
        var failed = false
        if case .error(let code, let text) = answer {
            failed = true
            logger.notice("request failed", metadata: ["sender": .string(sender), "type": .string(message.type.metricName),
                                                       "code": "\(code.rawValue)", "error": .string(text)])
        }
        if case .identifyAnswer(let a) = answer, a.coverage.isPartial { metrics.increment("partial_answer") }
        metrics.observe(operation: message.type.metricName, seconds: (ContinuousClock.now - start).seconds, failed: failed)
        return answer
    }

    func respond(sender: String, message: WireMessage, context: RequestContext? = nil) async -> WireMessage {
        let actor = Actor(login: sender, role: "station", basis: "public-service")
        do {
            var answering: Answering? = nil
            switch message {
            case .enroll, .update, .delete, .consent, .adjudicate:
                if let context {
                    if let kept = try await keptAnswer(context, message: message, actor: actor) { return kept }
                    answering = Answering(context: context)
                }
            default: break
            }
            switch message {
            case .enroll(let r): return try await enroll(r, sender: sender, actor: actor, answering: answering)
            case .identify(let r): return try await identify(r, sender: sender)
            case .verify(let r): return try await verify(r, sender: sender)
            case .viewRecord(let r): return try await viewRecord(r, sender: sender)
            case .login(let m): return try await handleLogin(m, sender: sender)
            case .update(let r): return try await update(r, sender: sender, actor: actor, answering: answering)
            case .delete(let r): return try await delete(r, sender: sender, actor: actor, answering: answering)
            case .consent(let r): return try await recordConsent(r, sender: sender, actor: actor, answering: answering)
            case .adjudicate(let r): return try await adjudicate(r, sender: sender, answering: answering)
            // Requests that change nothing are audited too: who asked what, when [LEX 37, 38].
            case .ping(let nonce):
                _ = try await audit(actor, operation: "ping", result: "ok")
                return .pong(nonce: nonce, uptimeMilliseconds: uptime)
            case .pendingJobs:
                let count = UInt32(max(0, pendingJobs - 1))
                _ = try await audit(actor, operation: "pending-jobs", result: "ok: \(count)")
                return .pendingJobsAnswer(count: count)
            case .referenceCount:
                _ = try await audit(actor, operation: "reference-count", result: "ok: \(directory.count) persons")
                return .referenceCountAnswer(persons: UInt64(directory.count), fingers: UInt64(directory.fingers),
                                             coverage: ShardCoverage(contributed: map.allShards))
            case .status:
                let ready = isReady
                _ = try await audit(actor, operation: "status", result: ready ? "ok: ready" : "ok: not ready")
                return .statusAnswer(StatusAnswer(role: .coordinator, ready: ready, uptimeMilliseconds: uptime,
                                                  shards: map.allShards, persons: UInt64(directory.count),
                                                  pendingJobs: UInt32(max(0, pendingJobs - 1))))
            case .cluster(.admin(let r)):
                guard options.admins.contains(sender) else {
                    logger.warning("admin request refused", metadata: ["sender": .string(sender)])
                    _ = try await audit(Actor(login: sender, role: "station", basis: "operations"), operation: "cluster-\(r.action)",
                                        result: "refused: not a cluster administrator")
                    return .error(code: .unauthenticated, message: "\(sender) is not a cluster administrator")
                }
                return await performAdmin(r, by: sender)
            default:
                _ = try await audit(actor, operation: message.type.metricName, result: "refused: not served by the coordinator")
                return .error(code: .unsupported, message: "the coordinator does not serve \(message.type)")
            }
        } catch let e as CoordinatorError {
            return .error(code: e.code, message: e.description)
        } catch let e as AdjudicationError {
            return .error(code: e == .notHeld ? .notFound : .alreadyEnrolled, message: e.description)
        } catch let e as StoreError {
            switch e {
            case .alreadyEnrolled: return .error(code: .alreadyEnrolled, message: e.description)
            case .notEnrolled: return .error(code: .notFound, message: e.description)
            default: return .error(code: .invalidArgument, message: e.description)
            }
        } catch {
            logger.error("internal error", metadata: ["error": "\(error)"])
            return .error(code: .internal, message: "internal error: \(error)")
        }
    }

    struct CoordinatorError: Error, CustomStringConvertible {
        var code: WireErrorCode
        var description: String
    }

    /// Appends an audit entry (an SQLite commit) off the cooperative pool.
    func audit(_ actor: Actor, operation: String, subject: IIN? = nil, result: String) async throws -> Int64 {
        try await Offload.run { try self.store.record(actor, operation: operation, subject: subject, result: result) }
    }

    // MARK: Thresholds

    /// Fused-score threshold for a target FPIR: with N persons, FPIR ≈ N × FMR per
    /// comparison, so the per-comparison FMR is FPIR / N, clamped to ScoreScale's calibrated
    /// range (the strictest calibrated point is 1e-4; see docs/cluster.md).
    public func threshold(forFPIR fpir: Double) -> Float {
        let n = Double(max(1, directory.count))
        return ScoreScale.threshold(forFMR: max(fpir / n, ScoreScale.calibration.last!.fmr))
    }

    // MARK: ENROLL

    func enroll(_ r: EnrollRequest, sender: String, actor: Actor, answering: Answering? = nil) async throws -> WireMessage {
        if let current = try await Offload.run({ try self.store.currentEnrollment(iin: r.iin) }) {
            guard current.record == r.record else {
                _ = try await audit(actor, operation: "enroll", subject: r.iin, result: "refused: already enrolled (re-enrollment is UPDATE)")
                return .enrollAnswer(EnrollAnswer(outcome: .alreadyEnrolled, coverage: .none))
            }
            // The same record is on record: a retry of an enrollment that was committed but
            // whose answer was lost or not acknowledged (standby unreachable). Acknowledged
            // once the standby holds it; never a second copy.
            _ = try await audit(actor, operation: "enroll", subject: r.iin, result: "ok: already on record (retry acknowledged)")
            try await acknowledgeWrite("enrollment")
            let pushed = await push(iin: r.iin, record: r.record)
            return .enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: pushed))
        }
        // Already held for adjudication: the examiner decides first. A retry (or a second
        // capture) gets the same answer; nothing new is held.
        if let held = try await Offload.run({ try self.store.heldEnrollment(iin: r.iin) }) {
            _ = try await audit(actor, operation: "enroll", subject: r.iin,
                                result: "held for adjudication: already held since \(held.heldAt)")
            try await acknowledgeWrite("held enrollment")
            return .enrollAnswer(EnrollAnswer(outcome: .heldForAdjudication, possibleDuplicates: held.candidates.compactMap(\.wire),
                                              coverage: ShardCoverage(contributed: map.allShards)))
        }
        let basis = try await lawfulBasis(iin: r.iin, record: r.record, exceptions: r.exceptions, sender: sender, actor: actor,
                                          operation: "enroll", today: options.today())
        let (duplicates, coverage) = await possibleDuplicates(of: r.record, enrolledAs: r.iin)
        guard !coverage.isPartial else {
            _ = try await audit(actor, operation: "enroll", subject: r.iin, result: "refused: de-duplication incomplete, missing shards \(coverage.missing)")
            throw CoordinatorError(code: .unavailable,
                                   message: "de-duplication could not search shards \(coverage.missing); nothing was enrolled, retry later")
        }
        if !duplicates.isEmpty {
            // Held in the store (sealed, replicated, with its audit entry and the answer):
            // it survives a restart and a failover, and only an examiner's ADJUDICATE ends it.
            let answer = WireMessage.enrollAnswer(EnrollAnswer(outcome: .heldForAdjudication, possibleDuplicates: duplicates, coverage: coverage))
            let hold = TanbaStore.HeldEnrollment(iin: r.iin, record: r.record, exceptions: r.exceptions, station: sender,
                                                 candidates: duplicates.map(HeldCandidate.init))
            try await Offload.run { try self.store.holdEnrollment(hold, by: actor, answering: answering?.keep(answer)) }
            await refreshHeldCount()
            metrics.increment("enroll_held")
            logger.info("enrollment held for adjudication", metadata: ["duplicates": "\(duplicates.count)"])
            try await acknowledgeWrite("held enrollment")
            return answer
        }
        let enrollment = Enrollment(record: r.record, missing: basis.missing, capture: basis.capture)
        // Kept with the enrollment; the coverage is amended once the workers answered.
        let provisional = WireMessage.enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: ShardCoverage(contributed: [map.shard(of: r.iin)])))
        try await Offload.run {
            try self.store.enroll(basis.identity, iin: r.iin, enrollment: enrollment, consent: basis.consent, by: actor,
                                  answering: answering?.keep(provisional))
            try self.directory.insert(r.iin, fingers: r.record.views.count)
        }
        // Workers get the record even if the standby then fails: they mirror what the
        // primary committed, so later de-duplications see this person.
        let pushed = await push(iin: r.iin, record: r.record)
        let answer = WireMessage.enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: pushed))
        await amendKeptAnswer(answering, provisional: provisional, final: answer)
        try await acknowledgeWrite("enrollment")
        return answer
    }

    // MARK: IDENTIFY / VERIFY

    func identify(_ r: IdentifyRequest, sender: String) async throws -> WireMessage {
        let gate = try await authorize(.identify, requester: r.requester, sender: sender, subject: nil)
        let fpir = r.targetFPIR > 0 ? r.targetFPIR : options.defaultFPIR
        let threshold = threshold(forFPIR: fpir)
        let (all, coverage) = await scatterSearch(r.probe, limit: r.topK)
        let candidates = Array(all.filter { $0.fusedScore >= threshold }.prefix(r.topK))
        _ = try await audit(gate.actor, operation: "identify", result: gate.result(
            "\(candidates.count) candidates\(coverage.isPartial ? ", partial: missing shards \(coverage.missing)" : "")"))
        return .identifyAnswer(IdentifyAnswer(candidates: candidates, threshold: threshold, coverage: coverage))
    }

    func verify(_ r: VerifyRequest, sender: String) async throws -> WireMessage {
        let gate = try await authorize(.verify, requester: r.requester, sender: sender, subject: r.claimedIIN)
        let actor = gate.actor
        guard directory.contains(r.claimedIIN) else {
            _ = try await audit(actor, operation: "verify", subject: r.claimedIIN, result: gate.result("not enrolled"))
            throw CoordinatorError(code: .notFound, description: "no enrolled person has IIN \(r.claimedIIN)")
        }
        let shard = map.shard(of: r.claimedIIN)
        let threshold = ScoreScale.threshold(forFMR: options.verifyFMR)
        let request = WireMessage.cluster(.shardVerify(ShardVerify(shard: shard, subject: ShardMap.subject(of: r.claimedIIN), probe: r.probe)))
        let answer: ShardVerifyAnswer? = await askReplicas(shard: shard) { message in
            if case .cluster(.shardVerifyAnswer(let a)) = message, a.coverage.contributed.contains(shard) { return a }
            return nil
        } request: { request }
        guard let answer else {
            _ = try await audit(actor, operation: "verify", subject: r.claimedIIN, result: gate.result("partial: shard \(shard) unavailable"))
            return .verifyAnswer(VerifyAnswer(isMatch: false, fusedScore: 0, fingerScores: [], threshold: threshold,
                                              coverage: ShardCoverage(missing: [shard])))
        }
        let isMatch = answer.found && answer.fusedScore >= threshold
        _ = try await audit(actor, operation: "verify", subject: r.claimedIIN, result: gate.result(isMatch ? "match" : "no match"))
        return .verifyAnswer(VerifyAnswer(isMatch: isMatch, fusedScore: answer.fusedScore, fingerScores: answer.fingerScores,
                                          threshold: threshold, coverage: ShardCoverage(contributed: [shard])))
    }

    /// Searches every shard (one request per shard, replica retry) and merges the hits.
    func scatterSearch(_ probe: FingerprintRecord, limit: Int) async -> ([TanbaWire.Candidate], ShardCoverage) {
        let shards = map.allShards
        let penetration = options.penetration
        let results = await withTaskGroup(of: (UInt16, [ShardHit]?).self) { group in
            for shard in shards {
                group.addTask {
                    let request = WireMessage.cluster(.shardSearch(ShardSearch(shards: [shard], probe: probe, limit: limit,
                                                                               penetration: penetration)))
                    let hits: [ShardHit]? = await self.askReplicas(shard: shard) { message in
                        if case .cluster(.shardSearchAnswer(let a)) = message, a.coverage.contributed.contains(shard) { return a.hits }
                        return nil
                    } request: { request }
                    return (shard, hits)
                }
            }
            var out: [(UInt16, [ShardHit]?)] = []
            for await r in group { out.append(r) }
            return out
        }
        var contributed: [UInt16] = [], missing: [UInt16] = [], candidates: [TanbaWire.Candidate] = []
        for (shard, hits) in results.sorted(by: { $0.0 < $1.0 }) {
            guard let hits else { missing.append(shard); continue }
            contributed.append(shard)
            for h in hits {
                // Only persons enrolled now: a replica that missed a deletion never resurrects one.
                guard let iin = ShardMap.iin(ofSubject: h.subject), directory.contains(iin) else { continue }
                candidates.append(TanbaWire.Candidate(iin: iin, fusedScore: h.fusedScore, fingerScores: h.fingerScores))
            }
        }
        candidates.sort { $0.fusedScore != $1.fusedScore ? $0.fusedScore > $1.fusedScore : $0.iin < $1.iin }
        if !missing.isEmpty {
            logger.warning("partial answer", metadata: ["missing_shards": "\(missing)"])
        }
        return (Array(candidates.prefix(limit)), ShardCoverage(contributed: contributed, missing: missing))
    }

    /// Asks the shard's serving replicas in turn (rotated per request, suspects last) until
    /// one gives an acceptable answer. A replica that says it does not serve the shard is
    /// taken out of service (reloaded by `reconcile`); one that fails is suspected a while.
    func askReplicas<T>(shard: UInt16, accept: (WireMessage) -> T?, request: () -> WireMessage) async -> T? {
        let now = ContinuousClock.now
        let (order, addresses) = state.withLock { s -> ([String], [String: String]) in
            var list = s.serving[Int(shard)]
            if !list.isEmpty {
                s.rotation &+= 1
                let k = s.rotation % list.count
                list = Array(list[k...] + list[..<k])
            }
            let healthy = list.filter { (s.suspects[$0] ?? now) <= now }
            let suspect = list.filter { (s.suspects[$0] ?? now) > now }
            var addresses: [String: String] = [:]
            for w in s.map.workers { addresses[w.name] = w.address }
            return (healthy + suspect, addresses)
        }
        for (attempt, worker) in order.enumerated() {
            guard let address = addresses[worker] else { continue }
            if attempt > 0 { metrics.increment("replica_retry") }
            do {
                let answer = try await caller.call(request(), to: worker, at: address, deadline: options.shardDeadline)
                if let value = accept(answer) {
                    state.withLock { _ = $0.suspects.removeValue(forKey: worker) }
                    return value
                }
                logger.warning("replica does not serve its shard; taken out of service",
                               metadata: ["shard": "\(shard)", "worker": .string(worker)])
                takeOutOfService(Replica(shard: shard, worker: worker))
            } catch {
                logger.warning("replica failed", metadata: ["shard": "\(shard)", "worker": .string(worker), "error": "\(error)"])
                metrics.increment("replica_failure")
                state.withLock { $0.suspects[worker] = ContinuousClock.now + options.suspectFor }
            }
        }
        return nil
    }

    private func takeOutOfService(_ replica: Replica) {
        state.withLock { s in s.serving[Int(replica.shard)].removeAll { $0 == replica.worker } }
        metrics.increment("replica_out_of_service")
    }

    // MARK: UPDATE / DELETE

    func update(_ r: UpdateRequest, sender: String, actor: Actor, answering: Answering? = nil) async throws -> WireMessage {
        guard let current = try await Offload.run({ try self.store.currentEnrollment(iin: r.iin) }) else {
            _ = try await audit(actor, operation: "reenroll", subject: r.iin, result: "refused: not enrolled")
            throw StoreError.notEnrolled
        }
        // A retry of an update already committed (same record current) changes nothing.
        let isRetry = current.record == r.record
        if isRetry {
            _ = try await audit(actor, operation: "reenroll", subject: r.iin, result: "ok: already current (retry acknowledged)")
        }
        let provisional = WireMessage.updateAnswer(archivedPrevious: true, coverage: ShardCoverage(contributed: [map.shard(of: r.iin)]))
        if !isRetry {
            let basis = try await lawfulBasis(iin: r.iin, record: r.record, exceptions: r.exceptions, sender: sender, actor: actor,
                                              operation: "reenroll", today: options.today())
            // Re-enrollment needs fresh written consent, not the first enrollment's [BIO 8].
            if try await Offload.run({ try self.store.consents(iin: r.iin) }).contains(where: { $0.signed?.id == basis.documentID }) {
                _ = try await audit(actor, operation: "reenroll", subject: r.iin, result: "refused: consent reused")
                throw CoordinatorError(code: .consentRequired, description: RuleViolation.reenrollmentConsentReused.description
                                       + "; nothing was stored")
            }
            let enrollment = Enrollment(record: r.record, missing: basis.missing, capture: basis.capture)
            try await Offload.run {
                try self.store.reenroll(iin: r.iin, enrollment: enrollment, consent: basis.consent, by: actor,
                                        answering: answering?.keep(provisional))
            }
        }
        try await Offload.run {
            try self.directory.insert(r.iin, fingers: r.record.views.count)
        }
        let pushed = await push(iin: r.iin, record: r.record)
        let answer = WireMessage.updateAnswer(archivedPrevious: true, coverage: pushed)
        if !isRetry { await amendKeptAnswer(answering, provisional: provisional, final: answer) }
        try await acknowledgeWrite("re-enrollment")
        return answer
    }

    func delete(_ r: DeleteRequest, sender: String, actor: Actor, answering: Answering? = nil) async throws -> WireMessage {
        let request = DeletionRequest(requestedBy: sender, branch: options.branch, basis: r.reason)
        let shard = map.shard(of: r.iin)
        // Whether someone is deleted is known only inside the store's transaction: the kept
        // answer is the one for "deleted" when the person is enrolled now (checked under the
        // same lock by `Store.delete`); amended below if that turned out otherwise.
        let provisional = WireMessage.deleteAnswer(deleted: directory.contains(r.iin), coverage: ShardCoverage(contributed: [shard]))
        let deleted = try await Offload.run {
            let deleted = try self.store.delete(iin: r.iin, request: request, by: actor, answering: answering?.keep(provisional))
            try self.directory.remove(r.iin)
            return deleted
        }
        await refreshHeldCount()   // the IIN's held enrollments went with it
        let pushed = await push(iin: r.iin, record: nil)
        let answer = WireMessage.deleteAnswer(deleted: deleted, coverage: pushed)
        await amendKeptAnswer(answering, provisional: provisional, final: answer)
        try await acknowledgeWrite("deletion")
        return answer
    }

    /// Sends an upsert (or, with nil, a removal) to every replica of the person's shard,
    /// loading ones included. A serving replica that misses it is taken out of service.
    func push(iin: IIN, record: FingerprintRecord?) async -> ShardCoverage {
        let shard = map.shard(of: iin)
        let subject = ShardMap.subject(of: iin)
        let (targets, addresses) = state.withLock { s -> ([String], [String: String]) in
            var t = s.serving[Int(shard)]
            for replica in s.loading where replica.shard == shard {
                s.dirty[replica, default: []].insert(iin)
                if !t.contains(replica.worker) { t.append(replica.worker) }
            }
            var addresses: [String: String] = [:]
            for w in s.map.workers { addresses[w.name] = w.address }
            return (t, addresses)
        }
        let message: WireMessage = record.map { .cluster(.shardUpsert(shard: shard, entry: ShardEntry(subject: subject, record: $0))) }
            ?? .cluster(.shardRemove(shard: shard, subject: subject))
        var succeeded = 0
        await withTaskGroup(of: (String, Bool).self) { group in
            for worker in targets {
                guard let address = addresses[worker] else { continue }
                group.addTask {
                    do {
                        _ = try await self.caller.call(message, to: worker, at: address, deadline: self.options.shardDeadline)
                        return (worker, true)
                    } catch {
                        return (worker, false)
                    }
                }
            }
            for await (worker, ok) in group {
                if ok { succeeded += 1; continue }
                logger.warning("replica missed a write; taken out of service until reloaded",
                               metadata: ["shard": "\(shard)", "worker": .string(worker)])
                takeOutOfService(Replica(shard: shard, worker: worker))
            }
        }
        return succeeded > 0 ? ShardCoverage(contributed: [shard]) : ShardCoverage(missing: [shard])
    }

    /// 1:N de-duplication of a record to be enrolled under `iin`: the gallery's candidates
    /// at or above the duplicate threshold, other than `iin` itself. The caller refuses to
    /// enroll on a partial coverage (never enroll on an incomplete search).
    func possibleDuplicates(of record: FingerprintRecord, enrolledAs iin: IIN) async -> (duplicates: [TanbaWire.Candidate], coverage: ShardCoverage) {
        let threshold = options.duplicateThreshold ?? threshold(forFPIR: options.defaultFPIR)
        let (candidates, coverage) = await scatterSearch(record, limit: 10)
        return (candidates.filter { $0.fusedScore >= threshold && $0.iin != iin }, coverage)
    }

    // MARK: Loading, reconciliation, scaling

    /// Loads `shard` onto `worker` from the store: an empty reset batch, then the persons
    /// in batches, then writes that happened meanwhile, then the worker serves it.
    func load(shard: UInt16, to worker: String) async throws {
        let replica = Replica(shard: shard, worker: worker)
        let (address, version, count) = state.withLock { s in (s.map.worker(named: worker)?.address, s.map.version, s.map.shardCount) }
        guard let address else { throw CoordinatorError(code: .notFound, description: "unknown worker \(worker)") }
        func send(_ batch: [ShardEntry], reset: Bool, complete: Bool) async throws {
            _ = try await caller.call(.cluster(.shardLoad(ShardLoad(mapVersion: version, shard: shard, reset: reset, complete: complete,
                                                                    entries: batch))),
                                      to: worker, at: address, deadline: options.loadDeadline)
        }
        let start = ContinuousClock.now
        guard state.withLock({ $0.claimed.insert(replica).inserted }) else {
            throw CoordinatorError(code: .overloaded, description: "shard \(shard) is already being loaded onto \(worker)")
        }
        defer { state.withLock { s in s.claimed.remove(replica); s.loading.remove(replica); s.dirty[replica] = nil } }
        try await send([], reset: true, complete: false)
        state.withLock { s in
            s.loading.insert(replica)
            s.dirty[replica] = []
        }
        let directory = directory
        let reader = ShardReader(store: store, shard: shard, shardCount: count, batchBytes: options.loadBatchBytes) {
            directory.contains($0)
        }
        var persons = 0
        for try await batch in reader.batches() {
            try await send(batch, reset: false, complete: false)
            persons += batch.count
            reader.sent()
        }
        // Writes made while loading: re-sent from the store's current state.
        while let dirty = state.withLock({ s -> Set<IIN>? in
            let d = s.dirty[replica] ?? []
            s.dirty[replica] = []
            return d.isEmpty ? nil : d
        }) {
            for iin in dirty {
                let message: WireMessage
                if directory.contains(iin), let record = try await Offload.run({ try self.store.currentEnrollment(iin: iin)?.record }) {
                    message = .cluster(.shardUpsert(shard: shard, entry: ShardEntry(subject: ShardMap.subject(of: iin), record: record)))
                } else {
                    message = .cluster(.shardRemove(shard: shard, subject: ShardMap.subject(of: iin)))
                }
                _ = try await caller.call(message, to: worker, at: address, deadline: options.shardDeadline)
            }
        }
        try await send([], reset: false, complete: true)
        state.withLock { s in
            if !s.serving[Int(shard)].contains(worker) { s.serving[Int(shard)].append(worker) }
            s.suspects[worker] = nil
        }
        metrics.increment("shard_load")
        logger.info("shard loaded onto worker", metadata: ["shard": "\(shard)", "worker": .string(worker), "persons": "\(persons)",
                                                           "ms": "\((ContinuousClock.now - start).milliseconds)"])
    }

    /// Brings every placed replica into service: asks each worker what it serves, takes out
    /// of service replicas the worker no longer has (it restarted), and loads every placed
    /// replica that is not serving. Returns the replicas loaded. Run at start and
    /// periodically; tests call it directly.
    @discardableResult
    public func reconcile() async -> Int {
        await refreshReplication()
        await pruneKeptAnswersIfDue()
        let (map, serving, loading) = state.withLock { ($0.map, $0.serving, $0.loading) }
        // One task per worker (a worker's own replicas one after another): a restarted
        // worker's reload does not queue behind another worker's, and with a large gallery
        // the coordinator's store reads overlap the workers' indexing (a 100,000-person
        // start loads 16 replicas of 125,000 fingers each).
        return await withTaskGroup(of: Int.self) { group in
            for worker in map.workers {
                group.addTask { await self.reconcile(worker: worker, map: map, serving: serving, loading: loading) }
            }
            return await group.reduce(0, +)
        }
    }

    private func reconcile(worker: ShardMap.Worker, map: ShardMap, serving: [[String]], loading: Set<Replica>) async -> Int {
        let placed = map.shards(on: worker.name)
        guard !placed.isEmpty else { return 0 }
        let served: [UInt16]
        do {
            guard case .statusAnswer(let status) = try await caller.call(.status, to: worker.name, at: worker.address,
                                                                           deadline: options.shardDeadline) else { return 0 }
            served = status.shards
            if let since = state.withLock({ $0.unreachableSince.removeValue(forKey: worker.name) }) {
                logger.notice("worker answers again", metadata: ["worker": .string(worker.name),
                                                                 "unreachable_ms": "\((ContinuousClock.now - since).milliseconds)"])
            }
        } catch {
            let now = ContinuousClock.now
            let lost = state.withLock { s -> [UInt16] in
                s.suspects[worker.name] = now + options.suspectFor
                let since = s.unreachableSince[worker.name] ?? now
                s.unreachableSince[worker.name] = since
                guard now - since >= options.outOfServiceAfter else { return [] }
                return placed.filter { s.serving[Int($0)].contains(worker.name) }
            }
            if !lost.isEmpty {
                for shard in lost { takeOutOfService(Replica(shard: shard, worker: worker.name)) }
                logger.warning("worker unreachable: its replicas are out of service until it answers and reloads them",
                               metadata: ["worker": .string(worker.name), "shards": "\(lost)",
                                          "unreachable_for": "\(options.outOfServiceAfter)", "error": "\(error)"])
            }
            return 0
        }
        let stale = placed.filter { !loading.contains(Replica(shard: $0, worker: worker.name)) && !served.contains($0) }
        // Every replica the worker lost goes out of service now, not when its reload's turn
        // comes (a restarted worker's five reloads take minutes at 100,000 persons).
        for shard in stale where serving[Int(shard)].contains(worker.name) {
            takeOutOfService(Replica(shard: shard, worker: worker.name))
        }
        var loaded = 0
        for shard in placed where !loading.contains(Replica(shard: shard, worker: worker.name)) {
            if !stale.contains(shard) && serving[Int(shard)].contains(worker.name) { continue }
            do {
                try await load(shard: shard, to: worker.name)
                loaded += 1
            } catch {
                logger.warning("shard load failed", metadata: ["shard": "\(shard)", "worker": .string(worker.name), "error": "\(error)"])
            }
        }
        return loaded
    }

    /// Moves to the placement balanced over the active workers: copies each new replica,
    /// switches the map (version + 1), then drops replicas no longer placed. Identification
    /// keeps running throughout: old replicas serve until the switch.
    public func rebalance() async throws {
        let started = state.withLock { s -> Bool in
            if s.rebalancing { return false }
            s.rebalancing = true
            return true
        }
        guard started else { throw CoordinatorError(code: .overloaded, description: "a rebalance is already running") }
        defer { state.withLock { $0.rebalancing = false } }
        let (map, serving) = state.withLock { ($0.map, $0.serving) }
        let target = ShardMap.balance(current: map.placement, shardCount: map.shardCount, replicas: map.replicas,
                                      workers: map.workers.filter { $0.state == .active }.map(\.name))
        var failures = 0
        for shard in map.allShards {
            for worker in target[Int(shard)] where !serving[Int(shard)].contains(worker) {
                do { try await load(shard: shard, to: worker) } catch {
                    failures += 1
                    logger.warning("copy failed", metadata: ["shard": "\(shard)", "worker": .string(worker), "error": "\(error)"])
                }
            }
        }
        // Switch: the new placement; a shard keeps an old replica only if no new one serves.
        let drops = state.withLock { s -> [Replica] in
            s.map.placement = target
            s.map.version += 1
            var drops: [Replica] = []
            for shard in s.map.allShards {
                let i = Int(shard)
                let placedServing = s.serving[i].filter { target[i].contains($0) }
                guard !placedServing.isEmpty else { continue }
                for w in s.serving[i] where !target[i].contains(w) { drops.append(Replica(shard: shard, worker: w)) }
                s.serving[i] = placedServing
            }
            return drops
        }
        persistMap(self.map)
        for d in drops {
            guard let address = self.map.worker(named: d.worker)?.address else { continue }
            _ = try? await caller.call(.cluster(.shardDrop(shard: d.shard)), to: d.worker, at: address, deadline: options.shardDeadline)
        }
        logger.info("rebalanced", metadata: ["map_version": "\(self.map.version)", "copy_failures": "\(failures)",
                                             "dropped": "\(drops.count)"])
    }

    /// Runs an admin action for an already authenticated administrator (a signed request
    /// from a listed admin, or the ops endpoint's bearer token) and returns the answer.
    public func performAdmin(_ r: AdminRequest, by sender: String) async -> WireMessage {
        do {
            return try await admin(r, sender: sender)
        } catch let e as CoordinatorError {
            return .error(code: e.code, message: e.description)
        } catch {
            return .error(code: .internal, message: "internal error: \(error)")
        }
    }

    /// One audit entry per admin request, written once its outcome is known.
    func admin(_ r: AdminRequest, sender: String) async throws -> WireMessage {
        let actor = Actor(login: sender, role: "admin", basis: "operations")
        let what = r.worker.isEmpty ? "" : "worker \(r.worker): "
        do {
            let answer = try await runAdmin(r)
            let status = status()
            _ = try await audit(actor, operation: "cluster-\(r.action)",
                                result: "ok: \(what)map version \(status.mapVersion), \(status.unservedShards.count) shards unserved")
            return answer
        } catch {
            _ = try? await audit(actor, operation: "cluster-\(r.action)", result: "failed: \(what)\(error)")
            throw error
        }
    }

    private func runAdmin(_ r: AdminRequest) async throws -> WireMessage {
        switch r.action {
        case .status:
            break
        case .reconcile:
            await reconcile()
        case .addWorker:
            guard !r.worker.isEmpty, !r.address.isEmpty else {
                throw CoordinatorError(code: .invalidArgument, description: "add-worker needs a name and an address")
            }
            state.withLock { s in
                if let i = s.map.workers.firstIndex(where: { $0.name == r.worker }) {
                    s.map.workers[i].address = r.address
                    s.map.workers[i].state = .active
                } else {
                    s.map.workers.append(ShardMap.Worker(name: r.worker, address: r.address))
                }
            }
            try await rebalance()
        case .drain, .removeWorker:
            let known = state.withLock { s -> Bool in
                guard let i = s.map.workers.firstIndex(where: { $0.name == r.worker }) else { return false }
                s.map.workers[i].state = .draining
                return true
            }
            guard known else { throw CoordinatorError(code: .notFound, description: "unknown worker \(r.worker)") }
            try await rebalance()
            if r.action == .removeWorker {
                let stillServing = state.withLock { s in s.serving.contains { $0.contains(r.worker) } }
                if stillServing {
                    throw CoordinatorError(code: .unavailable,
                                           description: "\(r.worker) still serves shards no other worker could take; it stays drained")
                }
                state.withLock { s in s.map.workers.removeAll { $0.name == r.worker } }
                persistMap(map)
            }
        }
        return .cluster(.adminAnswer(document: statusDocument()))
    }

    // MARK: Status

    public struct StatusDocument: Codable, Sendable {
        public struct WorkerStatus: Codable, Sendable {
            public var name: String
            public var address: String
            public var state: String
            public var placed: [UInt16]
            public var serving: [UInt16]
            /// Whether the worker answered the coordinator's last status call.
            public var reachable: Bool
            /// How long it has failed status calls (nil when reachable).
            public var unreachableForMs: Int?
        }
        public var node: String
        public var ready: Bool
        public var mapVersion: UInt64
        public var shardCount: Int
        public var replicas: Int
        public var persons: Int
        public var fingers: Int
        public var heldEnrollments: Int
        public var unservedShards: [UInt16]
        public var workers: [WorkerStatus]
        /// The store's replication: mode, synchronous standby state, last failure.
        public var replication: ReplicationStatus
    }

    public func status() -> StatusDocument {
        let replication = replicationStatus
        let now = ContinuousClock.now
        return state.withLock { s in
            StatusDocument(
                node: name, ready: replication.writable && s.map.allShards.allSatisfy { !s.serving[Int($0)].isEmpty },
                mapVersion: s.map.version,
                shardCount: s.map.shardCount, replicas: s.map.replicas, persons: directory.count, fingers: directory.fingers,
                heldEnrollments: s.heldCount,
                unservedShards: s.map.allShards.filter { s.serving[Int($0)].isEmpty },
                workers: s.map.workers.map { w in
                    StatusDocument.WorkerStatus(name: w.name, address: w.address, state: w.state.rawValue,
                                                placed: s.map.shards(on: w.name),
                                                serving: s.map.allShards.filter { s.serving[Int($0)].contains(w.name) },
                                                reachable: s.unreachableSince[w.name] == nil,
                                                unreachableForMs: s.unreachableSince[w.name].map { Int((now - $0).milliseconds) })
                },
                replication: replication)
        }
    }

    public func statusDocument() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(status())) ?? Data(), as: UTF8.self)
    }
}

extension Coordinator.CoordinatorError {
    init(code: WireErrorCode, message: String) { self.init(code: code, description: message) }
}
