import Crypto
import Foundation
import TanbaCore
import TanbaStore
import TanbaWire

/// The coordinator as the lawful system of record: consent on the wire, the enrollment rules
/// checked again before anything is stored, and answers to state-changing requests kept in
/// the store with the change they answer.
extension Coordinator {
    /// What an ENROLL or UPDATE is stored with once its lawful basis is established.
    struct LawfulBasis {
        var identity: PersonIdentity
        var consent: Consent
        var missing: [MissingFinger]
        var capture: CaptureInfo
        var documentID: String
    }

    /// Where a state-changing request came from, so its first answer can be kept durably.
    struct Answering {
        var context: RequestContext
        /// The answer as kept: `answered_requests` is not sealed, so it holds outcomes and
        /// coverage only — the possible duplicates of a held ENROLL and the held items of an
        /// ADJUDICATE answer (other persons' IINs) are left out and, for a held ENROLL,
        /// filled in again from the sealed hold when a retry is answered.
        func keep(_ answer: WireMessage) -> AnsweredRequest {
            var kept = answer
            switch answer {
            case .enrollAnswer(var a): a.possibleDuplicates = []; kept = .enrollAnswer(a)
            case .adjudicateAnswer(var a): a.items = []; kept = .adjudicateAnswer(a)
            default: break
            }
            return AnsweredRequest(sender: context.sender, requestID: context.requestID.bytes, fingerprint: context.fingerprint,
                                   answer: [kept.type.rawValue] + kept.encodedBody())
        }
    }

    // MARK: Durable request IDs

    /// The kept first answer to this request, if it changed the store before (possibly
    /// before a restart). Acknowledged again first: a kept answer whose change the
    /// synchronous standby does not hold yet is not given out.
    /// The retry is audited like any request (one entry): it was asked again, and answered
    /// from the store without running again.
    func keptAnswer(_ context: RequestContext, message: WireMessage, actor: Actor) async throws -> WireMessage? {
        guard let kept = try await Offload.run({ try self.store.answeredRequest(sender: context.sender, requestID: context.requestID.bytes) })
        else { return nil }
        let operation = Self.auditOperation(message), subject = Self.auditSubject(message)
        guard kept.fingerprint == context.fingerprint else {
            _ = try await audit(actor, operation: operation, subject: subject,
                                result: "refused: request ID \(context.requestID) already used for another request")
            throw CoordinatorError(code: .requestIDReused,
                                   description: "request ID \(context.requestID) was already used by \(context.sender) for another request")
        }
        _ = try await audit(actor, operation: operation, subject: subject, result: "ok: retry answered with the kept first answer")
        try await acknowledgeWrite("the change this request made")
        guard let code = kept.answer.first, let type = MessageType(rawValue: code),
              let answer = try? WireMessage.decode(type: type, payload: Array(kept.answer.dropFirst())) else {
            throw CoordinatorError(code: .internal, description: "the kept answer to request \(context.requestID) does not decode")
        }
        metrics.increment("answer_from_store")
        // A held ENROLL's candidates were not kept with the answer: from the hold, while it waits.
        if case .enrollAnswer(var a) = answer, a.outcome == .heldForAdjudication, case .enroll(let r) = message,
           let hold = try await Offload.run({ try self.store.heldEnrollment(iin: r.iin) }) {
            a.possibleDuplicates = hold.candidates.compactMap(\.wire)
            return .enrollAnswer(a)
        }
        return answer
    }

    /// The audit log's name for a state-changing request.
    static func auditOperation(_ message: WireMessage) -> String {
        switch message {
        case .update: "reenroll"
        case .consent(let r): r.action == .granted ? "consent" : "consent-revoke"
        default: message.type.metricName
        }
    }

    static func auditSubject(_ message: WireMessage) -> IIN? {
        switch message {
        case .enroll(let r): r.iin
        case .update(let r): r.iin
        case .delete(let r): r.iin
        case .consent(let r): r.iin
        case .adjudicate(let r): r.action.iin
        default: nil
        }
    }

    /// After the workers were updated: the kept answer gets the coverage actually reached.
    func amendKeptAnswer(_ answering: Answering?, provisional: WireMessage, final: WireMessage) async {
        guard let answering, provisional != final else { return }
        do { try await Offload.run { try self.store.updateAnswer(answering.keep(final)) } } catch {
            logger.warning("kept answer not amended", metadata: ["error": "\(error)"])
        }
    }

    /// Forgets kept answers older than `Options.answerRetentionDays`, at most once an hour
    /// (each pruning is a replicated write).
    func pruneKeptAnswersIfDue() async {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            guard s.answersPrunedAt.map({ now - $0 >= .seconds(3600) }) ?? true else { return false }
            s.answersPrunedAt = now
            return true
        }
        guard due else { return }
        let cutoff = AstanaTime.format(Date().addingTimeInterval(-Double(options.answerRetentionDays) * 86_400))
        do {
            let removed = try await Offload.run { try self.store.pruneAnsweredRequests(before: cutoff) }
            if removed > 0 { logger.info("kept answers pruned", metadata: ["removed": "\(removed)", "before": .string(cutoff)]) }
        } catch {
            logger.warning("kept answers not pruned", metadata: ["error": "\(error)"])
        }
    }

    // MARK: CONSENT

    func recordConsent(_ r: ConsentRequest, sender: String, actor: Actor, answering: Answering?) async throws -> WireMessage {
        guard let raw = caller.keyring.keys[sender], let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
              r.signature.count == 64, key.isValidSignature(r.signature, for: r.document) else {
            _ = try await audit(actor, operation: "consent", subject: r.iin, result: "refused: signature does not verify")
            throw CoordinatorError(code: .badConsentSignature,
                                   description: "the consent document's signature does not verify with \(sender)'s envelope key; nothing was recorded")
        }
        let document: ConsentDocument
        do {
            switch r.action {
            case .granted:
                let record = try JSONDecoder().decode(ConsentRecord.self, from: Data(r.document))
                guard record.canonicalJSON() == r.document else { throw ConsentProblem("the document is not the canonical JSON of a consent record") }
                guard record.subjectIIN == r.iin.digits else { throw ConsentProblem("the document is for IIN \(record.subjectIIN), not \(r.iin)") }
                guard let given = record.calendarDate else { throw ConsentProblem("date \(record.date) is not YYYY-MM-DD") }
                for (field, value) in [("subject name", record.subjectName), ("operator", record.operatorOrganisation),
                                       ("branch", record.branch), ("form reference", record.formReference)]
                where value.trimmingCharacters(in: .whitespaces).isEmpty {
                    throw ConsentProblem("the \(field) is empty [PD 8.4]")
                }
                let term: ConsentTerm
                do { term = try ConsentTerm(record.term) } catch { throw ConsentProblem(error.description) }
                document = ConsentDocument(action: .granted, document: r.document, signature: r.signature, station: sender,
                                           givenOn: given.description, lastDay: term.lastDay(from: given)?.description)
            case .revoked:
                let revocation = try JSONDecoder().decode(ConsentRevocation.self, from: Data(r.document))
                guard revocation.canonicalJSON() == r.document else { throw ConsentProblem("the document is not the canonical JSON of a revocation") }
                guard revocation.subjectIIN == r.iin.digits else { throw ConsentProblem("the revocation is for IIN \(revocation.subjectIIN), not \(r.iin)") }
                guard let date = IIN.BirthDate(iso: revocation.date) else { throw ConsentProblem("date \(revocation.date) is not YYYY-MM-DD") }
                document = ConsentDocument(action: .revoked, document: r.document, signature: r.signature, station: sender,
                                           givenOn: date.description, lastDay: nil)
            }
        } catch let problem as ConsentProblem {
            _ = try await audit(actor, operation: "consent", subject: r.iin, result: "refused: \(problem.description)")
            throw CoordinatorError(code: .invalidArgument, description: "consent refused: \(problem.description); nothing was recorded")
        } catch {
            _ = try await audit(actor, operation: "consent", subject: r.iin, result: "refused: not a consent document")
            throw CoordinatorError(code: .invalidArgument, description: "consent refused: the document does not decode as a \(r.action == .granted ? "consent record" : "revocation") (\(error)); nothing was recorded")
        }
        let recorded = try await Offload.run {
            try self.store.recordConsent(document, iin: r.iin, by: actor, answering: answering?.keep(.consentAnswer(recorded: true)))
        }
        if !recorded {
            // The very same signed document again: nothing written, but the request is logged.
            _ = try await audit(actor, operation: r.action == .granted ? "consent" : "consent-revoke", subject: r.iin,
                                result: "ok: already recorded (re-delivery)")
        }
        try await acknowledgeWrite("consent")
        if recorded { metrics.increment(r.action == .granted ? "consent_granted" : "consent_revoked") }
        return .consentAnswer(recorded: recorded)
    }

    struct ConsentProblem: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    // MARK: Rules before storing

    /// The consent on record and the enrollment rules, checked before an ENROLL or UPDATE
    /// stores anything: a valid consent (not revoked, within its term), the age for the
    /// purpose and the guardian of an incapable person as of the consent's date (the day of
    /// the enrollment at the branch; a queued enrollment may arrive days later), every
    /// finger captured or excepted with a reason, not all without pattern [BIO 3–10].
    func lawfulBasis(iin: IIN, record: FingerprintRecord, exceptions: [FingerException], sender: String,
                     actor: Actor, operation: String, today: IIN.BirthDate) async throws -> LawfulBasis {
        func refuse(_ code: WireErrorCode, _ why: String) async throws -> Never {
            _ = try await audit(actor, operation: operation, subject: iin, result: "refused: \(why)")
            metrics.increment("\(operation)_refused")
            throw CoordinatorError(code: code, description: "\(why); nothing was stored")
        }
        guard let doc = try await Offload.run({ try self.store.latestConsent(iin: iin) }) else {
            try await refuse(.consentRequired, "no written consent on record for IIN \(iin) [BIO 3]: send CONSENT (0x0A) first")
        }
        guard doc.action == .granted else { try await refuse(.consentRequired, RuleViolation.consentRevoked(on: doc.givenOn).description) }
        let form: ConsentRecord
        do { form = try JSONDecoder().decode(ConsentRecord.self, from: Data(doc.document)) } catch {
            try await refuse(.internal, "the consent on record does not decode (\(error))")
        }
        if let last = doc.lastDay, let lastDay = IIN.BirthDate(iso: last), lastDay < today {
            try await refuse(.consentRequired, RuleViolation.consentExpired(term: form.term, lastDay: last).description)
        }
        do {
            let rules = EnrollmentRules(today: form.calendarDate ?? today)
            try rules.checkPerson(try form.subject(), purpose: EnrollmentPurpose(rawValue: form.purpose) ?? .publicServices)
            try rules.checkFingers(captured: record.views.map(\.position), exceptions: exceptions)
        } catch {
            try await refuse(.ruleViolation, error.description)
        }
        let consent = Consent(operatorName: form.operatorOrganisation, operatorBIN: form.operatorBIN, term: form.term,
                              thirdPartyTransfer: form.thirdPartyTransfer, crossBorderTransfer: form.crossBorderTransfer,
                              publication: form.publication, signedAt: form.date, signatureReference: form.formReference,
                              acceptedBy: form.operatorEmployee, document: SignedConsentDocument(
                                  id: form.id, branch: form.branch, station: doc.station, subjectName: form.subjectName,
                                  subjectIIN: form.subjectIIN, document: doc.document, signature: doc.signature))
        return LawfulBasis(
            identity: PersonIdentity(fullName: form.subjectName, iin: iin, guardian: form.guardianName),
            consent: consent,
            missing: exceptions.sorted { $0.position < $1.position }
                .map { MissingFinger(position: $0.position, reason: "\($0.kind.rawValue): \($0.reason)") },
            capture: CaptureInfo(branch: form.branch, station: sender, operatorLogin: form.operatorEmployee, device: "station"),
            documentID: form.id)
    }
}

extension RequestID {
    /// The 16 bytes as on the wire (high, then low; little-endian each).
    var bytes: [UInt8] {
        withUnsafeBytes(of: high.littleEndian, Array.init) + withUnsafeBytes(of: low.littleEndian, Array.init)
    }
}
