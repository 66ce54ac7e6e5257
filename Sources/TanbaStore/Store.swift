import TanbaSQLite
import Crypto
import Foundation
import TanbaCore

public enum StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    case alreadyEnrolled
    case notEnrolled
    /// [BIO 10]: no enrollment without at least one captured finger.
    case noFingers
    case invalidEnrollment(String)
    case accountExists(String)

    public var description: String {
        switch self {
        case .alreadyEnrolled: "the person is already enrolled; use re-enrollment to replace the data"
        case .notEnrolled: "no enrolled person has this IIN"
        case .noFingers: "no enrollment without at least one captured finger [BIO 10]"
        case .invalidEnrollment(let why): "invalid enrollment: \(why)"
        case .accountExists(let login): "an account with login \(login) exists"
        }
    }
}

/// The coordinator's system of record: persons, enrollments, consents, archive,
/// deletion records, accounts and the audit log, in one SQLite file, encrypted field by
/// field; data keys in the companion key store (`<path>.keys`).
///
/// Every mutation runs in one transaction that also appends its audit entry and, when
/// replication is on, its changeset to the replication log. The class serialises its
/// callers (one SQLite connection).
public final class Store: @unchecked Sendable {
    /// Internal: raw access would bypass sealing and the audit log.
    let db: Database
    public let keys: KeyStore
    public var audit: AuditLog { AuditLog(db: db) }
    public var replicationLog: ReplicationLog { ReplicationLog(db: db) }
    private let lookupKey: SymmetricKey
    private let subjectKey: SymmetricKey
    private let lock = NSLock()
    private let capturesChanges: Bool

    public static func keyStorePath(for path: String) -> String { path + ".keys" }

    /// Opens (or creates) the store at `path` with its key store beside it (or at
    /// `keyStorePath`). `previous` master keys are needed only during a rotation.
    public init(path: String, keyStorePath: String? = nil, master: MasterKey, previous: [MasterKey] = [],
                replication: Bool = true) throws {
        keys = try KeyStore(path: keyStorePath ?? Store.keyStorePath(for: path), master: master, previous: previous)
        db = try Database(path: path)
        try Migrator.migrate(db, StoreSchema.migrations)
        lookupKey = keys.derivedKey("iin-lookup")
        subjectKey = keys.derivedKey("subject-ref")
        capturesChanges = replication
        try fillShardKeys()
    }

    // MARK: Keyed hashes

    func iinHash(_ iin: IIN) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(iin.digits.utf8), using: lookupKey))
    }

    /// The pseudonymous reference to a person used in audit and deletion records: stable
    /// for the life of the store, not reversible without the store's keys.
    public func subjectReference(_ iin: IIN) -> String {
        hex(Array(HMAC<SHA256>.authenticationCode(for: Array(iin.digits.utf8), using: subjectKey))).prefix(32).description
    }

    // MARK: Transactions

    func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// A write transaction whose changes are also captured as one changeset.
    @discardableResult
    func write<T>(_ body: () throws -> T) throws -> T {
        try db.transaction {
            let capture = capturesChanges ? try ChangeCapture(db: db, tables: StoreSchema.replicatedTables) : nil
            let result = try body()
            if let capture { try replicationLog.record(try capture.changeset()) }
            return result
        }
    }

    func auditEntry(_ actor: Actor, _ operation: String, _ subject: String?, _ result: String) -> AuditEntry {
        AuditEntry(actor: actor.login, role: actor.role, basis: actor.basis, caseNumber: actor.caseNumber,
                   operation: operation, subjectRef: subject, result: result)
    }

    /// Records a request handled elsewhere (identification, verification, reports) in
    /// the audit log, in its own transaction.
    @discardableResult
    public func record(_ actor: Actor, operation: String, subject: IIN? = nil, result: String) throws -> Int64 {
        try locked {
            try write { try audit.append(auditEntry(actor, operation, subject.map(subjectReference), result)) }
        }
    }

    /// Rotates audit entries up to `seq` into a new archived segment (one transaction,
    /// replicated like any other change). Returns the segment number, or nil if none.
    @discardableResult
    public func archiveAuditSegment(through seq: Int64) throws -> Int64? {
        try locked { try write { try audit.archiveSegment(through: seq) } }
    }

    // MARK: Enrollment

    static func randomID() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    func personID(_ iin: IIN) throws -> [UInt8]? {
        try db.query("SELECT person_id FROM persons WHERE iin_hash = ?", [.blob(iinHash(iin))]).first?[0].bytes
    }

    static func validate(_ e: Enrollment) throws {
        guard !e.record.views.isEmpty else { throw StoreError.noFingers }
        let positions = e.record.views.map(\.position)
        guard Set(positions).count == positions.count else { throw StoreError.invalidEnrollment("a finger appears twice") }
        guard Set(positions).isDisjoint(with: e.missing.map(\.position)) else {
            throw StoreError.invalidEnrollment("a finger is both captured and recorded as missing")
        }
    }

    private struct SealedCapture: Codable {
        var capture: CaptureInfo
        var captureDeviceID: UInt16
        var productOwner: UInt16
        var productType: UInt16
    }

    private static func templateOwner(_ person: [UInt8], _ enrollment: [UInt8], _ position: FingerPosition) -> [UInt8] {
        person + enrollment + [position.rawValue]
    }

    /// Writes the current enrollment rows (inside a transaction).
    private func insertEnrollment(_ e: Enrollment, person: [UInt8], key: SymmetricKey) throws {
        let enrollmentID = Store.randomID()
        let capture = SealedCapture(capture: e.capture, captureDeviceID: e.record.captureDeviceID,
                                    productOwner: e.record.productOwner, productType: e.record.productType)
        try db.run("INSERT INTO enrollments VALUES (?, ?, ?, ?, ?)", [
            .blob(enrollmentID), .blob(person),
            .blob(try Sealer.seal(json: capture, key: key, column: "enrollments.sealed_capture", owner: person)),
            .blob(try Sealer.seal(json: e.missing, key: key, column: "enrollments.sealed_exceptions", owner: person)),
            .text(e.capture.capturedAt),
        ])
        for view in e.record.views {
            let bytes = try TemplateCodec.encode(FingerprintRecord(views: [view]), as: .native)
            let sealed = try Sealer.seal(bytes, key: key, column: "enrollment_templates.sealed_template",
                                         owner: Store.templateOwner(person, enrollmentID, view.position))
            try db.run("INSERT INTO enrollment_templates VALUES (?, ?, ?)",
                       [.blob(enrollmentID), .integer(Int64(view.position.rawValue)), .blob(sealed)])
        }
    }

    private func insertConsent(_ c: Consent, person: [UInt8], key: SymmetricKey) throws {
        try db.run("INSERT INTO consents (consent_id, person_id, sealed_consent, given_at) VALUES (?, ?, ?, ?)", [
            .blob(Store.randomID()), .blob(person),
            .blob(try Sealer.seal(json: c, key: key, column: "consents.sealed_consent", owner: person)),
            .text(c.signedAt),
        ])
    }

    /// Enrolls a new person with their written consent. Throws `alreadyEnrolled` for a
    /// known IIN: replacing data is `reenroll`, which archives the old enrollment.
    /// `answering`: the first answer to the request that asked for it, kept in the same
    /// transaction (a retry after a restart gets it instead of a second enrollment).
    public func enroll(_ identity: PersonIdentity, iin: IIN, enrollment: Enrollment, consent: Consent,
                       by actor: Actor, answering: AnsweredRequest? = nil) throws {
        try Store.validate(enrollment)
        try locked {
            guard try personID(iin) == nil else { throw StoreError.alreadyEnrolled }
            let person = Store.randomID()
            // The key is created first (its own file, its own commit). If the data
            // transaction then fails, an unused key is left: harmless, and never the
            // reverse (data without a key).
            let key = try keys.createDataKey(owner: person)
            try write {
                try insertPerson(person, key: key, identity: identity, iin: iin, enrollment: enrollment, consent: consent)
                try audit.append(auditEntry(actor, "enroll", subjectReference(iin), "ok"))
                if let answering { try insertAnswer(answering) }
            }
        }
    }

    /// The rows of a new person: identity, current enrollment, consent (inside a write
    /// transaction; `key` is the person's data key, created before the transaction).
    func insertPerson(_ person: [UInt8], key: SymmetricKey, identity: PersonIdentity, iin: IIN, enrollment: Enrollment,
                      consent: Consent) throws {
        let now = AstanaTime.now()
        try db.run("INSERT INTO persons VALUES (?, ?, ?, ?, ?, ?, ?)", [
            .blob(person), .blob(iinHash(iin)), .text(subjectReference(iin)),
            .blob(try Sealer.seal(json: identity, key: key, column: "persons.sealed_identity", owner: person)),
            .text(now), .text(now), .integer(PersonShard.key(iin)),
        ])
        try insertEnrollment(enrollment, person: person, key: key)
        try insertConsent(consent, person: person, key: key)
    }

    /// One person of a bulk load.
    public struct BulkEnrollment: Sendable {
        public var identity: PersonIdentity
        public var iin: IIN
        public var enrollment: Enrollment
        public var consent: Consent
        public init(identity: PersonIdentity, iin: IIN, enrollment: Enrollment, consent: Consent) {
            self.identity = identity; self.iin = iin; self.enrollment = enrollment; self.consent = consent
        }
    }

    /// Bulk enrollment (migrations from an older system, benchmarks): the persons' keys in
    /// one key-store transaction, then all their rows and one audit entry each in one data
    /// transaction (one changeset). Same rows as `enroll`; keep batches to a few hundred
    /// persons when replication is on, so that a changeset stays well under the wire's
    /// 1 MiB message limit. All or nothing: an IIN already enrolled fails the whole batch.
    public func enrollMany(_ batch: [BulkEnrollment], by actor: Actor) throws {
        for item in batch { try Store.validate(item.enrollment) }
        try locked {
            for item in batch where try personID(item.iin) != nil { throw StoreError.alreadyEnrolled }
            let persons = batch.map { _ in Store.randomID() }
            let keys = try self.keys.createDataKeys(owners: persons)
            let now = AstanaTime.now()
            try write {
                for (i, item) in batch.enumerated() {
                    let person = persons[i], key = keys[i]
                    try db.run("INSERT INTO persons VALUES (?, ?, ?, ?, ?, ?, ?)", [
                        .blob(person), .blob(iinHash(item.iin)), .text(subjectReference(item.iin)),
                        .blob(try Sealer.seal(json: item.identity, key: key, column: "persons.sealed_identity", owner: person)),
                        .text(now), .text(now), .integer(PersonShard.key(item.iin)),
                    ])
                    try insertEnrollment(item.enrollment, person: person, key: key)
                    try insertConsent(item.consent, person: person, key: key)
                    try audit.append(auditEntry(actor, "enroll", subjectReference(item.iin), "ok"))
                }
            }
        }
    }

    /// Fills `persons.shard_key` for rows written before schema version 4 (decrypting
    /// each such person's identity once). Nothing to do on a store created since.
    func fillShardKeys() throws {
        try locked {
            let rows = try db.query("SELECT person_id, sealed_identity FROM persons WHERE shard_key IS NULL")
            guard !rows.isEmpty else { return }
            try write {
                for row in rows {
                    guard let person = row[0].bytes, let key = try? keys.dataKey(owner: person) else { continue }
                    let identity = try Sealer.open(json: PersonIdentity.self, row[1].bytes ?? [], key: key,
                                                   column: "persons.sealed_identity", owner: person)
                    guard let iin = try? IIN(identity.iin) else { continue }
                    try db.run("UPDATE persons SET shard_key = ? WHERE person_id = ?", [.integer(PersonShard.key(iin)), .blob(person)])
                }
            }
        }
    }

    /// One person's current enrollment as a matching worker needs it.
    public struct ShardMember: Sendable {
        /// Opaque, stable handle of the person in this store.
        public var person: [UInt8]
        public var iin: IIN
        public var record: FingerprintRecord
    }

    /// Streams the current enrollments of one shard (`PersonShard.shard(of:count:) ==
    /// shard`), person by person, on a read connection of its own: a consistent snapshot
    /// (WAL), writers are not held up, memory stays at one person. Only the shard's own
    /// persons are decrypted; the archive is never read; shredded persons are skipped.
    /// `shardCount` 1 streams everyone. Returns the number of persons streamed.
    @discardableResult
    public func forEachCurrentEnrollment(shard: Int, of shardCount: Int,
                                         _ body: (ShardMember) throws -> Void) throws -> Int {
        precondition(shardCount > 0 && (0..<shardCount).contains(shard))
        var options = Database.Options()
        options.readOnly = true
        let reader = try Database(path: db.path, options: options)
        let statement = try reader.prepare("""
            SELECT p.person_id, p.sealed_identity, t.enrollment_id, t.position, t.sealed_template
            FROM persons p JOIN enrollments e ON e.person_id = p.person_id
                           JOIN enrollment_templates t ON t.enrollment_id = e.enrollment_id
            WHERE p.shard_key % ?1 = ?2
            ORDER BY p.person_id, t.position
            """)
        try statement.bind([.integer(Int64(shardCount)), .integer(Int64(shard))])
        var count = 0
        var current: (person: [UInt8], key: SymmetricKey?, iin: IIN?, views: [FingerTemplate])? = nil
        func emit() throws {
            guard let c = current, c.key != nil, let iin = c.iin, !c.views.isEmpty else { return }
            try body(ShardMember(person: c.person, iin: iin, record: FingerprintRecord(views: c.views)))
            count += 1
        }
        while try statement.step() {
            let row = statement.row()
            guard let person = row[0].bytes, let enrollment = row[2].bytes else { continue }
            if current?.person != person {
                try emit()
                let key = try? keys.dataKey(owner: person)   // nil: shredded, not matchable
                var iin: IIN? = nil
                if let key {
                    let identity = try Sealer.open(json: PersonIdentity.self, row[1].bytes ?? [], key: key,
                                                   column: "persons.sealed_identity", owner: person)
                    iin = try? IIN(identity.iin)
                }
                current = (person, key, iin, [])
            }
            guard let key = current?.key else { continue }
            let position = FingerPosition(rawValue: UInt8(row[3].int ?? 0)) ?? .unknown
            let bytes = try Sealer.open(row[4].bytes ?? [], key: key, column: "enrollment_templates.sealed_template",
                                        owner: Store.templateOwner(person, enrollment, position))
            current?.views += try TemplateCodec.decode(bytes, as: .native).views
        }
        try emit()
        return count
    }

    private struct ArchivedEnrollment: Codable {
        var capture: SealedCapture
        var missing: [MissingFinger]
        var templates: [Data]
    }

    /// Re-enrollment [BIO 8, 9]: the new enrollment replaces the current one, which moves
    /// to the archive (sealed as one value, excluded from matching). A new consent is
    /// required and stored.
    public func reenroll(iin: IIN, enrollment: Enrollment, consent: Consent, by actor: Actor,
                         answering: AnsweredRequest? = nil) throws {
        try Store.validate(enrollment)
        try locked {
            guard let person = try personID(iin) else { throw StoreError.notEnrolled }
            let key = try keys.dataKey(owner: person)
            try write {
                if let old = try loadEnrollment(person: person, key: key) {
                    let archived = ArchivedEnrollment(
                        capture: SealedCapture(capture: old.enrollment.capture, captureDeviceID: old.enrollment.record.captureDeviceID,
                                               productOwner: old.enrollment.record.productOwner,
                                               productType: old.enrollment.record.productType),
                        missing: old.enrollment.missing,
                        templates: try old.enrollment.record.views.map {
                            Data(try TemplateCodec.encode(FingerprintRecord(views: [$0]), as: .native))
                        })
                    try db.run("INSERT INTO archive VALUES (?, ?, ?, ?, ?)", [
                        .blob(old.id), .blob(person),
                        .blob(try Sealer.seal(json: archived, key: key, column: "archive.sealed_enrollment", owner: person + old.id)),
                        .text(old.enrollment.capture.capturedAt), .text(AstanaTime.now()),
                    ])
                    try db.run("DELETE FROM enrollment_templates WHERE enrollment_id = ?", [.blob(old.id)])
                    try db.run("DELETE FROM enrollments WHERE enrollment_id = ?", [.blob(old.id)])
                }
                try insertEnrollment(enrollment, person: person, key: key)
                try insertConsent(consent, person: person, key: key)
                try db.run("UPDATE persons SET updated_at = ? WHERE person_id = ?", [.text(AstanaTime.now()), .blob(person)])
                try audit.append(auditEntry(actor, "reenroll", subjectReference(iin), "ok"))
                if let answering { try insertAnswer(answering) }
            }
        }
    }

    private func loadEnrollment(person: [UInt8], key: SymmetricKey) throws -> (id: [UInt8], enrollment: Enrollment)? {
        guard let row = try db.query("SELECT enrollment_id, sealed_capture, sealed_exceptions FROM enrollments WHERE person_id = ?",
                                     [.blob(person)]).first, let id = row[0].bytes else { return nil }
        let capture = try Sealer.open(json: SealedCapture.self, row[1].bytes ?? [], key: key,
                                      column: "enrollments.sealed_capture", owner: person)
        let missing = try Sealer.open(json: [MissingFinger].self, row[2].bytes ?? [], key: key,
                                      column: "enrollments.sealed_exceptions", owner: person)
        var views: [FingerTemplate] = []
        for t in try db.query("SELECT position, sealed_template FROM enrollment_templates WHERE enrollment_id = ? ORDER BY position",
                              [.blob(id)]) {
            let position = FingerPosition(rawValue: UInt8(t[0].int ?? 0)) ?? .unknown
            let bytes = try Sealer.open(t[1].bytes ?? [], key: key, column: "enrollment_templates.sealed_template",
                                        owner: Store.templateOwner(person, id, position))
            views += try TemplateCodec.decode(bytes, as: .native).views
        }
        let record = FingerprintRecord(views: views, captureDeviceID: capture.captureDeviceID,
                                       productOwner: capture.productOwner, productType: capture.productType)
        return (id, Enrollment(record: record, missing: missing, capture: capture.capture))
    }

    // MARK: Reading

    /// The person's identity, or nil when no one with this IIN is enrolled.
    public func person(iin: IIN) throws -> PersonIdentity? {
        try locked {
            guard let row = try db.query("SELECT person_id, sealed_identity FROM persons WHERE iin_hash = ?",
                                         [.blob(iinHash(iin))]).first, let person = row[0].bytes else { return nil }
            let key = try keys.dataKey(owner: person)
            return try Sealer.open(json: PersonIdentity.self, row[1].bytes ?? [], key: key,
                                   column: "persons.sealed_identity", owner: person)
        }
    }

    /// The current enrollment (the only one used for matching).
    public func currentEnrollment(iin: IIN) throws -> Enrollment? {
        try locked {
            guard let person = try personID(iin) else { return nil }
            return try loadEnrollment(person: person, key: try keys.dataKey(owner: person))?.enrollment
        }
    }

    public func consents(iin: IIN) throws -> [Consent] {
        try locked {
            guard let person = try personID(iin) else { return [] }
            let key = try keys.dataKey(owner: person)
            return try db.query("SELECT sealed_consent FROM consents WHERE person_id = ? ORDER BY given_at", [.blob(person)]).map {
                try Sealer.open(json: Consent.self, $0[0].bytes ?? [], key: key, column: "consents.sealed_consent", owner: person)
            }
        }
    }

    /// Previous enrollments, oldest first. Reading the archive is restricted to
    /// authorised roles [BIO 9]: the caller checks the role, this writes the audit entry.
    public func archivedEnrollments(iin: IIN, by actor: Actor) throws -> [Enrollment] {
        try locked {
            guard let person = try personID(iin) else { return [] }
            let key = try keys.dataKey(owner: person)
            let result = try db.query("SELECT enrollment_id, sealed_enrollment FROM archive WHERE person_id = ? ORDER BY archived_at",
                                      [.blob(person)]).map { row -> Enrollment in
                let a = try Sealer.open(json: ArchivedEnrollment.self, row[1].bytes ?? [], key: key,
                                        column: "archive.sealed_enrollment", owner: person + (row[0].bytes ?? []))
                let views = try a.templates.flatMap { try TemplateCodec.decode([UInt8]($0), as: .native).views }
                return Enrollment(record: FingerprintRecord(views: views, captureDeviceID: a.capture.captureDeviceID,
                                                           productOwner: a.capture.productOwner, productType: a.capture.productType),
                                  missing: a.missing, capture: a.capture.capture)
            }
            try write { try audit.append(auditEntry(actor, "read-archive", subjectReference(iin), "ok: \(result.count)")) }
            return result
        }
    }

    /// Current templates of every enrolled person, for loading matching shards. The
    /// archive is never read here. `body` gets an opaque person handle and the templates.
    public func forEachCurrentEnrollment(_ body: (_ person: [UInt8], _ record: FingerprintRecord) throws -> Void) throws {
        try locked {
            for row in try db.query("SELECT person_id FROM enrollments ORDER BY person_id") {
                guard let person = row[0].bytes else { continue }
                guard let key = try? keys.dataKey(owner: person) else { continue }   // shredded: not matchable
                if let e = try loadEnrollment(person: person, key: key) { try body(person, e.enrollment.record) }
            }
        }
    }

    public var personCount: Int {
        get throws { try locked { try db.query("SELECT COUNT(*) FROM persons")[0][0].int ?? 0 } }
    }

    // MARK: Deletion

    /// Same-day deletion [BIO 11] by crypto-shredding: the person's data key is destroyed
    /// first (from then on no copy anywhere can be decrypted), then their rows are
    /// removed and a deletion record is written with the audit entry, in one
    /// transaction. Enrollments of the IIN held for adjudication (pending or decided) and
    /// the consent documents received for it go the same way. Returns false when there
    /// was nothing to delete: no one with this IIN is enrolled or held.
    @discardableResult
    public func delete(iin: IIN, request: DeletionRequest, by actor: Actor, answering: AnsweredRequest? = nil) throws -> Bool {
        try locked {
            let subject = subjectReference(iin)
            // Consent documents received for the IIN go too (keys first): the person asked
            // for their data to be deleted, and a new enrollment needs new consent anyway.
            let consentDocuments = try shredConsentDocuments(iin: iin)
            // Held enrollments carry templates too (sealed under keys of their own).
            let holds = try shredHeldEnrollments(iin: iin)
            func removeDocumentsAndHolds() throws {
                for id in consentDocuments { try db.run("DELETE FROM consent_documents WHERE consent_id = ?", [.blob(id)]) }
                for id in holds { try db.run("DELETE FROM held_enrollments WHERE hold_id = ?", [.blob(id)]) }
            }
            func deletionRecord(owner: [UInt8]) throws {
                try db.run("INSERT INTO deletion_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                    .blob(Store.randomID()), .text(subject), .blob(owner), .text(request.requestedBy), .text(request.branch),
                    .text(request.basis), .text(request.requestedAt), .text(AstanaTime.now()), .text(actor.login),
                ])
            }
            let heldNote = holds.isEmpty ? "" : "; \(holds.count) held enrollment\(holds.count == 1 ? "" : "s") shredded"
            guard let person = try personID(iin) else {
                try write {
                    try removeDocumentsAndHolds()
                    // Someone who was only held for adjudication had biometric data here
                    // too: their deletion is recorded like an enrolled person's.
                    for id in holds { try deletionRecord(owner: id) }
                    try audit.append(auditEntry(actor, "delete", subject, holds.isEmpty ? "not enrolled" : "ok: not enrolled\(heldNote)"))
                    if let answering { try insertAnswer(answering) }
                }
                return !holds.isEmpty
            }
            try keys.shred(owner: person)
            try write {
                try removeDocumentsAndHolds()
                if let answering { try insertAnswer(answering) }
                try removeRows(person: person)
                try deletionRecord(owner: person)
                try audit.append(auditEntry(actor, "delete", subject, "ok: data key destroyed\(heldNote)"))
            }
            return true
        }
    }

    private func removeRows(person: [UInt8]) throws {
        // Children explicitly, parent last: the changeset then carries every removed row
        // itself rather than relying on the standby to cascade.
        try db.run("DELETE FROM enrollment_templates WHERE enrollment_id IN (SELECT enrollment_id FROM enrollments WHERE person_id = ?)",
                   [.blob(person)])
        for table in ["enrollments", "consents", "archive", "persons"] {
            try db.run("DELETE FROM \(table) WHERE person_id = ?", [.blob(person)])
        }
    }

    public func deletionRecords() throws -> [DeletionRecord] {
        try locked {
            try db.query("""
                SELECT subject_ref, requested_by, branch, basis, requested_at, deleted_at, actor
                FROM deletion_records ORDER BY deleted_at
                """).map {
                DeletionRecord(subjectRef: $0[0].string!, requestedBy: $0[1].string!, branch: $0[2].string!,
                               basis: $0[3].string!, requestedAt: $0[4].string!, deletedAt: $0[5].string!, actor: $0[6].string!)
            }
        }
    }

    /// Removes the rows of every person whose key was shredded — e.g. after restoring a
    /// backup taken before a deletion. Their data could not be decrypted anyway; this
    /// removes the ciphertext too. Returns the number of persons removed.
    @discardableResult
    public func reconcileShredded(by actor: Actor) throws -> Int {
        try locked {
            let shredded = try keys.shreddedOwners()
            let present = try db.query("SELECT person_id FROM persons").compactMap { $0[0].bytes }.filter { shredded.contains($0) }
            // Consent documents and held enrollments have keys of their own, shredded with
            // the person's: their undecryptable rows go too.
            let documents = try db.query("SELECT consent_id FROM consent_documents").compactMap { $0[0].bytes }.filter { shredded.contains($0) }
            let holds = try db.query("SELECT hold_id FROM held_enrollments").compactMap { $0[0].bytes }.filter { shredded.contains($0) }
            guard !present.isEmpty || !documents.isEmpty || !holds.isEmpty else { return 0 }
            try write {
                for person in present { try removeRows(person: person) }
                for id in documents { try db.run("DELETE FROM consent_documents WHERE consent_id = ?", [.blob(id)]) }
                for id in holds { try db.run("DELETE FROM held_enrollments WHERE hold_id = ?", [.blob(id)]) }
                try audit.append(auditEntry(actor, "reconcile-shredded", nil, "removed \(present.count)" + (documents.isEmpty && holds.isEmpty ? "" : " (and \(documents.count) consent documents, \(holds.count) held enrollments)")))
            }
            return present.count
        }
    }

    /// Replays every recorded deletion onto the key store: shreds any key that a
    /// deletion record names but the key store still holds. Run it after restoring the
    /// key store from a copy older than the latest deletion (docs/security.md).
    /// Returns the number of keys destroyed.
    @discardableResult
    public func replayDeletionsIntoKeyStore() throws -> Int {
        try locked {
            var destroyed = 0
            for row in try db.query("SELECT owner_id FROM deletion_records") {
                guard let owner = row[0].bytes, try keys.hasDataKey(owner: owner) else { continue }
                try keys.shred(owner: owner)
                destroyed += 1
            }
            return destroyed
        }
    }

    // MARK: Accounts

    /// Registers a user account [LEX 13]; the application data is sealed under the
    /// account's own data key.
    public func createAccount(login: String, role: String, profile: AccountProfile, by actor: Actor) throws {
        try locked {
            guard try db.query("SELECT 1 FROM accounts WHERE login = ?", [.text(login)]).isEmpty else {
                throw StoreError.accountExists(login)
            }
            let account = Store.randomID()
            let key = try keys.createDataKey(owner: account)
            try write {
                try db.run("""
                    INSERT INTO accounts (account_id, login, role, status, sealed_profile, created_at)
                    VALUES (?, ?, ?, 'active', ?, ?)
                    """, [.blob(account), .text(login), .text(role),
                          .blob(try Sealer.seal(json: profile, key: key, column: "accounts.sealed_profile", owner: account)),
                          .text(AstanaTime.now())])
                try audit.append(auditEntry(actor, "account-create", nil, "ok: \(login)"))
            }
        }
    }

    public func account(login: String) throws -> (role: String, status: String, profile: AccountProfile)? {
        try locked {
            guard let row = try db.query("SELECT account_id, role, status, sealed_profile FROM accounts WHERE login = ?",
                                         [.text(login)]).first, let account = row[0].bytes else { return nil }
            let key = try keys.dataKey(owner: account)
            return (row[1].string!, row[2].string!,
                    try Sealer.open(json: AccountProfile.self, row[3].bytes ?? [], key: key, column: "accounts.sealed_profile", owner: account))
        }
    }

    // MARK: Replication

    // The replication log through the store's lock: the log shares the store's connection,
    // so a read between another thread's INSERT and COMMIT would see (and could ship) an
    // entry that is later rolled back.

    /// The log's last entry (0 and zeros when empty).
    public func replicationHead() throws -> (seq: Int64, hash: [UInt8]) {
        try locked { try replicationLog.head() }
    }

    /// Committed entries after `seq`, at most `limit`.
    public func replicationEntries(after seq: Int64, limit: Int = 1000) throws -> [ChangesetEntry] {
        try locked { try replicationLog.entries(after: seq, limit: limit) }
    }

    /// The hash of entry `seq` (genesis for 0), nil when not in the log.
    public func replicationHash(at seq: Int64) throws -> [UInt8]? {
        try locked { try replicationLog.hash(at: seq) }
    }

    public func replicationOldestResumable() throws -> Int64 {
        try locked { try replicationLog.oldestResumable() }
    }

    /// `ReplicationLog.prune(through:)` under the store's lock.
    @discardableResult
    public func pruneReplicationLog(through seq: Int64) throws -> Int {
        try locked { try replicationLog.prune(through: seq) }
    }

    /// Ships every logged changeset the standby lacks. With a synchronous link, call it
    /// before acknowledging an enrollment or deletion to the client.
    public func replicate(over link: any ReplicationLink, standbyPosition: Int64) async throws -> Int64 {
        try await Replicator.ship(from: replicationLog, after: standbyPosition, over: link)
    }
}
