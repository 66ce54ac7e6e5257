import Foundation
import Logging
import TanbaAccess
import TanbaCore
import TanbaStore
import TanbaWire

/// The access layer as the coordinator runs it (issue 6): the gate in front of every
/// IDENTIFY, VERIFY and VIEW_RECORD, the account lifecycle and the incident journal.
public struct CoordinatorAccess: Sendable {
    /// Sessions, accounts and the roles x basis policy (with the proceedings registry).
    public var control: AccessControl
    /// Incidents over one hour, fed by the coordinator's health monitoring; nil: none kept.
    public var journal: IncidentJournal?
    /// The time health observations are stamped with (injected in tests, like the
    /// registry's and the journal's clocks).
    public var clock: AccessClock
    /// The user agreement in force: sent with every login challenge, signed by the user at
    /// first login [LEX 17] (config `access.agreementFile`).
    public var agreementText: String

    public static let defaultAgreement = """
        Tanba user agreement v1. I use the dactyloscopic registry only for the proceedings I am assigned to, \
        cite the basis of every request, keep the results confidential, delete downloaded results after use, \
        and know that every request and its result is recorded and reviewed by the supervising prosecutor.
        """

    public init(control: AccessControl, journal: IncidentJournal? = nil, clock: AccessClock = .system,
                agreementText: String = CoordinatorAccess.defaultAgreement) {
        self.control = control
        self.journal = journal
        self.clock = clock
        self.agreementText = agreementText
    }
}

/// What one run of the access housekeeping did.
public struct AccessHousekeeping: Sendable {
    /// Accounts blocked by the 60-day rule in this run [LEX 16].
    public var blocked: [String]
    /// The health observations fed to the incident journal.
    public var observed: [HealthEvent]
    /// Incidents opened or closed by this run [LEX 39–41].
    public var incidents: [Incident]
}

extension Coordinator {
    /// A request that passed the gate: who it is logged as, and the decision's result
    /// text, to which the handler adds what happened (one audit entry per decision).
    struct Authorized {
        var actor: Actor
        /// "allowed" (possibly with notes); nil without an access layer (result as before).
        var decision: String?
        func result(_ outcome: String) -> String { decision.map { "\($0): \(outcome)" } ?? outcome }
    }

    /// The gate of IDENTIFY, VERIFY and VIEW_RECORD. With an access layer: a request with a
    /// requester is decided on its session, claimed account and role, and basis
    /// (`AccessControl.authorize`); one without comes from a branch station and is decided
    /// as the branch operator's, on the person's consent on record — so a station can verify
    /// at the counter but never run a 1:N search. A refusal is written to the audit log
    /// (exactly one entry) and thrown as ERROR 17 (policy) or 18 (session); an allowed
    /// request is logged by the handler once it knows the outcome. Without an access layer
    /// (development clusters, benchmarks) station requests pass as before and requests on
    /// an authority's basis are refused: nothing here could check them.
    func authorize(_ action: TanbaAccess.Action, requester: Requester?, sender: String, subject: IIN?) async throws -> Authorized {
        guard let access = options.access else {
            guard let requester else { return Authorized(actor: Actor(login: sender, role: "station", basis: "public-service"), decision: nil) }
            let basis = Self.basis(requester)
            let refusal = "refused: access-not-configured: this coordinator has no access layer to check sessions and bases"
            _ = try await audit(Actor(login: requester.account, role: requester.role, basis: basis.auditKind, caseNumber: basis.reference),
                                operation: action.rawValue, subject: subject, result: refusal)
            throw CoordinatorError(code: .accessDenied, description: refusal + "; nothing was searched")
        }
        let subjectRef = subject.map { store.subjectReference($0) }
        var context = ""
        let decision: AccessDecision
        if let requester {
            let basis = Self.basis(requester)
            decision = try await Offload.run {
                try access.control.authorize(token: requester.session, claimedLogin: requester.account, claimedRole: requester.role,
                                             action: action, basis: basis, subjectRef: subjectRef, client: sender)
            }
        } else {
            var basis = Basis.none
            if let subject {
                if let consent = try await validConsent(subject) { basis = .consent(reference: consent) } else {
                    context = " (no valid consent on record for this person)"
                }
            }
            decision = access.control.policy.decide(AccessRequest(login: sender, role: .branchOperator, action: action, basis: basis,
                                                                  subjectRef: subjectRef))
        }
        let a = decision.audit
        let actor = Actor(login: a.actor, role: a.role, basis: a.basis, caseNumber: a.caseNumber)
        guard decision.allowed else {
            let refusal = decision.refusal ?? .notAuthenticated("refused")
            _ = try await audit(actor, operation: a.operation, subject: subject, result: a.result + context)
            metrics.increment("access_refused")
            let code: WireErrorCode = switch refusal {
            case .notAuthenticated, .agreementNotSigned, .accountNotActive: .sessionRequired
            default: .accessDenied
            }
            throw CoordinatorError(code: code, description: "\(refusal.code): \(refusal.description)\(context) [\(refusal.rule)]; nothing was searched")
        }
        return Authorized(actor: actor, decision: a.result)
    }

    /// The policy's basis for a requester on the wire.
    static func basis(_ r: Requester) -> Basis {
        switch r.basis {
        case .none: .none
        case .criminal: .legal(.criminal, caseNumber: r.caseNumber)
        case .administrative: .legal(.administrative, caseNumber: r.caseNumber)
        case .administrativeOffence: .legal(.administrativeOffence, caseNumber: r.caseNumber)
        case .civil: .legal(.civil, caseNumber: r.caseNumber)
        case .enforcement: .legal(.enforcement, caseNumber: r.caseNumber)
        case .search: .legal(.search, caseNumber: r.caseNumber)
        case .adjudication: .adjudication(reference: r.caseNumber)
        case .consent: .consent(reference: r.caseNumber)
        case .subjectRequest: .subjectRequest(reference: r.caseNumber)
        }
    }

    /// The ID of the person's consent if the latest one on record is a grant whose term
    /// has not ended: the basis of a station's VERIFY at the counter [BIO 3], [PD 8].
    func validConsent(_ iin: IIN) async throws -> String? {
        guard let doc = try await Offload.run({ try self.store.latestConsent(iin: iin) }), doc.action == .granted,
              let form = try? JSONDecoder().decode(ConsentRecord.self, from: Data(doc.document)) else { return nil }
        if let last = doc.lastDay, let lastDay = IIN.BirthDate(iso: last), lastDay < options.today() { return nil }
        return form.id
    }

    // MARK: VIEW_RECORD

    /// An authority's (or examiner's) look at a person's record: identity and enrollment
    /// facts, never templates or consent documents [PD 12].
    func viewRecord(_ r: ViewRecordRequest, sender: String) async throws -> WireMessage {
        let gate = try await authorize(.viewRecord, requester: r.requester, sender: sender, subject: r.iin)
        let found = try await Offload.run { () -> (PersonIdentity, Enrollment)? in
            guard let person = try self.store.person(iin: r.iin), let enrollment = try self.store.currentEnrollment(iin: r.iin) else { return nil }
            return (person, enrollment)
        }
        guard let found else {
            _ = try await audit(gate.actor, operation: "view-record", subject: r.iin, result: gate.result("not enrolled"))
            throw CoordinatorError(code: .notFound, description: "no enrolled person has IIN \(r.iin)")
        }
        let (person, enrollment) = found
        _ = try await audit(gate.actor, operation: "view-record", subject: r.iin, result: gate.result("record shown"))
        return .recordAnswer(RecordView(iin: r.iin, fullName: person.fullName, captured: enrollment.record.views.map(\.position),
                                        missing: enrollment.missing.map { RecordView.Missing(position: $0.position, reason: $0.reason) },
                                        branch: enrollment.capture.branch, capturedAt: enrollment.capture.capturedAt))
    }

    // MARK: Account lifecycle and incidents

    /// One run of the access housekeeping (the coordinator's command runs it every few
    /// minutes under swift-service-lifecycle): blocks accounts idle for 60 days [LEX 16],
    /// observes the health of every worker, the shard coverage and the store's replication,
    /// feeds the incident journal (an outage or delay over one hour becomes an incident
    /// with its start, cause and end) and sweeps it for monitors that went silent
    /// [LEX 39–41]. Nothing to do without an access layer.
    @discardableResult
    public func runAccessHousekeeping() async -> AccessHousekeeping {
        guard let access = options.access else { return AccessHousekeeping(blocked: [], observed: [], incidents: []) }
        var blocked: [String] = []
        do { blocked = try await Offload.run { try access.control.authenticator.registry.blockInactiveAccounts() } } catch {
            logger.error("60-day inactivity sweep failed", metadata: ["error": "\(error)"])
        }
        if !blocked.isEmpty { logger.notice("accounts blocked after 60 days without requests", metadata: ["logins": "\(blocked)"]) }
        // Expired (and spent) login challenges, also when nobody asks for a new one.
        _ = try? await Offload.run { try access.control.authenticator.purgeChallenges() }
        guard let journal = access.journal else { return AccessHousekeeping(blocked: blocked, observed: [], incidents: []) }
        let now = access.clock.now()
        var events: [HealthEvent] = []
        let workers = map.workers
        await withTaskGroup(of: HealthEvent.self) { group in
            for w in workers {
                group.addTask {
                    do {
                        guard case .statusAnswer = try await self.caller.call(.status, to: w.name, at: w.address,
                                                                              deadline: self.options.shardDeadline) else {
                            return HealthEvent(component: w.name, status: .down, at: now, detail: "unexpected answer to STATUS")
                        }
                        return HealthEvent(component: w.name, status: .up, at: now, detail: "answers STATUS")
                    } catch {
                        return HealthEvent(component: w.name, status: .down, at: now, detail: "does not answer: \(error)")
                    }
                }
            }
            for await e in group { events.append(e) }
        }
        events.sort { $0.component < $1.component }
        let unserved = unservedShards
        events.append(HealthEvent(component: "identification", status: unserved.isEmpty ? .up : .delayed, at: now,
                                  detail: unserved.isEmpty ? "every shard served" : "answers partial: shards \(unserved) have no serving replica"))
        let replication = replicationStatus
        events.append(HealthEvent(component: "store-replication", status: replication.writable ? .up : .down, at: now,
                                  detail: replication.writable ? "writes acknowledged" : "writes refused: the synchronous standby is not in step"))
        var incidents: [Incident] = []
        do {
            for e in events { if let i = try journal.observe(e) { incidents.append(i) } }
            incidents += try journal.sweep()
        } catch {
            logger.error("incident journal not updated", metadata: ["error": "\(error)"])
        }
        for i in incidents {
            logger.warning(i.endedAt == nil ? "incident opened" : "incident closed",
                           metadata: ["component": .string(i.component), "since": .string(i.startedAt), "cause": .string(i.cause)])
        }
        return AccessHousekeeping(blocked: blocked, observed: events, incidents: incidents)
    }

    /// What the status endpoint announces: planned maintenance not yet over and open
    /// incidents [LEX 42]; nil without an incident journal.
    public func announcements() throws -> StatusAnnouncements? {
        try options.access?.journal?.announcements()
    }
}

extension Requester.BasisKind {
    /// The wire code of a case kind of the roles x basis table.
    public init(_ kind: CaseKind) {
        switch kind {
        case .criminal: self = .criminal
        case .administrative: self = .administrative
        case .administrativeOffence: self = .administrativeOffence
        case .civil: self = .civil
        case .enforcement: self = .enforcement
        case .search: self = .search
        }
    }
}
