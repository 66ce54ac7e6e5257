import Crypto
import Foundation
import TanbaCore
import TanbaSQLite

/// A consent document as a station signed it and sent it (CONSENT 0x0A), kept as proof
/// [PD 8.3]: the exact signed bytes, the signature and the signing station.
public struct ConsentDocument: Sendable, Equatable, Codable {
    public enum Action: String, Sendable, Codable { case granted, revoked }
    public var action: Action
    /// The station's canonical JSON (a `ConsentRecord` or a `ConsentRevocation`).
    public var document: [UInt8]
    /// Ed25519 signature by `station`'s envelope key over `document`.
    public var signature: [UInt8]
    public var station: String
    /// Date on the form (YYYY-MM-DD, Astana).
    public var givenOn: String
    /// Last day the term covers (nil: until revoked; always nil for a revocation).
    public var lastDay: String?
    public init(action: Action, document: [UInt8], signature: [UInt8], station: String, givenOn: String, lastDay: String?) {
        self.action = action
        self.document = document
        self.signature = signature
        self.station = station
        self.givenOn = givenOn
        self.lastDay = lastDay
    }
}

/// The first answer to a state-changing request, kept in the same transaction as the
/// change it answers, so a retry after a coordinator restart gets this answer and is never
/// executed twice. The answer's bytes are opaque here (the wire encoding of TanbaWire).
public struct AnsweredRequest: Sendable, Equatable {
    public var sender: String
    /// 16 bytes: the request ID.
    public var requestID: [UInt8]
    /// Identifies the request's content (SHA-256 of type + payload).
    public var fingerprint: [UInt8]
    public var answer: [UInt8]
    public init(sender: String, requestID: [UInt8], fingerprint: [UInt8], answer: [UInt8]) {
        self.sender = sender
        self.requestID = requestID
        self.fingerprint = fingerprint
        self.answer = answer
    }
}

extension Store {
    // MARK: Consent documents

    /// Records a consent document (grant or revocation) received for `iin`, in one
    /// transaction with its audit entry (and `answering`). The document is sealed under a
    /// data key of its own, shredded with the person's data on deletion. A revocation also
    /// marks the enrolled person's consents revoked. Returns false when the very same
    /// signed document was recorded before (a re-delivery): nothing is written then.
    @discardableResult
    public func recordConsent(_ doc: ConsentDocument, iin: IIN, by actor: Actor, answering: AnsweredRequest? = nil) throws -> Bool {
        try locked {
            let digest = Array(SHA256.hash(data: doc.document + doc.signature))
            if try !db.query("SELECT 1 FROM consent_documents WHERE iin_hash = ? AND doc_hash = ?",
                             [.blob(iinHash(iin)), .blob(digest)]).isEmpty { return false }
            let id = Store.randomID()
            let key = try keys.createDataKey(owner: id)
            let seq = (try db.query("SELECT COALESCE(MAX(seq), 0) + 1 FROM consent_documents")[0][0].int) ?? 1
            let now = AstanaTime.now()
            try write {
                try db.run("INSERT INTO consent_documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                    .blob(id), .blob(iinHash(iin)), .integer(Int64(seq)), .text(doc.action.rawValue), .text(doc.givenOn),
                    doc.lastDay.map { .text($0) } ?? .null, .blob(digest),
                    .blob(try Sealer.seal(json: doc, key: key, column: "consent_documents.sealed_document", owner: id)), .text(now),
                ])
                if doc.action == .revoked, let person = try personID(iin) {
                    try db.run("UPDATE consents SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL", [.text(now), .blob(person)])
                }
                try audit.append(auditEntry(actor, doc.action == .granted ? "consent" : "consent-revoke", subjectReference(iin),
                                            "ok: signed by \(doc.station), dated \(doc.givenOn)"))
                if let answering { try insertAnswer(answering) }
            }
            return true
        }
    }

    /// The consent document that decides whether `iin` may be enrolled now: the latest one
    /// received (a grant, or the revocation that ended it); nil when none was received.
    public func latestConsent(iin: IIN) throws -> ConsentDocument? {
        try locked {
            guard let row = try db.query("""
                SELECT consent_id, sealed_document FROM consent_documents WHERE iin_hash = ? ORDER BY seq DESC LIMIT 1
                """, [.blob(iinHash(iin))]).first, let id = row[0].bytes else { return nil }
            guard let key = try? keys.dataKey(owner: id) else { return nil }   // shredded
            return try Sealer.open(json: ConsentDocument.self, row[1].bytes ?? [], key: key,
                                   column: "consent_documents.sealed_document", owner: id)
        }
    }

    /// Removes the consent documents of `iin` and destroys their keys (inside the deletion's
    /// lock; the keys first, as for the person's own data).
    func shredConsentDocuments(iin: IIN) throws -> [[UInt8]] {
        let owners = try db.query("SELECT consent_id FROM consent_documents WHERE iin_hash = ?", [.blob(iinHash(iin))])
            .compactMap { $0[0].bytes }
        for owner in owners where try keys.hasDataKey(owner: owner) { try keys.shred(owner: owner) }
        return owners
    }

    // MARK: Answered requests

    func insertAnswer(_ a: AnsweredRequest) throws {
        try db.run("INSERT INTO answered_requests VALUES (?, ?, ?, ?, ?)", [
            .text(a.sender), .blob(a.requestID), .blob(a.fingerprint), .blob(a.answer), .text(AstanaTime.now()),
        ])
    }

    /// The first answer to (`sender`, `requestID`), if that request changed the store.
    public func answeredRequest(sender: String, requestID: [UInt8]) throws -> AnsweredRequest? {
        try locked {
            guard let row = try db.query("SELECT fingerprint, answer FROM answered_requests WHERE sender = ? AND request_id = ?",
                                         [.text(sender), .blob(requestID)]).first else { return nil }
            return AnsweredRequest(sender: sender, requestID: requestID, fingerprint: row[0].bytes ?? [], answer: row[1].bytes ?? [])
        }
    }

    /// Replaces the kept answer (e.g. with the shard coverage known only after the change
    /// was pushed to the workers). Its own small transaction, replicated like any other.
    public func updateAnswer(_ a: AnsweredRequest) throws {
        _ = try locked {
            try write {
                try db.run("UPDATE answered_requests SET answer = ? WHERE sender = ? AND request_id = ?",
                           [.blob(a.answer), .text(a.sender), .blob(a.requestID)])
            }
        }
    }

    /// Forgets answers older than `cutoff` (Astana ISO 8601): a station retries for days at
    /// most (its outbox), not forever. Returns the number removed.
    @discardableResult
    public func pruneAnsweredRequests(before cutoff: String) throws -> Int {
        try locked {
            try write {
                try db.run("DELETE FROM answered_requests WHERE answered_at < ?", [.text(cutoff)])
            }
        }
    }
}
