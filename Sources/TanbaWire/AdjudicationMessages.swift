import TanbaCore

/// ADJUDICATE (0x0C): an examiner's decision on an enrollment that 1:N de-duplication held
/// as a possible duplicate, or the list of enrollments waiting for one. Only senders the
/// coordinator lists as examiners may send it; the examiner's login is recorded with the
/// decision and in the audit log.
public struct AdjudicateRequest: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        /// Not a duplicate: enroll the held person as a new person.
        case accept(iin: IIN, reason: String)
        /// A duplicate (or refused for another reason): discard the held templates, keep a
        /// record of the decision without biometrics.
        case reject(iin: IIN, reason: String)
        /// List the enrollments waiting for adjudication (no decision).
        case list

        /// The wire code: 1 accept, 2 reject, 3 list.
        public var code: UInt8 {
            switch self { case .accept: 1; case .reject: 2; case .list: 3 }
        }
        public var iin: IIN? {
            switch self { case .accept(let iin, _), .reject(let iin, _): iin; case .list: nil }
        }
    }
    public var action: Action
    /// The examiner's login (who decides or looks).
    public var examiner: String

    public init(_ action: Action, examiner: String) {
        self.action = action
        self.examiner = examiner
    }
}

/// One enrollment held for adjudication as the examiner sees it.
public struct HeldItem: Equatable, Sendable {
    public var iin: IIN
    /// The station that sent the ENROLL.
    public var station: String
    /// Astana time it was held.
    public var heldAt: String
    /// The possible duplicates, best first, with per-finger scores.
    public var candidates: [Candidate]
    public init(iin: IIN, station: String, heldAt: String, candidates: [Candidate]) {
        self.iin = iin
        self.station = station
        self.heldAt = heldAt
        self.candidates = candidates
    }
}

/// The answer to ADJUDICATE.
public struct AdjudicateAnswer: Equatable, Sendable {
    public enum Outcome: UInt8, Sendable {
        /// Accepted: the person is enrolled (and pushed to the workers: see `coverage`).
        case enrolled = 1
        /// Rejected: the held templates are gone.
        case discarded = 2
        /// A list of what waits.
        case listed = 3
    }
    public static let maximumItems = 1000
    public var outcome: Outcome
    /// Enrollments still waiting after this request.
    public var pending: UInt32
    /// list: the oldest waiting ones (at most 1000); accept/reject: the one decided.
    public var items: [HeldItem]
    /// accept: the shard the person went to; otherwise none.
    public var coverage: ShardCoverage
    public init(outcome: Outcome, pending: UInt32, items: [HeldItem], coverage: ShardCoverage = .none) {
        self.outcome = outcome
        self.pending = pending
        self.items = items
        self.coverage = coverage
    }
}

extension WireWriter {
    mutating func adjudicate(_ m: AdjudicateRequest) {
        u8(m.action.code)
        switch m.action {
        case .accept(let iin, let reason), .reject(let iin, let reason): self.iin(iin); text(reason)
        case .list: break
        }
        text(m.examiner)
    }

    mutating func adjudicateAnswer(_ a: AdjudicateAnswer) {
        u8(a.outcome.rawValue); u32(a.pending)
        let items = a.items.prefix(AdjudicateAnswer.maximumItems)
        u16(UInt16(items.count))
        for item in items { iin(item.iin); text(item.station); text(item.heldAt); candidates(item.candidates) }
        coverage(a.coverage)
    }
}

extension WireReader {
    mutating func adjudicate() throws(DecodeError) -> AdjudicateRequest {
        let code = try u8("adjudication action")
        let action: AdjudicateRequest.Action
        switch code {
        case 1: action = .accept(iin: try iin("iin"), reason: try text("reason"))
        case 2: action = .reject(iin: try iin("iin"), reason: try text("reason"))
        case 3: action = .list
        default: throw .invalidValue(field: "adjudication action", reason: "unknown code \(code) (1 accept, 2 reject, 3 list)")
        }
        return AdjudicateRequest(action, examiner: try text("examiner"))
    }

    mutating func adjudicateAnswer() throws(DecodeError) -> AdjudicateAnswer {
        let code = try u8("adjudication outcome")
        guard let outcome = AdjudicateAnswer.Outcome(rawValue: code) else {
            throw .invalidValue(field: "adjudication outcome", reason: "unknown code \(code)")
        }
        let pending = try u32("pending")
        let n = try count16("held items", limit: AdjudicateAnswer.maximumItems, minItemSize: 12 + 2 + 2 + 2)
        var items: [HeldItem] = []
        items.reserveCapacity(n)
        for _ in 0..<n {
            items.append(HeldItem(iin: try iin("held IIN"), station: try text("station"), heldAt: try text("held at"),
                                  candidates: try candidates()))
        }
        return AdjudicateAnswer(outcome: outcome, pending: pending, items: items, coverage: try coverage())
    }
}
