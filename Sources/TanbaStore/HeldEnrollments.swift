import Crypto
import Foundation
import TanbaCore
import TanbaSQLite

/// A possible duplicate found by 1:N de-duplication, as the examiner sees it.
public struct HeldCandidate: Sendable, Equatable, Codable {
    public struct Score: Sendable, Equatable, Codable {
        public var position: FingerPosition
        public var score: Float
        public init(position: FingerPosition, score: Float) { self.position = position; self.score = score }
    }
    /// The enrolled person's IIN (12 digits).
    public var iin: String
    public var fusedScore: Float
    public var fingerScores: [Score]
    public init(iin: String, fusedScore: Float, fingerScores: [Score]) {
        self.iin = iin
        self.fusedScore = fusedScore
        self.fingerScores = fingerScores
    }
}

/// An ENROLL that 1:N de-duplication held for adjudication: what arrived (templates and
/// finger exceptions), from which station, and the possible duplicates with their scores.
/// Kept in the store (`held_enrollments`, sealed under a data key of its own) so it
/// survives a coordinator restart and a failover to the standby.
public struct HeldEnrollment: Sendable, Equatable {
    public var iin: IIN
    public var record: FingerprintRecord
    /// The fingers not captured and why, as sent with the ENROLL [BIO 7].
    public var exceptions: [FingerException]
    /// The station that sent the ENROLL.
    public var station: String
    public var candidates: [HeldCandidate]
    /// Astana time the enrollment was held.
    public var heldAt: String
    public init(iin: IIN, record: FingerprintRecord, exceptions: [FingerException], station: String,
                candidates: [HeldCandidate], heldAt: String = AstanaTime.now()) {
        self.iin = iin
        self.record = record
        self.exceptions = exceptions
        self.station = station
        self.candidates = candidates
        self.heldAt = heldAt
    }
}

/// An examiner's decision on a held enrollment.
public struct AdjudicationDecision: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// Not a duplicate: enrolled as a new person.
        case accepted
        /// A duplicate (or otherwise refused): the templates are discarded.
        case rejected
    }
    public var outcome: Outcome
    /// The examiner's login (recorded in the clear with the decision and in the audit log).
    public var examiner: String
    /// Why (sealed: free text may name persons).
    public var reason: String
    public init(outcome: Outcome, examiner: String, reason: String) {
        self.outcome = outcome
        self.examiner = examiner
        self.reason = reason
    }
}

/// What remains of a held enrollment once it was decided: no templates (an accepted
/// person's templates live in their enrollment; a rejected one's are gone).
public struct AdjudicationRecord: Sendable, Equatable, Codable {
    public var iin: String
    public var station: String
    public var candidates: [HeldCandidate]
    public var heldAt: String
    public var decision: AdjudicationDecision
    public var decidedAt: String
}

public enum AdjudicationError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Nothing is held for this IIN (never held, already decided, or deleted).
    case notHeld
    /// Another enrollment is already held for this IIN.
    case alreadyHeld

    public var description: String {
        switch self {
        case .notHeld: "no enrollment is held for adjudication under this IIN"
        case .alreadyHeld: "an enrollment is already held for adjudication under this IIN"
        }
    }
}

extension Store {
    /// The sealed value of a pending hold: everything `HeldEnrollment` says, the record as
    /// one native template record (device IDs included, so a retry compares equal).
    private struct SealedHold: Codable {
        var iin: String
        var record: Data
        var exceptions: [FingerException]
        var station: String
        var candidates: [HeldCandidate]
        var heldAt: String
    }

    private static let holdColumn = "held_enrollments.sealed_hold"

    /// Holds an enrollment for adjudication, in one transaction with its audit entry
    /// (operation `enroll`, result "held for adjudication: N possible duplicates") and
    /// `answering`. The hold is sealed under a new data key (owner = the hold's random ID),
    /// shredded when the IIN is deleted. Throws `alreadyHeld` when one is pending.
    public func holdEnrollment(_ hold: HeldEnrollment, by actor: Actor, answering: AnsweredRequest? = nil) throws {
        guard !hold.record.views.isEmpty else { throw StoreError.noFingers }
        try locked {
            guard try pendingHoldID(hold.iin) == nil else { throw AdjudicationError.alreadyHeld }
            let id = Store.randomID()
            let key = try keys.createDataKey(owner: id)
            let sealed = try sealedHold(hold, key: key, id: id)
            try write {
                try db.run("""
                    INSERT INTO held_enrollments (hold_id, iin_hash, subject_ref, status, candidates, sealed_hold, held_at)
                    VALUES (?, ?, ?, 'held', ?, ?, ?)
                    """, [.blob(id), .blob(iinHash(hold.iin)), .text(subjectReference(hold.iin)), .integer(Int64(hold.candidates.count)),
                          .blob(sealed), .text(hold.heldAt)])
                try audit.append(auditEntry(actor, "enroll", subjectReference(hold.iin),
                                            "held for adjudication: \(hold.candidates.count) possible duplicate\(hold.candidates.count == 1 ? "" : "s")"))
                if let answering { try insertAnswer(answering) }
            }
        }
    }

    /// Replaces a pending hold's candidates (an acceptance found persons enrolled while it
    /// waited), re-sealed under the hold's key, with `operation`'s audit entry in the same
    /// transaction.
    public func updateHeldCandidates(_ hold: HeldEnrollment, by actor: Actor, operation: String, result: String) throws {
        try locked {
            guard let id = try pendingHoldID(hold.iin) else { throw AdjudicationError.notHeld }
            let sealed = try sealedHold(hold, key: try keys.dataKey(owner: id), id: id)
            try write {
                try db.run("UPDATE held_enrollments SET candidates = ?, sealed_hold = ? WHERE hold_id = ?",
                           [.integer(Int64(hold.candidates.count)), .blob(sealed), .blob(id)])
                try audit.append(auditEntry(actor, operation, subjectReference(hold.iin), result))
            }
        }
    }

    /// A pending hold sealed under its own data key (the `sealed_hold` column).
    private func sealedHold(_ hold: HeldEnrollment, key: SymmetricKey, id: [UInt8]) throws -> [UInt8] {
        let sealed = SealedHold(iin: hold.iin.digits, record: Data(try TemplateCodec.encode(hold.record, as: .native)),
                                exceptions: hold.exceptions, station: hold.station, candidates: hold.candidates,
                                heldAt: hold.heldAt)
        return try Sealer.seal(json: sealed, key: key, column: Store.holdColumn, owner: id)
    }

    private func pendingHoldID(_ iin: IIN) throws -> [UInt8]? {
        try db.query("SELECT hold_id FROM held_enrollments WHERE iin_hash = ? AND status = 'held'", [.blob(iinHash(iin))]).first?[0].bytes
    }

    private func openHold(id: [UInt8], sealed: [UInt8]) throws -> HeldEnrollment {
        let key = try keys.dataKey(owner: id)
        let s = try Sealer.open(json: SealedHold.self, sealed, key: key, column: Store.holdColumn, owner: id)
        return HeldEnrollment(iin: try IIN(s.iin), record: try TemplateCodec.decode([UInt8](s.record), as: .native),
                              exceptions: s.exceptions, station: s.station, candidates: s.candidates, heldAt: s.heldAt)
    }

    /// The enrollment held for `iin`, if one is pending.
    public func heldEnrollment(iin: IIN) throws -> HeldEnrollment? {
        try locked {
            guard let row = try db.query("SELECT hold_id, sealed_hold FROM held_enrollments WHERE iin_hash = ? AND status = 'held'",
                                         [.blob(iinHash(iin))]).first, let id = row[0].bytes else { return nil }
            return try openHold(id: id, sealed: row[1].bytes ?? [])
        }
    }

    /// Every pending hold, oldest first (what an examiner works through).
    public func heldEnrollments() throws -> [HeldEnrollment] {
        try locked {
            try db.query("SELECT hold_id, sealed_hold FROM held_enrollments WHERE status = 'held' ORDER BY held_at, hold_id").compactMap { row in
                guard let id = row[0].bytes else { return nil }
                return try openHold(id: id, sealed: row[1].bytes ?? [])
            }
        }
    }

    /// How many enrollments wait for adjudication (no decryption: PENDING_JOBS, /cluster).
    public func heldEnrollmentCount() throws -> Int {
        try locked { try db.query("SELECT COUNT(*) FROM held_enrollments WHERE status = 'held'")[0][0].int ?? 0 }
    }

    /// Decisions taken on holds of `iin` (accepted or rejected), oldest first.
    public func adjudications(iin: IIN) throws -> [AdjudicationRecord] {
        try locked {
            try db.query("""
                SELECT hold_id, sealed_hold FROM held_enrollments WHERE iin_hash = ? AND status <> 'held' ORDER BY decided_at, hold_id
                """, [.blob(iinHash(iin))]).compactMap { row in
                guard let id = row[0].bytes else { return nil }
                return try Sealer.open(json: AdjudicationRecord.self, row[1].bytes ?? [], key: try keys.dataKey(owner: id),
                                       column: Store.holdColumn, owner: id)
            }
        }
    }

    /// Records the examiner's decision on the pending hold of `iin`, in one transaction with
    /// one audit entry (operation `adjudicate`) and `answering`:
    /// - `accepted`: `person` must be given — the person is enrolled from it (identity,
    ///   enrollment, consent: the caller re-checks the consent and rules as of now);
    /// - `rejected`: nothing is enrolled.
    /// Either way the hold's row keeps only an `AdjudicationRecord` (no templates), sealed
    /// under the hold's key; `secure_delete` overwrites the freed pages.
    public func adjudicate(iin: IIN, decision: AdjudicationDecision,
                           person: (identity: PersonIdentity, enrollment: Enrollment, consent: Consent)?,
                           by actor: Actor, answering: AnsweredRequest? = nil) throws {
        if let person { try Store.validate(person.enrollment) }
        precondition((decision.outcome == .accepted) == (person != nil), "an accepted hold enrolls a person, a rejected one does not")
        try locked {
            guard let row = try db.query("SELECT hold_id, sealed_hold FROM held_enrollments WHERE iin_hash = ? AND status = 'held'",
                                         [.blob(iinHash(iin))]).first, let id = row[0].bytes else { throw AdjudicationError.notHeld }
            let hold = try openHold(id: id, sealed: row[1].bytes ?? [])
            let holdKey = try keys.dataKey(owner: id)
            var personID: [UInt8]? = nil, personKey: SymmetricKey? = nil
            if person != nil {
                guard try self.personID(iin) == nil else { throw StoreError.alreadyEnrolled }
                let newID = Store.randomID()
                personKey = try keys.createDataKey(owner: newID)
                personID = newID
            }
            let now = AstanaTime.now()
            let record = AdjudicationRecord(iin: iin.digits, station: hold.station, candidates: hold.candidates, heldAt: hold.heldAt,
                                            decision: decision, decidedAt: now)
            try write {
                if let person, let personID, let personKey {
                    try insertPerson(personID, key: personKey, identity: person.identity, iin: iin, enrollment: person.enrollment,
                                     consent: person.consent)
                }
                try db.run("""
                    UPDATE held_enrollments SET status = ?, sealed_hold = ?, decided_at = ?, decided_by = ? WHERE hold_id = ?
                    """, [.text(decision.outcome.rawValue),
                          .blob(try Sealer.seal(json: record, key: holdKey, column: Store.holdColumn, owner: id)),
                          .text(now), .text(decision.examiner), .blob(id)])
                try audit.append(auditEntry(actor, "adjudicate", subjectReference(iin), decision.outcome == .accepted
                    ? "accepted: enrolled as a new person (\(hold.candidates.count) possible duplicates ruled out)"
                    : "rejected: held templates discarded (\(hold.candidates.count) possible duplicates)"))
                if let answering { try insertAnswer(answering) }
            }
        }
    }

    /// Destroys the keys of every hold of `iin` (pending or decided) and returns their IDs;
    /// the caller removes the rows in its transaction (inside the deletion's lock).
    func shredHeldEnrollments(iin: IIN) throws -> [[UInt8]] {
        let owners = try db.query("SELECT hold_id FROM held_enrollments WHERE iin_hash = ?", [.blob(iinHash(iin))])
            .compactMap { $0[0].bytes }
        for owner in owners where try keys.hasDataKey(owner: owner) { try keys.shred(owner: owner) }
        return owners
    }
}
