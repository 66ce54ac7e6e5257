import Crypto
import Foundation
import Synchronization
import TanbaCore
import TanbaSQLite
import TanbaWire

/// A stand-in for the coordinator, for station tests and the branch-outage harness until the
/// real cluster (TanbaCluster) lands: the same signed protocol, a small SQLite gallery, 1:1
/// verification with a scoring function supplied by the caller (the CLI passes TanbaMatch's
/// comparator). It is not the cluster: no shards, an exhaustive 1:N over a small gallery,
/// no encryption at rest.
///
/// What it enforces, so station tests show real behaviour: a CONSENT signed by the sending
/// station (verified against its keyring key) must be on record before ENROLL/UPDATE; ENROLL
/// of an enrolled IIN answers "already enrolled"; UPDATE archives the previous record;
/// revoked consent and DELETE remove the record. It counts every ENROLL that reached the
/// handler for an IIN already enrolled (`repeatedEnrollments`): with request IDs and the
/// de-duplication cache that stays 0 however often the station resends.
public final class StandInCoordinator: Sendable {
    public typealias Scorer = @Sendable (FingerTemplate, FingerTemplate) -> Float
    private let db: Mutex<Database>
    private let scorer: Scorer
    public let threshold: Float
    public let keyring: Keyring
    private let started = ContinuousClock.now

    public init(path: String = ":memory:", keyring: Keyring, threshold: Float = 0.5, scorer: @escaping Scorer) throws {
        let database = try Database(path: path)
        try Migrator.migrate(database, [Migration(version: 1, name: "stand-in coordinator", sql: """
            CREATE TABLE enrolled (iin TEXT PRIMARY KEY, record BLOB NOT NULL, station TEXT NOT NULL, at TEXT NOT NULL);
            CREATE TABLE archive (iin TEXT NOT NULL, record BLOB NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
            CREATE TABLE consents (iin TEXT NOT NULL, action INTEGER NOT NULL, document BLOB NOT NULL UNIQUE,
                                   signature BLOB NOT NULL, station TEXT NOT NULL, at TEXT NOT NULL);
            CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """)])
        self.db = Mutex(database)
        self.keyring = keyring
        self.threshold = threshold
        self.scorer = scorer
    }

    public func service(identity: NodeIdentity) -> SignedService {
        SignedService(identity: identity, keyring: keyring) { sender, request in self.handle(sender: sender, request) }
    }

    // MARK: State for tests and the harness

    public func enrolledIINs() -> [String] {
        db.withLock { (try? $0.query("SELECT iin FROM enrolled ORDER BY iin").compactMap { $0[0].string }) ?? [] }
    }
    public func record(_ iin: IIN) -> FingerprintRecord? {
        db.withLock { db in
            guard let b = try? db.query("SELECT record FROM enrolled WHERE iin = ?", [.text(iin.digits)]).first?[0].bytes else { return nil }
            return try? TemplateCodec.decode(b, as: .native)
        }
    }
    public func archivedCount(_ iin: IIN) -> Int {
        db.withLock { (try? $0.query("SELECT COUNT(*) FROM archive WHERE iin = ?", [.text(iin.digits)]).first?[0].int) ?? nil ?? 0 }
    }
    public func consentDocuments(_ iin: IIN) -> [(action: Int, document: [UInt8])] {
        db.withLock { (try? $0.query("SELECT action, document FROM consents WHERE iin = ? ORDER BY rowid", [.text(iin.digits)])
            .map { ($0[0].int ?? 0, $0[1].bytes ?? []) }) ?? [] }
    }
    public func counter(_ name: String) -> Int {
        db.withLock { (try? $0.query("SELECT value FROM counters WHERE name = ?", [.text(name)]).first?[0].int) ?? nil ?? 0 }
    }
    /// ENROLL requests executed (not answered from the de-duplication cache).
    public var enrollExecutions: Int { counter("enroll-executions") }
    public var repeatedEnrollments: Int { counter("repeated-enrollments") }

    private static func bump(_ db: Database, _ name: String) throws {
        try db.run("INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", [.text(name)])
    }

    private func hasConsent(_ db: Database, _ iin: IIN) throws -> Bool {
        let last = try db.query("SELECT action FROM consents WHERE iin = ? ORDER BY rowid DESC LIMIT 1", [.text(iin.digits)])
        return last.first?[0].int == Int(ConsentRequest.Action.granted.rawValue)
    }

    // MARK: Handler

    public func handle(sender: String, _ request: WireMessage) -> WireMessage {
        let now = AstanaTime.now()
        do {
            return try db.withLock { db throws -> WireMessage in
                switch request {
                case .ping(let nonce):
                    return .pong(nonce: nonce, uptimeMilliseconds: UInt64((ContinuousClock.now - started).components.seconds * 1000))
                case .status:
                    let n = try db.query("SELECT COUNT(*) FROM enrolled")[0][0].int ?? 0
                    return .statusAnswer(StatusAnswer(role: .coordinator, ready: true, uptimeMilliseconds: 0, shards: [0],
                                                      persons: UInt64(n), pendingJobs: 0))
                case .consent(let c):
                    guard let raw = keyring.keys[sender], let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
                          key.isValidSignature(c.signature, for: c.document) else {
                        return .error(code: .invalidArgument, message: "consent document not signed by \(sender)")
                    }
                    let exists = try db.query("SELECT 1 FROM consents WHERE document = ?", [.blob(c.document)]).count > 0
                    if !exists {
                        try db.run("INSERT INTO consents (iin, action, document, signature, station, at) VALUES (?, ?, ?, ?, ?, ?)",
                                   [.text(c.iin.digits), .integer(Int64(c.action.rawValue)), .blob(c.document), .blob(c.signature),
                                    .text(sender), .text(now)])
                    }
                    return .consentAnswer(recorded: !exists)
                case .enroll(let e):
                    guard try hasConsent(db, e.iin) else {
                        return .error(code: .invalidArgument, message: "no consent on record for \(e.iin)")
                    }
                    try StandInCoordinator.bump(db, "enroll-executions")
                    if try db.query("SELECT 1 FROM enrolled WHERE iin = ?", [.text(e.iin.digits)]).count > 0 {
                        try StandInCoordinator.bump(db, "repeated-enrollments")
                        return .enrollAnswer(EnrollAnswer(outcome: .alreadyEnrolled, coverage: ShardCoverage(contributed: [0])))
                    }
                    try db.run("INSERT INTO enrolled (iin, record, station, at) VALUES (?, ?, ?, ?)",
                               [.text(e.iin.digits), .blob(try TemplateCodec.encode(e.record, as: .native)), .text(sender), .text(now)])
                    return .enrollAnswer(EnrollAnswer(outcome: .enrolled, coverage: ShardCoverage(contributed: [0])))
                case .update(let u):
                    guard try hasConsent(db, u.iin) else {
                        return .error(code: .invalidArgument, message: "no consent on record for \(u.iin)")
                    }
                    guard let old = try db.query("SELECT record FROM enrolled WHERE iin = ?", [.text(u.iin.digits)]).first?[0].bytes else {
                        return .error(code: .notFound, message: "\(u.iin) is not enrolled")
                    }
                    try db.run("INSERT INTO archive (iin, record, reason, at) VALUES (?, ?, ?, ?)",
                               [.text(u.iin.digits), .blob(old), .text(u.reason), .text(now)])
                    try db.run("UPDATE enrolled SET record = ?, station = ?, at = ? WHERE iin = ?",
                               [.blob(try TemplateCodec.encode(u.record, as: .native)), .text(sender), .text(now), .text(u.iin.digits)])
                    return .updateAnswer(archivedPrevious: true, coverage: ShardCoverage(contributed: [0]))
                case .delete(let d):
                    let n = try db.run("DELETE FROM enrolled WHERE iin = ?", [.text(d.iin.digits)])
                    try db.run("DELETE FROM archive WHERE iin = ?", [.text(d.iin.digits)])
                    return .deleteAnswer(deleted: n > 0, coverage: ShardCoverage(contributed: [0]))
                case .verify(let v):
                    guard let b = try db.query("SELECT record FROM enrolled WHERE iin = ?", [.text(v.claimedIIN.digits)]).first?[0].bytes else {
                        return .error(code: .notFound, message: "\(v.claimedIIN) is not enrolled")
                    }
                    let enrolled = try TemplateCodec.decode(b, as: .native)
                    var scores: [FingerScore] = []
                    for probe in v.probe.views {
                        guard let reference = enrolled.view(for: probe.position) else { continue }
                        scores.append(FingerScore(position: probe.position, score: scorer(probe, reference)))
                    }
                    let fused = scores.map(\.score).max() ?? 0
                    return .verifyAnswer(VerifyAnswer(isMatch: fused >= threshold, fusedScore: fused, fingerScores: scores,
                                                      threshold: threshold, coverage: ShardCoverage(contributed: [0])))
                case .identify(let q):
                    // Exhaustive 1:N over the (small) stand-in gallery: best score per finger
                    // position, fused by the maximum, as VERIFY does.
                    var candidates: [Candidate] = []
                    for row in try db.query("SELECT iin, record FROM enrolled") {
                        guard let iin = try? IIN(row[0].string ?? ""), let bytes = row[1].bytes else { continue }
                        let enrolled = try TemplateCodec.decode(bytes, as: .native)
                        var scores: [FingerScore] = []
                        for probe in q.probe.views {
                            guard let reference = enrolled.view(for: probe.position) else { continue }
                            scores.append(FingerScore(position: probe.position, score: scorer(probe, reference)))
                        }
                        let fused = scores.map(\.score).max() ?? 0
                        if fused >= threshold { candidates.append(Candidate(iin: iin, fusedScore: fused, fingerScores: scores)) }
                    }
                    candidates.sort { $0.fusedScore > $1.fusedScore }
                    return .identifyAnswer(IdentifyAnswer(candidates: Array(candidates.prefix(q.topK)), threshold: threshold,
                                                          coverage: ShardCoverage(contributed: [0])))
                default:
                    return .error(code: .unsupported, message: "the stand-in coordinator does not serve \(request.type)")
                }
            }
        } catch {
            return .error(code: .internal, message: "\(error)")
        }
    }
}
