import Foundation
import TanbaCore
import TanbaStore
import TanbaWire

/// Enrollments held for adjudication (possible duplicates) and the examiners' decisions.
///
/// A hold is a store row (`held_enrollments`, schema v6), sealed and replicated like every
/// other record, so it survives a restart of the coordinator and a promotion of its
/// standby. ADJUDICATE (0x0C) from a listed examiner ends it: accept enrolls the person as
/// a new person (the consent and rules are checked again as of now), reject discards the
/// templates and keeps the decision without biometrics. One audit entry each.
extension Coordinator {
    func refreshHeldCount() async {
        do {
            let count = try await Offload.run { try self.store.heldEnrollmentCount() }
            state.withLock { $0.heldCount = count }
        } catch {
            logger.warning("held enrollments not counted", metadata: ["error": "\(error)"])
        }
    }

    func adjudicate(_ r: AdjudicateRequest, sender: String, answering: Answering?) async throws -> WireMessage {
        let subject = r.action.iin
        let operation = r.action == .list ? "adjudicate-list" : "adjudicate"
        guard options.examiners.contains(sender) else {
            _ = try await audit(Actor(login: sender, role: "station", basis: "adjudication"), operation: operation, subject: subject,
                                result: "refused: \(sender) is not an examiner's node")
            throw CoordinatorError(code: .unauthenticated, description: "\(sender) may not adjudicate: not listed in the coordinator's examiners")
        }
        let examiner = r.examiner.trimmingCharacters(in: .whitespaces)
        // The examiner's login is what the decision is recorded under; the signing node
        // vouches for it (the examiners' workstations are listed one by one).
        let actor = Actor(login: examiner.isEmpty ? sender : examiner, role: "examiner", basis: "adjudication")
        func refuse(_ code: WireErrorCode, _ why: String) async throws -> Never {
            _ = try await audit(actor, operation: operation, subject: subject, result: "refused: \(why)")
            throw CoordinatorError(code: code, description: "\(why); nothing was decided")
        }
        if examiner.isEmpty { try await refuse(.invalidArgument, "the examiner's login is empty") }

        switch r.action {
        case .list:
            let held = try await Offload.run { try self.store.heldEnrollments() }
            _ = try await audit(actor, operation: operation, result: "ok: \(held.count) held")
            return .adjudicateAnswer(AdjudicateAnswer(outcome: .listed, pending: UInt32(held.count),
                                                      items: held.prefix(AdjudicateAnswer.maximumItems).map(\.item)))

        case .accept(let iin, let reason), .reject(let iin, let reason):
            let accept = if case .accept = r.action { true } else { false }
            if reason.trimmingCharacters(in: .whitespaces).isEmpty {
                try await refuse(.invalidArgument, "a decision needs a reason")
            }
            guard let hold = try await Offload.run({ try self.store.heldEnrollment(iin: iin) }) else {
                try await refuse(.notFound, "no enrollment is held for adjudication under IIN \(iin)")
            }
            let decision = AdjudicationDecision(outcome: accept ? .accepted : .rejected, examiner: actor.login, reason: reason)
            if accept {
                return try await acceptHold(hold, decision: decision, actor: actor, answering: answering)
            }
            let answer = WireMessage.adjudicateAnswer(AdjudicateAnswer(outcome: .discarded, pending: UInt32(max(0, heldCount - 1)),
                                                                       items: [hold.item]))
            try await Offload.run {
                try self.store.adjudicate(iin: iin, decision: decision, person: nil, by: actor, answering: answering?.keep(answer))
            }
            await refreshHeldCount()
            metrics.increment("adjudication_rejected")
            try await acknowledgeWrite("adjudication")
            return answer
        }
    }

    private var heldCount: Int { state.withLock { $0.heldCount } }

    /// Accept: the held person is enrolled as a new person — the consent on record and the
    /// enrollment rules are checked again as of now (the consent may have been revoked while
    /// the enrollment waited), the capture facts are the hold's.
    private func acceptHold(_ hold: TanbaStore.HeldEnrollment, decision: AdjudicationDecision, actor: Actor,
                            answering: Answering?) async throws -> WireMessage {
        let basis = try await lawfulBasis(iin: hold.iin, record: hold.record, exceptions: hold.exceptions, sender: hold.station,
                                          actor: actor, operation: "adjudicate", today: options.today())
        // The examiner compared the hold with the candidates it was held against. Persons
        // enrolled while it waited were never compared: search again, and refuse the
        // acceptance if a possible duplicate the examiner has not seen turns up (or if the
        // search cannot cover every shard) — the hold stays, listed with the new candidates.
        let seen = Set(hold.candidates.map(\.iin))
        let (duplicates, coverage) = await possibleDuplicates(of: hold.record, enrolledAs: hold.iin)
        if coverage.isPartial {
            _ = try await audit(actor, operation: "adjudicate", subject: hold.iin,
                                result: "refused: de-duplication incomplete, missing shards \(coverage.missing)")
            throw CoordinatorError(code: .unavailable, description: "the acceptance's new 1:N search could not reach shards "
                                   + "\(coverage.missing); nothing was decided, retry later")
        }
        let unseen = duplicates.filter { !seen.contains($0.iin.digits) }
        if !unseen.isEmpty {
            let updated = TanbaStore.HeldEnrollment(iin: hold.iin, record: hold.record, exceptions: hold.exceptions,
                                                    station: hold.station,
                                                    candidates: hold.candidates + unseen.map(HeldCandidate.init))
            try await Offload.run {
                try self.store.updateHeldCandidates(updated, by: actor, operation: "adjudicate",
                                                    result: "refused: \(unseen.count) possible duplicates enrolled while it was held; added to the hold")
            }
            try await acknowledgeWrite("held enrollment")
            throw CoordinatorError(code: .holdOutdated, description: "possible duplicates enrolled since the hold was made ("
                                   + unseen.map { "\($0.iin) \(String(format: "%.3f", $0.fusedScore))" }.joined(separator: ", ")
                                   + "): added to the hold; list it again and decide; nothing was enrolled")
        }
        var capture = basis.capture
        capture.capturedAt = hold.heldAt
        let enrollment = Enrollment(record: hold.record, missing: basis.missing, capture: capture)
        let shard = map.shard(of: hold.iin)
        let provisional = WireMessage.adjudicateAnswer(AdjudicateAnswer(outcome: .enrolled, pending: UInt32(max(0, heldCount - 1)),
                                                                        items: [hold.item], coverage: ShardCoverage(contributed: [shard])))
        try await Offload.run {
            try self.store.adjudicate(iin: hold.iin, decision: decision, person: (basis.identity, enrollment, basis.consent),
                                      by: actor, answering: answering?.keep(provisional))
            try self.directory.insert(hold.iin, fingers: hold.record.views.count)
        }
        await refreshHeldCount()
        let pushed = await push(iin: hold.iin, record: hold.record)
        let answer = WireMessage.adjudicateAnswer(AdjudicateAnswer(outcome: .enrolled, pending: UInt32(heldCount), items: [hold.item],
                                                                   coverage: pushed))
        await amendKeptAnswer(answering, provisional: provisional, final: answer)
        metrics.increment("adjudication_accepted")
        try await acknowledgeWrite("adjudication")
        return answer
    }
}

extension HeldCandidate {
    init(_ c: TanbaWire.Candidate) {
        self.init(iin: c.iin.digits, fusedScore: c.fusedScore,
                  fingerScores: c.fingerScores.map { Score(position: $0.position, score: $0.score) })
    }

    /// As on the wire; nil for an IIN that does not parse (the store kept what the wire
    /// delivered, so that means a bug, and such a candidate is left out rather than faked).
    var wire: TanbaWire.Candidate? {
        guard let iin = try? IIN(iin) else { return nil }
        return TanbaWire.Candidate(iin: iin, fusedScore: fusedScore,
                                   fingerScores: fingerScores.map { FingerScore(position: $0.position, score: $0.score) })
    }
}

extension TanbaStore.HeldEnrollment {
    var item: HeldItem { HeldItem(iin: iin, station: station, heldAt: heldAt, candidates: candidates.compactMap(\.wire)) }
}
