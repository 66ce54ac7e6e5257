import TanbaCore
import TanbaSQLite
import Crypto
import Foundation

/// One event of the log [LEX 37]: who did what, on what grounds, to whom, with what result.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var actor: String
    public var role: String
    /// The legal basis (e.g. "criminal", "BIO 3 consent", "admin").
    public var basis: String
    /// The case number, where the basis requires one [LEX 3, 20-27].
    public var caseNumber: String?
    public var operation: String
    /// A keyed hash of the subject's IIN (never the IIN), or nil for actions without a subject.
    public var subjectRef: String?
    public var result: String
    /// Astana time, ISO 8601 with "+05:00" [LEX 28]. Filled in by `append` when empty.
    public var at: String

    public init(actor: String, role: String, basis: String, caseNumber: String? = nil, operation: String,
                subjectRef: String? = nil, result: String, at: String = "") {
        self.actor = actor
        self.role = role
        self.basis = basis
        self.caseNumber = caseNumber
        self.operation = operation
        self.subjectRef = subjectRef
        self.result = result
        self.at = at
    }
}

public enum AuditLogError: Error, Equatable, CustomStringConvertible, Sendable {
    case notAstanaTime(String)

    public var description: String {
        switch self {
        case .notAstanaTime(let at): "audit entry time '\(at)' is not Astana time (ISO 8601 with +05:00) [LEX 28]"
        }
    }
}

/// What `AuditLog.verify` found.
public struct AuditVerification: Sendable, Equatable, Codable {
    public enum Problem: String, Sendable, Codable {
        /// An entry's content no longer matches its hash (or was rewritten with a fresh hash
        /// that its successor does not link to).
        case edited
        /// An entry is missing from the chain.
        case deleted
        /// An entry that was never appended sits in the chain.
        case inserted
        /// Entries are in a different order than they were appended in.
        case reordered
        /// The chain ends before an externally kept head (anchor).
        case truncated
    }

    public var ok: Bool
    public var entriesChecked: Int
    public var problem: Problem?
    /// The first sequence number at which the log is wrong.
    public var firstBadSeq: Int64?
    public var detail: String?
    /// Sequence number and hash of the last good entry: publish it to make truncation
    /// and wholesale rewriting detectable (see docs/store.md).
    public var headSeq: Int64
    public var headHash: String
}

/// Append-only, hash-chained event log in the store's database.
///
/// hash(n) = SHA-256("tanba-audit-v1" ‖ hash(n-1) ‖ seq ‖ canonical(entry)), with 32 zero
/// bytes before the first entry. The sequence number is inside the hash, so moving an
/// entry is detected as well as changing it. Old entries are rotated into `audit_archive`
/// in segments; the chain runs through both tables unchanged, so rotation loses nothing.
public struct AuditLog {
    let db: Database
    public init(db: Database) { self.db = db }

    static let genesis = [UInt8](repeating: 0, count: 32)

    static func canonical(_ e: AuditEntry) -> [UInt8] {
        // Length-prefixed fields: no separator ambiguity, and nil differs from "".
        var out: [UInt8] = []
        func put(_ s: String?) {
            guard let s else { out.append(0); return }
            out.append(1)
            let bytes = Array(s.utf8)
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { out += $0 }
            out += bytes
        }
        for field in [e.at, e.actor, e.role, e.basis, e.caseNumber, e.operation, e.subjectRef, e.result] { put(field) }
        return out
    }

    static func hash(previous: [UInt8], seq: Int64, entry: AuditEntry) -> [UInt8] {
        var h = SHA256()
        h.update(data: Array("tanba-audit-v1".utf8))
        h.update(data: previous)
        withUnsafeBytes(of: seq.bigEndian) { h.update(bufferPointer: $0) }
        h.update(data: canonical(entry))
        return Array(h.finalize())
    }

    /// Appends one entry and returns its sequence number. Call it inside the transaction
    /// of the operation it records, so the entry exists if and only if the operation does.
    @discardableResult
    public func append(_ entry: AuditEntry) throws -> Int64 {
        var e = entry
        if e.at.isEmpty { e.at = AstanaTime.now() }
        // [LEX 28]: the log is read by people comparing times across branches; an entry in
        // another offset (a caller's UTC timestamp) would read as five hours off.
        guard e.at.hasSuffix("+05:00"), AstanaTime.parse(e.at) != nil else { throw AuditLogError.notAstanaTime(e.at) }
        // The live table holds the newest entries; it is empty only right after a rotation.
        let last = try db.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first
            ?? db.query("SELECT seq, hash FROM audit_archive ORDER BY seq DESC LIMIT 1").first
        let seq = (last?[0].int64 ?? 0) + 1
        let previous = last?[1].bytes ?? AuditLog.genesis
        try db.run("""
            INSERT INTO audit_log (seq, at, actor, role, basis, case_number, operation, subject_ref, result, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(seq), .text(e.at), .text(e.actor), .text(e.role), .text(e.basis),
                  e.caseNumber.map { .text($0) } ?? .null, .text(e.operation),
                  e.subjectRef.map { .text($0) } ?? .null, .text(e.result),
                  .blob(previous), .blob(AuditLog.hash(previous: previous, seq: seq, entry: e))])
        return seq
    }

    struct Row {
        let seq: Int64
        let entry: AuditEntry
        let prev: [UInt8]
        let hash: [UInt8]
    }

    func rows() throws -> [Row] {
        let columns = "seq, at, actor, role, basis, case_number, operation, subject_ref, result, prev_hash, hash"
        return try db.query("""
            SELECT \(columns) FROM audit_archive UNION ALL SELECT \(columns) FROM audit_log ORDER BY seq
            """).map { r in
            Row(seq: r[0].int64!,
                entry: AuditEntry(actor: r[2].string ?? "", role: r[3].string ?? "", basis: r[4].string ?? "",
                                  caseNumber: r[5].string, operation: r[6].string ?? "", subjectRef: r[7].string,
                                  result: r[8].string ?? "", at: r[1].string ?? ""),
                prev: r[9].bytes ?? [], hash: r[10].bytes ?? [])
        }
    }

    /// All entries in order (archive first), for reports.
    public func entries() throws -> [(seq: Int64, entry: AuditEntry)] {
        try rows().map { ($0.seq, $0.entry) }
    }

    /// The entries about one subject (its `subject_ref`), in order, through the
    /// per-subject indexes (schema 7) instead of a scan of the whole log.
    public func entries(subjectRef: String) throws -> [(seq: Int64, entry: AuditEntry)] {
        let columns = "seq, at, actor, role, basis, case_number, operation, subject_ref, result"
        return try db.query("""
            SELECT \(columns) FROM audit_archive WHERE subject_ref = ?1
            UNION ALL SELECT \(columns) FROM audit_log WHERE subject_ref = ?1 ORDER BY seq
            """, [.text(subjectRef)]).map { r in
            (r[0].int64!, AuditEntry(actor: r[2].string ?? "", role: r[3].string ?? "", basis: r[4].string ?? "",
                                     caseNumber: r[5].string, operation: r[6].string ?? "", subjectRef: r[7].string,
                                     result: r[8].string ?? "", at: r[1].string ?? ""))
        }
    }

    /// Walks the whole chain (archived segments and live log) and reports the first
    /// problem. `anchor` is a head published earlier (seq, hex hash): a chain that no
    /// longer reaches it, or reaches it with another hash, was truncated or rewritten.
    public func verify(anchor: (seq: Int64, hash: String)? = nil) throws -> AuditVerification {
        let rows = try rows()
        // Which sequence number was `row` hashed under? nil if none nearby: its content changed.
        func originalSeq(_ row: Row) -> Int64? {
            if AuditLog.hash(previous: row.prev, seq: row.seq, entry: row.entry) == row.hash { return row.seq }
            for d in Int64(1)...256 {
                for s in [row.seq - d, row.seq + d] where s > 0 {
                    if AuditLog.hash(previous: row.prev, seq: s, entry: row.entry) == row.hash { return s }
                }
            }
            return nil
        }
        var previous = AuditLog.genesis
        var headSeq: Int64 = 0
        func result(_ problem: AuditVerification.Problem?, _ seq: Int64?, _ detail: String?, checked: Int) -> AuditVerification {
            AuditVerification(ok: problem == nil, entriesChecked: checked, problem: problem, firstBadSeq: seq, detail: detail,
                              headSeq: headSeq, headHash: hex(previous))
        }
        for (i, row) in rows.enumerated() {
            let k = headSeq + 1
            if row.seq > k {
                return result(.deleted, k, "entries \(k)...\(row.seq - 1) are missing", checked: i)
            }
            if row.seq < k {
                return result(.inserted, row.seq, "sequence number \(row.seq) appears twice", checked: i)
            }
            let original = originalSeq(row)
            if original == k && row.prev == previous {
                previous = row.hash
                headSeq = k
                continue
            }
            let later = rows[(i + 1)...].prefix(256)
            // Rows spliced in: skipping them, the chain continues from the last good entry.
            if original == nil || original == k, later.contains(where: { $0.prev == previous && originalSeq($0) == k }) {
                return result(.inserted, k, "entry \(k) was not appended in this chain", checked: i)
            }
            switch original {
            case nil:
                return result(.edited, k, "entry \(k) does not match its hash", checked: i)
            case let s? where s == k:
                // Self-consistent but not linked to its predecessor. The data cannot tell a
                // forged entry from a predecessor rewritten with a fresh hash; at the end of
                // the log the first is the likely story (an appended forgery), before a
                // genuine successor the second.
                if i == rows.count - 1 {
                    return result(.inserted, k, "entry \(k) does not link to the chain (appended forgery, or entry \(k - 1) rewritten)", checked: i)
                }
                let edited = max(k - 1, 1)
                return result(.edited, edited, "entry \(edited) was rewritten: entry \(k) does not link to it", checked: i)
            case let s? where s < k:
                return result(.inserted, s, "entries were inserted before the entry appended as \(s)", checked: i)
            case let s?:
                if later.contains(where: { $0.prev == previous && originalSeq($0) == k }) {
                    return result(.reordered, k, "entry \(k) holds the entry appended as \(s)", checked: i)
                }
                return result(.deleted, k, "entry \(k) is missing; later entries were renumbered", checked: i)
            }
        }
        for segment in try db.query("SELECT segment, last_seq, last_hash FROM audit_segments ORDER BY segment") {
            let last = segment[1].int64!
            guard let row = rows.first(where: { $0.seq == last }), row.hash == segment[2].bytes else {
                return result(.edited, last, "segment \(segment[0].int64!) no longer ends with the hash recorded when it was archived",
                              checked: rows.count)
            }
        }
        if let anchor {
            if headSeq < anchor.seq {
                return result(.truncated, headSeq + 1, "the chain ends at \(headSeq) but was published up to \(anchor.seq)",
                              checked: rows.count)
            }
            if let row = rows.first(where: { $0.seq == anchor.seq }), hex(row.hash) != anchor.hash.lowercased() {
                return result(.edited, anchor.seq, "entry \(anchor.seq) differs from the published head", checked: rows.count)
            }
        }
        return result(nil, nil, nil, checked: rows.count)
    }

    /// Moves live entries up to `through` into a new archived segment: copied first,
    /// removed from the live table after (a trigger refuses to remove an entry without
    /// an identical archived copy). Runs inside the caller's transaction
    /// (`Store.archiveAuditSegment`). Returns the segment number, or nil when there was
    /// nothing to archive.
    func archiveSegment(through seq: Int64) throws -> Int64? {
        let range = try db.query("SELECT MIN(seq), MAX(seq) FROM audit_log WHERE seq <= ?", [.integer(seq)])[0]
        guard let first = range[0].int64, let last = range[1].int64 else { return nil }
        let segment = (try db.query("SELECT COALESCE(MAX(segment), 0) + 1 FROM audit_segments")[0][0].int64)!
        try db.run("""
            INSERT INTO audit_archive
            SELECT seq, at, actor, role, basis, case_number, operation, subject_ref, result, prev_hash, hash, ?
            FROM audit_log WHERE seq BETWEEN ? AND ?
            """, [.integer(segment), .integer(first), .integer(last)])
        let lastHash = try db.query("SELECT hash FROM audit_log WHERE seq = ?", [.integer(last)])[0][0]
        try db.run("INSERT INTO audit_segments VALUES (?, ?, ?, ?, ?)",
                   [.integer(segment), .integer(first), .integer(last), lastHash, .text(AstanaTime.now())])
        try db.run("DELETE FROM audit_log WHERE seq BETWEEN ? AND ?", [.integer(first), .integer(last)])
        return segment
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}
