import Foundation
import Synchronization
import TanbaCore
import TanbaSQLite
import TanbaWire

/// One queued request. The request ID is fixed when the item is written, so every resend —
/// after a timeout, a coordinator outage, or a kill -9 of the station — carries the same ID
/// and the coordinator answers it from its de-duplication cache instead of executing it again.
public struct OutboxItem: Sendable, Equatable {
    public enum State: String, Sendable { case pending, delivered, failed }
    public var seq: Int64
    public var requestID: RequestID
    public var type: MessageType
    public var body: [UInt8]
    public var iin: String
    public var label: String
    public var createdAt: String
    public var state: State
    public var attempts: Int
    public var nextAttemptMilliseconds: Int64
    public var lastError: String?
    public var answer: String?

    /// Decoded as the newest version: bodies kept here may carry version-2 fields (ENROLL
    /// exceptions), and every version-1 body is also a valid version-2 body.
    public func message() throws -> WireMessage { try WireMessage.decode(type: type, payload: body, version: Envelope.currentVersion) }
}

/// The station's durable queue (SQLite, WAL, synchronous FULL): every request is committed
/// here before the first attempt to send it. Items of one person go out in the order they
/// were written (consent before enrollment); items of different persons do not wait for each other.
public final class Outbox: Sendable {
    static let migrations = [
        Migration(version: 1, name: "station outbox", sql: """
            CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                request_hi INTEGER NOT NULL,
                request_lo INTEGER NOT NULL,
                type INTEGER NOT NULL,
                body BLOB NOT NULL,
                iin TEXT NOT NULL,
                label TEXT NOT NULL,
                created_at TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ms INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                answer TEXT,
                delivered_at TEXT,
                UNIQUE (request_hi, request_lo));
            CREATE INDEX outbox_pending ON outbox (state, seq);
            -- The station keeps every signed consent and revocation it took: the operator
            -- carries the burden of proof [PD 8.3].
            CREATE TABLE consents (
                id TEXT PRIMARY KEY,
                iin TEXT NOT NULL,
                action INTEGER NOT NULL,
                document BLOB NOT NULL,
                signature BLOB NOT NULL,
                created_at TEXT NOT NULL);
            CREATE INDEX consents_iin ON consents (iin);
            """),
        Migration(version: 2, name: "enrollment journal", sql: """
            -- What the station enrolled and which fingers it did not capture, and why [BIO 7]:
            -- the protocol's ENROLL carries only the captured fingers.
            CREATE TABLE enrollments (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                iin TEXT NOT NULL,
                kind TEXT NOT NULL,
                consent_id TEXT NOT NULL,
                fingers TEXT NOT NULL,
                exceptions TEXT NOT NULL,
                outbox_seq INTEGER NOT NULL REFERENCES outbox (seq),
                created_at TEXT NOT NULL);
            CREATE INDEX enrollments_iin ON enrollments (iin);
            """),
    ]

    private let db: Mutex<Database>
    public let path: String

    public init(path: String) throws {
        let database = try Database(path: path)
        try Migrator.migrate(database, Outbox.migrations)
        self.path = path
        self.db = Mutex(database)
    }

    /// A request to write: the message and a label for listings.
    public struct Entry: Sendable {
        public var message: WireMessage
        public var iin: IIN
        public var label: String
        public var requestID: RequestID
        public init(_ message: WireMessage, iin: IIN, label: String, requestID: RequestID = .random()) {
            self.message = message
            self.iin = iin
            self.label = label
            self.requestID = requestID
        }
    }

    /// A journal line for an enrollment: written with its outbox items.
    public struct JournalEntry: Sendable, Equatable {
        public var iin: String
        public var kind: String
        public var consentID: String
        public var fingers: [String]
        public var exceptions: [FingerException]
        /// Index into the enqueued entries of the ENROLL/UPDATE item.
        public var entryIndex: Int
        public init(iin: String, kind: String, consentID: String, fingers: [String], exceptions: [FingerException], entryIndex: Int) {
            self.iin = iin
            self.kind = kind
            self.consentID = consentID
            self.fingers = fingers
            self.exceptions = exceptions
            self.entryIndex = entryIndex
        }
    }

    /// Writes `entries` in one transaction (all or none) and, when given, the signed consent
    /// documents and the enrollment journal line that go with them. Returns the sequence numbers.
    @discardableResult
    public func enqueue(_ entries: [Entry], consents: [ConsentRequest] = [], consentIDs: [String] = [],
                        journal: JournalEntry? = nil) throws -> [Int64] {
        try db.withLock { db in
            try db.transaction {
                let now = AstanaTime.now()
                for (i, c) in consents.enumerated() {
                    let id = i < consentIDs.count ? consentIDs[i] : UUID().uuidString.lowercased()
                    try db.run("INSERT OR IGNORE INTO consents (id, iin, action, document, signature, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               [.text(id), .text(c.iin.digits), .integer(Int64(c.action.rawValue)), .blob(c.document),
                                .blob(c.signature), .text(now)])
                }
                var seqs: [Int64] = []
                for e in entries {
                    try db.run("""
                        INSERT INTO outbox (request_hi, request_lo, type, body, iin, label, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """, [.integer(Int64(bitPattern: e.requestID.high)), .integer(Int64(bitPattern: e.requestID.low)),
                              .integer(Int64(e.message.type.rawValue)), .blob(e.message.encodedBody()),
                              .text(e.iin.digits), .text(e.label), .text(now)])
                    seqs.append(db.lastInsertRowID)
                }
                if let j = journal {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    try db.run("""
                        INSERT INTO enrollments (iin, kind, consent_id, fingers, exceptions, outbox_seq, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """, [.text(j.iin), .text(j.kind), .text(j.consentID),
                              .text(String(decoding: try encoder.encode(j.fingers), as: UTF8.self)),
                              .text(String(decoding: try encoder.encode(j.exceptions), as: UTF8.self)),
                              .integer(seqs[j.entryIndex]), .text(now)])
                }
                return seqs
            }
        }
    }

    static let columns = "seq, request_hi, request_lo, type, body, iin, label, created_at, state, attempts, next_attempt_ms, last_error, answer"

    static func item(_ r: [SQLValue]) -> OutboxItem {
        OutboxItem(seq: r[0].int64!, requestID: RequestID(high: UInt64(bitPattern: r[1].int64!), low: UInt64(bitPattern: r[2].int64!)),
                   type: MessageType(rawValue: UInt8(r[3].int!))!, body: r[4].bytes ?? [], iin: r[5].string!,
                   label: r[6].string!, createdAt: r[7].string!, state: OutboxItem.State(rawValue: r[8].string!)!,
                   attempts: r[9].int!, nextAttemptMilliseconds: r[10].int64!, lastError: r[11].string, answer: r[12].string)
    }

    /// Pending items, oldest first.
    public func pending() throws -> [OutboxItem] {
        try db.withLock { try $0.query("SELECT \(Outbox.columns) FROM outbox WHERE state = 'pending' ORDER BY seq").map(Outbox.item) }
    }

    /// Every item (newest last), optionally only one state.
    public func items(state: OutboxItem.State? = nil) throws -> [OutboxItem] {
        try db.withLock { db in
            if let state {
                return try db.query("SELECT \(Outbox.columns) FROM outbox WHERE state = ? ORDER BY seq", [.text(state.rawValue)]).map(Outbox.item)
            }
            return try db.query("SELECT \(Outbox.columns) FROM outbox ORDER BY seq").map(Outbox.item)
        }
    }

    public func item(seq: Int64) throws -> OutboxItem? {
        try db.withLock { try $0.query("SELECT \(Outbox.columns) FROM outbox WHERE seq = ?", [.integer(seq)]).first.map(Outbox.item) }
    }

    public func counts() throws -> [OutboxItem.State: Int] {
        try db.withLock { db in
            var out: [OutboxItem.State: Int] = [.pending: 0, .delivered: 0, .failed: 0]
            for r in try db.query("SELECT state, COUNT(*) FROM outbox GROUP BY state") {
                if let s = OutboxItem.State(rawValue: r[0].string ?? "") { out[s] = r[1].int ?? 0 }
            }
            return out
        }
    }

    public func markDelivered(_ seq: Int64, answer: String) throws {
        try db.withLock {
            // The body (templates) is dropped once delivered: the station keeps no biometric
            // data it no longer needs [PD 12]; secure_delete zeroes the freed pages.
            _ = try $0.run("UPDATE outbox SET state = 'delivered', attempts = attempts + 1, answer = ?, delivered_at = ?, last_error = NULL, body = X'' WHERE seq = ?",
                       [.text(answer), .text(AstanaTime.now()), .integer(seq)])
        }
    }

    public func markRetry(_ seq: Int64, error: String, nextAttemptMilliseconds: Int64) throws {
        try db.withLock {
            _ = try $0.run("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ? WHERE seq = ?",
                       [.text(error), .integer(nextAttemptMilliseconds), .integer(seq)])
        }
    }

    public func markFailed(_ seq: Int64, error: String) throws {
        try db.withLock {
            _ = try $0.run("UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?, body = X'' WHERE seq = ?",
                       [.text(error), .integer(seq)])
        }
    }

    /// The journal of a person's enrollments at this station, oldest first.
    public func journal(iin: IIN) throws -> [JournalEntry] {
        try db.withLock { db in
            try db.query("SELECT iin, kind, consent_id, fingers, exceptions FROM enrollments WHERE iin = ? ORDER BY seq",
                         [.text(iin.digits)]).map { r in
                let decoder = JSONDecoder()
                return JournalEntry(iin: r[0].string ?? "", kind: r[1].string ?? "", consentID: r[2].string ?? "",
                                    fingers: (try? decoder.decode([String].self, from: Data((r[3].string ?? "[]").utf8))) ?? [],
                                    exceptions: (try? decoder.decode([FingerException].self, from: Data((r[4].string ?? "[]").utf8))) ?? [],
                                    entryIndex: 1)
            }
        }
    }

    /// Signed consent documents kept for a person (proof of consent).
    public func consents(iin: IIN) throws -> [(action: ConsentRequest.Action, document: [UInt8], signature: [UInt8])] {
        try db.withLock { db in
            try db.query("SELECT action, document, signature FROM consents WHERE iin = ? ORDER BY created_at, rowid", [.text(iin.digits)]).map {
                (ConsentRequest.Action(rawValue: UInt8($0[0].int!))!, $0[1].bytes ?? [], $0[2].bytes ?? [])
            }
        }
    }
}

/// Exponential back-off while the coordinator is unreachable.
public struct BackoffPolicy: Sendable, Equatable {
    public var initialMilliseconds: Int64
    public var maximumMilliseconds: Int64
    public init(initialMilliseconds: Int64 = 500, maximumMilliseconds: Int64 = 30_000) {
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
    }
    /// Delay after the `attempt`-th consecutive failure (1-based): initial·2^(attempt−1), capped.
    public func delay(afterAttempt attempt: Int) -> Int64 {
        let shift = min(max(attempt - 1, 0), 30)
        return min(maximumMilliseconds, initialMilliseconds << Int64(shift))
    }
}

/// Sends the outbox to the coordinator over the signed protocol.
public final class OutboxSender: Sendable {
    public struct Pass: Sendable, Equatable {
        public var delivered = 0
        public var failed = 0
        public var retried = 0
        /// The coordinator was unreachable; the pass stopped.
        public var unreachable = false
        public var lastError: String?
    }

    public let outbox: Outbox
    public let caller: SignedCaller
    public let peer: String
    public let address: String
    public let policy: BackoffPolicy
    public let requestDeadline: Duration
    private let clock: @Sendable () -> Int64
    private let consecutiveFailures = Mutex(0)
    /// After the coordinator was found unreachable, nothing is sent before this time.
    private let holdUntil = Mutex<Int64>(0)

    public init(outbox: Outbox, caller: SignedCaller, peer: String = "coordinator", address: String,
                policy: BackoffPolicy = .init(), requestDeadline: Duration = .seconds(10),
                clock: @escaping @Sendable () -> Int64 = WireClock.nowMilliseconds) {
        self.outbox = outbox
        self.caller = caller
        self.peer = peer
        self.address = address
        self.policy = policy
        self.requestDeadline = requestDeadline
        self.clock = clock
    }

    /// Milliseconds until the earliest pending item is due (0 if one is due; nil if none pending).
    public func millisecondsUntilDue() throws -> Int64? {
        let now = clock()
        guard let due = try outbox.pending().map({ max(0, $0.nextAttemptMilliseconds - now) }).min() else { return nil }
        return max(due, holdUntil.withLock { $0 } - now)
    }

    /// Sends every due item once, in order; stops at the first sign that the coordinator is
    /// unreachable (that item is rescheduled with back-off). `progress` sees each outcome.
    public func sendDue(progress: (@Sendable (OutboxItem, String) -> Void)? = nil) async throws -> Pass {
        var pass = Pass()
        if holdUntil.withLock({ $0 }) > clock() {
            pass.unreachable = true
            return pass
        }
        var blockedIINs = Set<String>()
        passLoop: for item in try outbox.pending() {
            if blockedIINs.contains(item.iin) { continue }
            if item.nextAttemptMilliseconds > clock() { blockedIINs.insert(item.iin); continue }
            let message: WireMessage
            do { message = try item.message() } catch {
                // A body that no longer decodes (written by an older release, or a request the
                // protocol cannot carry, e.g. an ENROLL without any finger) can never be sent:
                // it is marked failed with the reason instead of stopping every later item.
                let text = "cannot send: the stored request does not decode: \(error)"
                try outbox.markFailed(item.seq, error: text)
                pass.failed += 1
                pass.lastError = text
                progress?(item, "failed: \(text)")
                continue
            }
            let result: Result<WireMessage, SignedCaller.CallError>
            do {
                result = .success(try await caller.call(message, to: peer, at: address, deadline: requestDeadline,
                                                        requestID: item.requestID))
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let answer):
                consecutiveFailures.withLock { $0 = 0 }
                let text = OutboxSender.describe(answer, resend: item.attempts > 0)
                try outbox.markDelivered(item.seq, answer: text)
                pass.delivered += 1
                progress?(item, "delivered: \(text)")
            case .failure(let error):
                let text = error.description
                pass.lastError = text
                if OutboxSender.isPermanent(error) {
                    try outbox.markFailed(item.seq, error: text)
                    pass.failed += 1
                    progress?(item, "failed: \(text)")
                    continue
                }
                let n = consecutiveFailures.withLock { $0 += 1; return $0 }
                let delay = policy.delay(afterAttempt: n)
                try outbox.markRetry(item.seq, error: text, nextAttemptMilliseconds: clock() + delay)
                pass.retried += 1
                progress?(item, "will retry in \(delay) ms: \(text)")
                if OutboxSender.isUnreachable(error) {
                    let until = clock() + delay
                    holdUntil.withLock { $0 = until }
                    pass.unreachable = true
                    break passLoop
                }
                blockedIINs.insert(item.iin)
            }
        }
        return pass
    }

    /// Sends until nothing is pending, sleeping through back-off, or until `timeout`.
    /// Returns false on timeout.
    public func drain(timeout: Duration, progress: (@Sendable (OutboxItem, String) -> Void)? = nil) async throws -> Bool {
        let start = ContinuousClock.now
        while true {
            _ = try await sendDue(progress: progress)
            guard let wait = try millisecondsUntilDue() else { return true }
            if ContinuousClock.now - start >= timeout { return false }
            try await Task.sleep(for: .milliseconds(max(wait, 20)))
        }
    }

    static func isUnreachable(_ error: SignedCaller.CallError) -> Bool {
        if case .transport = error { return true }
        if case .remote(let code, _) = error, code == .unavailable || code == .overloaded { return true }
        return false
    }

    /// Errors that a resend cannot fix: the operator sees them in `tanba station outbox`.
    static func isPermanent(_ error: SignedCaller.CallError) -> Bool {
        guard case .remote(let code, _) = error else { return false }
        switch code {
        case .unavailable, .overloaded, .timedOut, .stale, .unauthenticated, .internal: return false
        default: return true
        }
    }

    static func describe(_ answer: WireMessage, resend: Bool) -> String {
        switch answer {
        case .enrollAnswer(let a):
            let outcome: String = switch a.outcome {
            case .enrolled: "enrolled"
            case .heldForAdjudication: "held for adjudication (\(a.possibleDuplicates.count) possible duplicates)"
            case .alreadyEnrolled: resend ? "already enrolled (answer to a resend)" : "already enrolled"
            }
            return outcome + (a.coverage.isPartial ? ", partial coverage" : "")
        case .updateAnswer(let archived, _): return archived ? "re-enrolled, previous record archived" : "re-enrolled"
        case .deleteAnswer(let deleted, _): return deleted ? "deleted" : "nothing to delete"
        case .consentAnswer(let recorded): return recorded ? "consent recorded" : "consent already recorded"
        default: return "\(answer.type)"
        }
    }
}
