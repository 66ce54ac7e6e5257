import TanbaCore

/// Message type codes. Requests are 0x01…0x7F; the answer to request `t` is `t | 0x80`;
/// 0xFF is the typed error answer any request may get.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case enroll = 0x01, identify = 0x02, verify = 0x03, update = 0x04, delete = 0x05
    case ping = 0x06, pendingJobs = 0x07, referenceCount = 0x08, status = 0x09, consent = 0x0A, viewRecord = 0x0B
    case adjudicate = 0x0C
    case enrollAnswer = 0x81, identifyAnswer = 0x82, verifyAnswer = 0x83, updateAnswer = 0x84
    case deleteAnswer = 0x85, pong = 0x86, pendingJobsAnswer = 0x87, referenceCountAnswer = 0x88
    case statusAnswer = 0x89, consentAnswer = 0x8A, recordAnswer = 0x8B, adjudicateAnswer = 0x8C
    // Login of an account over the wire (LoginMessages.swift).
    case loginChallenge = 0x0D, login = 0x0E, logout = 0x0F
    case loginChallengeAnswer = 0x8D, loginAnswer = 0x8E, logoutAnswer = 0x8F
    // Store replication (ReplicationMessages.swift).
    case replicate = 0x10, replicateKeys = 0x11, replicaStatus = 0x12, promote = 0x13
    case replicateAnswer = 0x90, replicateKeysAnswer = 0x91, replicaStatusAnswer = 0x92, promoteAnswer = 0x93
    // Cluster-internal (ClusterMessages.swift): coordinator → worker shard operations, admin.
    case shardLoad = 0x20, shardSearch = 0x21, shardVerify = 0x22, shardUpsert = 0x23, shardRemove = 0x24
    case shardDrop = 0x25, admin = 0x30
    case shardLoadAnswer = 0xA0, shardSearchAnswer = 0xA1, shardVerifyAnswer = 0xA2, shardUpsertAnswer = 0xA3
    case shardRemoveAnswer = 0xA4, shardDropAnswer = 0xA5, adminAnswer = 0xB0
    case error = 0xFF

    public var isRequest: Bool { rawValue < 0x80 }
}

/// Limits on lists inside bodies (checked by encoders' callers and by every decoder).
public enum BodyLimits {
    public static let maximumCandidates = 1000
    public static let maximumShards = 4096
    public static let maximumText = 1024
    public static let fingersPerProbe = 1...10
    public static let topK = 1...1000
}

/// Which shards an answer covers. Why it is in every answer: a scatter-gather with a
/// missing shard must never look like "no match" — the partial flag and the missing list
/// make it explicit. Decoders refuse `partial` without missing shards and vice versa.
public struct ShardCoverage: Equatable, Sendable {
    public var contributed: [UInt16]
    public var missing: [UInt16]
    public var isPartial: Bool { !missing.isEmpty }

    public init(contributed: [UInt16] = [], missing: [UInt16] = []) {
        self.contributed = contributed
        self.missing = missing
    }

    public static let none = ShardCoverage()
}

public struct FingerScore: Equatable, Sendable {
    public var position: FingerPosition
    public var score: Float
    public init(position: FingerPosition, score: Float) { self.position = position; self.score = score }
}

public struct Candidate: Equatable, Sendable {
    public var iin: IIN
    /// Fusion of the per-finger scores (the server's rule; larger is more similar).
    public var fusedScore: Float
    public var fingerScores: [FingerScore]
    public init(iin: IIN, fusedScore: Float, fingerScores: [FingerScore]) {
        self.iin = iin
        self.fusedScore = fusedScore
        self.fingerScores = fingerScores
    }
}

/// Typed error codes in ERROR answers. A struct rather than an enum so an old node can
/// carry a code a newer node invented without failing to decode the answer.
public struct WireErrorCode: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let malformed = WireErrorCode(rawValue: 1)
    public static let unauthenticated = WireErrorCode(rawValue: 2)
    public static let stale = WireErrorCode(rawValue: 3)
    public static let tooLarge = WireErrorCode(rawValue: 4)
    public static let unsupported = WireErrorCode(rawValue: 5)
    public static let invalidArgument = WireErrorCode(rawValue: 6)
    public static let notFound = WireErrorCode(rawValue: 7)
    public static let alreadyEnrolled = WireErrorCode(rawValue: 8)
    public static let unavailable = WireErrorCode(rawValue: 9)
    public static let overloaded = WireErrorCode(rawValue: 10)
    public static let timedOut = WireErrorCode(rawValue: 11)
    public static let requestIDReused = WireErrorCode(rawValue: 12)
    public static let `internal` = WireErrorCode(rawValue: 13)
    /// ENROLL/UPDATE refused: no valid consent on record for the IIN (none received,
    /// revoked, or its term ended) [BIO 3], [PD 8].
    public static let consentRequired = WireErrorCode(rawValue: 14)
    /// ENROLL/UPDATE refused by the enrollment rules (age, guardian, fingers) [BIO 4–10].
    public static let ruleViolation = WireErrorCode(rawValue: 15)
    /// CONSENT refused: the document's signature does not verify with the sender's key.
    public static let badConsentSignature = WireErrorCode(rawValue: 16)
    /// IDENTIFY/VERIFY/VIEW_RECORD refused by the access policy: no or wrong basis, no case
    /// number, a basis kind the role's row of the roles x basis table lacks, a case outside
    /// the user's proceedings, an action the role may not take. The text starts with the
    /// stable refusal code (`basis-kind-not-allowed: …`) [LEX 3, 5, appendix 1].
    public static let accessDenied = WireErrorCode(rawValue: 17)
    /// The requester's session is not live (expired, revoked, account blocked), does not
    /// belong to the account or role claimed, or the user agreement is unsigned [LEX 15–18].
    public static let sessionRequired = WireErrorCode(rawValue: 18)
    /// ADJUDICATE accept refused: persons enrolled while the enrollment was held are
    /// possible duplicates the examiner has not seen; they were added to the hold, which
    /// stays pending for a new decision.
    public static let holdOutdated = WireErrorCode(rawValue: 19)
    // 20: reserved for held enrollments.
    /// LOGIN refused on the credentials: unknown account, no / mismatched / foreign /
    /// expired certificate, unsupported key, a signature that does not verify, an agreement
    /// signature that does not verify. The text starts with the stable failure code
    /// (`certificate-expired: …`) [LEX 18].
    public static let loginRefused = WireErrorCode(rawValue: 21)
    /// LOGIN refused because the account may not log in now: blocked (dismissal,
    /// suspension, violation, 60 days idle) or locked out after repeated failures [LEX 15, 16].
    public static let accountLocked = WireErrorCode(rawValue: 22)
    /// LOGIN refused: the challenge is unknown, expired, already used, or was issued for
    /// another account or to another client; ask for a new one.
    public static let challengeInvalid = WireErrorCode(rawValue: 23)
    /// LOGIN refused on the second factor: none given, none enrolled, a wrong or reused
    /// one-time code, a fingerprint that does not match [Informatization law 36.1, LEX 18].
    public static let secondFactorRefused = WireErrorCode(rawValue: 24)
}

public struct EnrollRequest: Equatable, Sendable {
    public var iin: IIN
    public var record: FingerprintRecord
    /// Fingers not captured and why [BIO 7] (protocol version 2; a version-1 ENROLL has none).
    public var exceptions: [FingerException]
    public init(iin: IIN, record: FingerprintRecord, exceptions: [FingerException] = []) {
        self.iin = iin
        self.record = record
        self.exceptions = exceptions
    }
}

public struct IdentifyRequest: Equatable, Sendable {
    public var probe: FingerprintRecord
    public var topK: Int
    /// Target false-positive identification rate for the candidate threshold; 0 = the
    /// server's configured default.
    public var targetFPIR: Double
    /// The authority's session and basis (protocol version 3); nil: a branch station.
    public var requester: Requester?
    public init(probe: FingerprintRecord, topK: Int, targetFPIR: Double = 0, requester: Requester? = nil) {
        self.probe = probe
        self.topK = topK
        self.targetFPIR = targetFPIR
        self.requester = requester
    }
}

public struct VerifyRequest: Equatable, Sendable {
    public var claimedIIN: IIN
    public var probe: FingerprintRecord
    /// As in IDENTIFY (protocol version 3); nil: a branch station verifying at the counter.
    public var requester: Requester?
    public init(claimedIIN: IIN, probe: FingerprintRecord, requester: Requester? = nil) {
        self.claimedIIN = claimedIIN
        self.probe = probe
        self.requester = requester
    }
}

public struct UpdateRequest: Equatable, Sendable {
    public var iin: IIN
    public var record: FingerprintRecord
    public var reason: String
    /// As in ENROLL (protocol version 2).
    public var exceptions: [FingerException]
    public init(iin: IIN, record: FingerprintRecord, reason: String, exceptions: [FingerException] = []) {
        self.iin = iin
        self.record = record
        self.reason = reason
        self.exceptions = exceptions
    }
}

/// A consent record given or revoked at a branch [PD 8], as a document signed by the
/// station that took it (Ed25519 over `document`), so the cluster can keep it as proof
/// independently of the envelope. `document` is the station's canonical JSON of the form.
public struct ConsentRequest: Equatable, Sendable {
    public enum Action: UInt8, Sendable { case granted = 1, revoked = 2 }
    public static let maximumDocument = 16 << 10
    public var iin: IIN
    public var action: Action
    public var document: [UInt8]
    /// 64-byte Ed25519 signature by the station's envelope key over `document`.
    public var signature: [UInt8]
    public init(iin: IIN, action: Action, document: [UInt8], signature: [UInt8]) {
        self.iin = iin
        self.action = action
        self.document = document
        self.signature = signature
    }
}

public struct DeleteRequest: Equatable, Sendable {
    public var iin: IIN
    public var reason: String
    public init(iin: IIN, reason: String) { self.iin = iin; self.reason = reason }
}

public enum EnrollOutcome: UInt8, Sendable {
    case enrolled = 1
    /// Possible duplicates found: held for a human adjudicator, never silently merged.
    case heldForAdjudication = 2
    case alreadyEnrolled = 3
}

public struct EnrollAnswer: Equatable, Sendable {
    public var outcome: EnrollOutcome
    public var possibleDuplicates: [Candidate]
    public var coverage: ShardCoverage
    public init(outcome: EnrollOutcome, possibleDuplicates: [Candidate] = [], coverage: ShardCoverage) {
        self.outcome = outcome
        self.possibleDuplicates = possibleDuplicates
        self.coverage = coverage
    }
}

public struct IdentifyAnswer: Equatable, Sendable {
    public var candidates: [Candidate]
    /// Score threshold applied (derived from the target FPIR).
    public var threshold: Float
    public var coverage: ShardCoverage
    public init(candidates: [Candidate], threshold: Float, coverage: ShardCoverage) {
        self.candidates = candidates
        self.threshold = threshold
        self.coverage = coverage
    }
}

public struct VerifyAnswer: Equatable, Sendable {
    public var isMatch: Bool
    public var fusedScore: Float
    public var fingerScores: [FingerScore]
    public var threshold: Float
    public var coverage: ShardCoverage
    public init(isMatch: Bool, fusedScore: Float, fingerScores: [FingerScore], threshold: Float, coverage: ShardCoverage) {
        self.isMatch = isMatch
        self.fusedScore = fusedScore
        self.fingerScores = fingerScores
        self.threshold = threshold
        self.coverage = coverage
    }
}

public struct StatusAnswer: Equatable, Sendable {
    public enum Role: UInt8, Sendable { case coordinator = 1, worker = 2, station = 3 }
    public var role: Role
    public var ready: Bool
    public var uptimeMilliseconds: UInt64
    public var shards: [UInt16]
    public var persons: UInt64
    public var pendingJobs: UInt32
    public init(role: Role, ready: Bool, uptimeMilliseconds: UInt64, shards: [UInt16], persons: UInt64, pendingJobs: UInt32) {
        self.role = role
        self.ready = ready
        self.uptimeMilliseconds = uptimeMilliseconds
        self.shards = shards
        self.persons = persons
        self.pendingJobs = pendingJobs
    }
}

/// Every message body. `type` picks the envelope's message type; `encodedBody()` and
/// `decode(type:payload:)` are exact inverses (docs/protocol.md has the layouts).
public enum WireMessage: Equatable, Sendable {
    case enroll(EnrollRequest)
    case identify(IdentifyRequest)
    case verify(VerifyRequest)
    case update(UpdateRequest)
    case delete(DeleteRequest)
    case ping(nonce: UInt64)
    case pendingJobs
    case referenceCount
    case status
    case consent(ConsentRequest)
    case viewRecord(ViewRecordRequest)
    case adjudicate(AdjudicateRequest)
    case enrollAnswer(EnrollAnswer)
    case identifyAnswer(IdentifyAnswer)
    case verifyAnswer(VerifyAnswer)
    case updateAnswer(archivedPrevious: Bool, coverage: ShardCoverage)
    case deleteAnswer(deleted: Bool, coverage: ShardCoverage)
    case pong(nonce: UInt64, uptimeMilliseconds: UInt64)
    case pendingJobsAnswer(count: UInt32)
    case referenceCountAnswer(persons: UInt64, fingers: UInt64, coverage: ShardCoverage)
    case statusAnswer(StatusAnswer)
    case consentAnswer(recorded: Bool)
    case recordAnswer(RecordView)
    case adjudicateAnswer(AdjudicateAnswer)
    /// Cluster-internal messages (worker shard operations, admin requests).
    case cluster(ClusterMessage)
    case error(code: WireErrorCode, message: String)
    /// Store replication between primary and standbys (ReplicationMessages.swift).
    case replication(ReplicationMessage)
    /// Login of an account: challenge, login, logout (LoginMessages.swift).
    case login(LoginMessage)

    /// The oldest protocol version that can carry this message: 3 for an IDENTIFY or VERIFY
    /// with a requester, 2 for an ENROLL or UPDATE with finger exceptions; everything else
    /// keeps the version-1 layout, so nodes that speak only version 1 keep understanding it
    /// (docs/protocol.md "Versioning rule").
    public var protocolVersion: UInt8 {
        switch self {
        case .identify(let m) where m.requester != nil: 3
        case .verify(let m) where m.requester != nil: 3
        case .enroll(let m) where !m.exceptions.isEmpty: 2
        case .update(let m) where !m.exceptions.isEmpty: 2
        default: 1
        }
    }

    public var type: MessageType {
        switch self {
        case .enroll: .enroll
        case .identify: .identify
        case .verify: .verify
        case .update: .update
        case .delete: .delete
        case .ping: .ping
        case .pendingJobs: .pendingJobs
        case .referenceCount: .referenceCount
        case .status: .status
        case .consent: .consent
        case .viewRecord: .viewRecord
        case .adjudicate: .adjudicate
        case .enrollAnswer: .enrollAnswer
        case .identifyAnswer: .identifyAnswer
        case .verifyAnswer: .verifyAnswer
        case .updateAnswer: .updateAnswer
        case .deleteAnswer: .deleteAnswer
        case .pong: .pong
        case .pendingJobsAnswer: .pendingJobsAnswer
        case .referenceCountAnswer: .referenceCountAnswer
        case .statusAnswer: .statusAnswer
        case .consentAnswer: .consentAnswer
        case .recordAnswer: .recordAnswer
        case .adjudicateAnswer: .adjudicateAnswer
        case .cluster(let m): m.type
        case .error: .error
        case .replication(let m): m.type
        case .login(let m): m.type
        }
    }

    /// The body bytes. Values beyond the documented limits are clamped or truncated here
    /// (text to 1024 bytes on a character boundary, lists to their maximum) so that an
    /// encoded message always decodes; callers validate inputs before building messages.
    public func encodedBody() -> [UInt8] {
        var w = WireWriter()
        switch self {
        case .enroll(let m):
            w.iin(m.iin); w.record(m.record)
            if protocolVersion >= 2 { w.exceptions(m.exceptions) }
        case .identify(let m):
            w.record(m.probe); w.u16(UInt16(clamping: m.topK)); w.f64(m.targetFPIR)
            if let requester = m.requester { w.requester(requester) }
        case .verify(let m):
            w.iin(m.claimedIIN); w.record(m.probe)
            if let requester = m.requester { w.requester(requester) }
        case .viewRecord(let m):
            w.iin(m.iin); w.requester(m.requester)
        case .recordAnswer(let v):
            w.recordView(v)
        case .adjudicate(let m):
            w.adjudicate(m)
        case .adjudicateAnswer(let a):
            w.adjudicateAnswer(a)
        case .update(let m):
            w.iin(m.iin); w.record(m.record); w.text(m.reason)
            if protocolVersion >= 2 { w.exceptions(m.exceptions) }
        case .delete(let m):
            w.iin(m.iin); w.text(m.reason)
        case .ping(let nonce):
            w.u64(nonce)
        case .pendingJobs, .referenceCount, .status:
            break
        case .consent(let m):
            w.iin(m.iin); w.u8(m.action.rawValue)
            w.blob(m.document.count <= ConsentRequest.maximumDocument ? m.document : [])
            w.raw(m.signature.count == 64 ? m.signature : [UInt8](repeating: 0, count: 64))
        case .consentAnswer(let recorded):
            w.bool(recorded)
        case .enrollAnswer(let m):
            w.u8(m.outcome.rawValue); w.candidates(m.possibleDuplicates); w.coverage(m.coverage)
        case .identifyAnswer(let m):
            w.candidates(m.candidates); w.f32(m.threshold); w.coverage(m.coverage)
        case .verifyAnswer(let m):
            w.bool(m.isMatch); w.f32(m.fusedScore); w.fingerScores(m.fingerScores); w.f32(m.threshold)
            w.coverage(m.coverage)
        case .updateAnswer(let archived, let coverage):
            w.bool(archived); w.coverage(coverage)
        case .deleteAnswer(let deleted, let coverage):
            w.bool(deleted); w.coverage(coverage)
        case .pong(let nonce, let uptime):
            w.u64(nonce); w.u64(uptime)
        case .pendingJobsAnswer(let count):
            w.u32(count)
        case .referenceCountAnswer(let persons, let fingers, let coverage):
            w.u64(persons); w.u64(fingers); w.coverage(coverage)
        case .statusAnswer(let m):
            w.u8(m.role.rawValue); w.bool(m.ready); w.u64(m.uptimeMilliseconds); w.shards(m.shards)
            w.u64(m.persons); w.u32(m.pendingJobs)
        case .cluster(let m):
            m.encode(into: &w)
        case .error(let code, let message):
            w.u16(code.rawValue); w.text(message)
        case .replication(let m):
            m.encode(into: &w)
        case .login(let m):
            m.encode(into: &w)
        }
        return w.bytes
    }

    /// `version` is the envelope's protocol version (1–3); only ENROLL and UPDATE (2) and
    /// IDENTIFY and VERIFY (3) differ.
    public static func decode(type: MessageType, payload: [UInt8], version: UInt8 = 1) throws(DecodeError) -> WireMessage {
        var r = WireReader(payload)
        let message: WireMessage
        switch type {
        case .enroll:
            let iin = try r.iin("iin")
            let record = try r.record("record", views: 1...10)
            message = .enroll(EnrollRequest(iin: iin, record: record, exceptions: try r.optionalExceptions(version: version)))
        case .identify:
            let probe = try r.record("probe", views: BodyLimits.fingersPerProbe)
            let topK = Int(try r.u16("top-K"))
            guard BodyLimits.topK.contains(topK) else { throw .invalidValue(field: "top-K", reason: "\(topK) not in 1…1000") }
            let fpir = try r.f64("target FPIR")
            guard fpir >= 0, fpir < 1 else { throw .invalidValue(field: "target FPIR", reason: "must be in [0, 1)") }
            message = .identify(IdentifyRequest(probe: probe, topK: topK, targetFPIR: fpir,
                                                requester: try r.optionalRequester(version: version)))
        case .verify:
            message = .verify(VerifyRequest(claimedIIN: try r.iin("claimed IIN"),
                                            probe: try r.record("probe", views: BodyLimits.fingersPerProbe),
                                            requester: try r.optionalRequester(version: version)))
        case .viewRecord:
            message = .viewRecord(ViewRecordRequest(iin: try r.iin("iin"), requester: try r.requester()))
        case .recordAnswer:
            message = .recordAnswer(try r.recordView())
        case .adjudicate:
            message = .adjudicate(try r.adjudicate())
        case .adjudicateAnswer:
            message = .adjudicateAnswer(try r.adjudicateAnswer())
        case .update:
            let iin = try r.iin("iin")
            let record = try r.record("record", views: 1...10)
            let reason = try r.text("reason")
            message = .update(UpdateRequest(iin: iin, record: record, reason: reason,
                                            exceptions: try r.optionalExceptions(version: version)))
        case .delete:
            message = .delete(DeleteRequest(iin: try r.iin("iin"), reason: try r.text("reason")))
        case .ping:
            message = .ping(nonce: try r.u64("nonce"))
        case .pendingJobs: message = .pendingJobs
        case .referenceCount: message = .referenceCount
        case .status: message = .status
        case .consent:
            let iin = try r.iin("iin")
            let code = try r.u8("consent action")
            guard let action = ConsentRequest.Action(rawValue: code) else {
                throw .invalidValue(field: "consent action", reason: "unknown code \(code)")
            }
            let document = try r.blob("consent document", limit: ConsentRequest.maximumDocument)
            guard !document.isEmpty else { throw .invalidValue(field: "consent document", reason: "empty") }
            message = .consent(ConsentRequest(iin: iin, action: action, document: document,
                                              signature: Array(try r.take(64, "consent signature"))))
        case .consentAnswer:
            message = .consentAnswer(recorded: try r.bool("recorded"))
        case .enrollAnswer:
            let code = try r.u8("outcome")
            guard let outcome = EnrollOutcome(rawValue: code) else {
                throw .invalidValue(field: "outcome", reason: "unknown code \(code)")
            }
            message = .enrollAnswer(EnrollAnswer(outcome: outcome, possibleDuplicates: try r.candidates(),
                                                 coverage: try r.coverage()))
        case .identifyAnswer:
            message = .identifyAnswer(IdentifyAnswer(candidates: try r.candidates(), threshold: try r.finiteF32("threshold"),
                                                     coverage: try r.coverage()))
        case .verifyAnswer:
            message = .verifyAnswer(VerifyAnswer(isMatch: try r.bool("match"), fusedScore: try r.finiteF32("fused score"),
                                                 fingerScores: try r.fingerScores(), threshold: try r.finiteF32("threshold"),
                                                 coverage: try r.coverage()))
        case .updateAnswer:
            message = .updateAnswer(archivedPrevious: try r.bool("archived"), coverage: try r.coverage())
        case .deleteAnswer:
            message = .deleteAnswer(deleted: try r.bool("deleted"), coverage: try r.coverage())
        case .pong:
            message = .pong(nonce: try r.u64("nonce"), uptimeMilliseconds: try r.u64("uptime"))
        case .pendingJobsAnswer:
            message = .pendingJobsAnswer(count: try r.u32("count"))
        case .referenceCountAnswer:
            message = .referenceCountAnswer(persons: try r.u64("persons"), fingers: try r.u64("fingers"),
                                            coverage: try r.coverage())
        case .statusAnswer:
            let code = try r.u8("role")
            guard let role = StatusAnswer.Role(rawValue: code) else {
                throw .invalidValue(field: "role", reason: "unknown code \(code)")
            }
            message = .statusAnswer(StatusAnswer(role: role, ready: try r.bool("ready"), uptimeMilliseconds: try r.u64("uptime"),
                                                 shards: try r.shards("shards"), persons: try r.u64("persons"),
                                                 pendingJobs: try r.u32("pending jobs")))
        case .error:
            message = .error(code: WireErrorCode(rawValue: try r.u16("error code")), message: try r.text("error message"))
        case .replicate, .replicateAnswer, .replicateKeys, .replicateKeysAnswer, .replicaStatus, .replicaStatusAnswer,
             .promote, .promoteAnswer:
            message = .replication(try ReplicationMessage.decode(type: type, reader: &r))
        case .loginChallenge, .login, .logout, .loginChallengeAnswer, .loginAnswer, .logoutAnswer:
            message = .login(try LoginMessage.decode(type: type, reader: &r))
        default:
            guard let m = try ClusterMessage.decode(type: type, reader: &r) else { throw .unknownMessageType(type.rawValue) }
            message = .cluster(m)
        }
        try r.finish()
        return message
    }
}

// MARK: Field codecs

extension WireWriter {
    mutating func iin(_ iin: IIN) { raw(Array(iin.digits.utf8)) }

    mutating func record(_ record: FingerprintRecord) {
        // Native encoding fails only above 1 MiB, which probes and enrollments never reach;
        // an empty blob then makes the receiver report the record as bad, not crash.
        blob((try? TemplateCodec.encode(record, as: .native)) ?? [])
    }

    mutating func text(_ s: String) {
        var cut = Substring(s)
        while cut.utf8.count > BodyLimits.maximumText { cut = cut.dropLast() }
        string16(String(cut))
    }

    mutating func fingerScores(_ scores: [FingerScore]) {
        let list = scores.prefix(10)
        u8(UInt8(list.count))
        for s in list { u8(s.position.rawValue); f32(s.score) }
    }

    mutating func candidates(_ list: [Candidate]) {
        let kept = list.prefix(BodyLimits.maximumCandidates)
        u16(UInt16(kept.count))
        for c in kept { iin(c.iin); f32(c.fusedScore); fingerScores(c.fingerScores) }
    }

    mutating func shards(_ ids: [UInt16]) {
        let kept = ids.prefix(BodyLimits.maximumShards)
        u16(UInt16(kept.count))
        for id in kept { u16(id) }
    }

    mutating func coverage(_ c: ShardCoverage) {
        bool(c.isPartial); shards(c.contributed); shards(c.missing)
    }

    mutating func exceptions(_ list: [FingerException]) {
        let kept = list.prefix(10)
        u8(UInt8(kept.count))
        for e in kept { u8(e.position.rawValue); u8(e.kind.wireCode); text(e.reason) }
    }
}

extension FingerException.Kind {
    /// Wire codes (docs/protocol.md): 1 missing, 2 bandaged, 3 wound, 4 deformed, 5 no pattern.
    static let wireCodes: [FingerException.Kind: UInt8] = [.missing: 1, .bandaged: 2, .wound: 3, .deformed: 4, .noPattern: 5]
    var wireCode: UInt8 { Self.wireCodes[self]! }
    init?(wireCode: UInt8) {
        guard let kind = Self.wireCodes.first(where: { $0.value == wireCode })?.key else { return nil }
        self = kind
    }
}

extension WireReader {
    mutating func iin(_ field: String) throws(DecodeError) -> IIN {
        let text = try utf8(12, field)
        do { return try IIN(text) } catch { throw .invalidValue(field: field, reason: error.description) }
    }

    mutating func record(_ field: String, views: ClosedRange<Int>) throws(DecodeError) -> FingerprintRecord {
        let bytes = try blob(field, limit: TemplateCodec.maximumRecordSize)
        let record: FingerprintRecord
        do { record = try TemplateCodec.decode(bytes, as: .native) } catch { throw .badTemplate("\(field): \(error)") }
        guard views.contains(record.views.count) else {
            throw .invalidValue(field: field, reason: "\(record.views.count) finger views, expected \(views.lowerBound)…\(views.upperBound)")
        }
        // Fusion is per finger position, so every view must name a distinct real finger.
        var seen = Set<FingerPosition>()
        for view in record.views {
            guard FingerPosition.tenPrint.contains(view.position) else {
                throw .invalidValue(field: field, reason: "finger position \(view.position.rawValue) is not one of the ten fingers")
            }
            guard seen.insert(view.position).inserted else {
                throw .invalidValue(field: field, reason: "finger position \(view.position.rawValue) appears twice")
            }
        }
        return record
    }

    mutating func text(_ field: String) throws(DecodeError) -> String {
        try string16(field, limit: BodyLimits.maximumText)
    }

    mutating func fingerScores() throws(DecodeError) -> [FingerScore] {
        let n = Int(try u8("finger score count"))
        guard n <= 10 else { throw .oversized(field: "finger scores", size: n, limit: 10) }
        var list: [FingerScore] = []
        for _ in 0..<n {
            let code = try u8("finger position")
            guard let position = FingerPosition(rawValue: code), FingerPosition.tenPrint.contains(position) else {
                throw .invalidValue(field: "finger position", reason: "\(code)")
            }
            list.append(FingerScore(position: position, score: try finiteF32("finger score")))
        }
        return list
    }

    mutating func candidates() throws(DecodeError) -> [Candidate] {
        let n = try count16("candidate count", limit: BodyLimits.maximumCandidates, minItemSize: 17)
        var list: [Candidate] = []
        list.reserveCapacity(n)
        for _ in 0..<n {
            list.append(Candidate(iin: try iin("candidate IIN"), fusedScore: try finiteF32("fused score"),
                                  fingerScores: try fingerScores()))
        }
        return list
    }

    mutating func shards(_ field: String) throws(DecodeError) -> [UInt16] {
        let n = try count16("\(field) count", limit: BodyLimits.maximumShards, minItemSize: 2)
        var ids: [UInt16] = []
        ids.reserveCapacity(n)
        for _ in 0..<n { ids.append(try u16(field)) }
        return ids
    }

    /// u8 count (≤ 10) × { u8 position (one of the ten fingers, each at most once), u8 kind,
    /// `text` reason }. Whether the reasons and positions satisfy the enrollment rules is the
    /// coordinator's check (a typed refusal), not the decoder's.
    /// Version 2 appends the exception list to ENROLL and UPDATE; an encoder leaves it out
    /// when it is empty (that message is then the version-1 layout), so a version-2 decoder
    /// takes it when bytes remain. A version-1 decoder never does: trailing bytes are an error.
    mutating func optionalExceptions(version: UInt8) throws(DecodeError) -> [FingerException] {
        version >= 2 && remaining > 0 ? try exceptions() : []
    }

    mutating func exceptions() throws(DecodeError) -> [FingerException] {
        let n = Int(try u8("exception count"))
        guard n <= 10 else { throw .oversized(field: "finger exceptions", size: n, limit: 10) }
        var list: [FingerException] = []
        var seen = Set<FingerPosition>()
        for _ in 0..<n {
            let code = try u8("exception finger position")
            guard let position = FingerPosition(rawValue: code), FingerPosition.tenPrint.contains(position) else {
                throw .invalidValue(field: "exception finger position", reason: "\(code) is not one of the ten fingers")
            }
            guard seen.insert(position).inserted else {
                throw .invalidValue(field: "exception finger position", reason: "finger position \(code) appears twice")
            }
            let kindCode = try u8("exception kind")
            guard let kind = FingerException.Kind(wireCode: kindCode) else {
                throw .invalidValue(field: "exception kind", reason: "unknown code \(kindCode) (1 missing, 2 bandaged, 3 wound, 4 deformed, 5 no pattern)")
            }
            list.append(FingerException(position: position, kind: kind, reason: try text("exception reason")))
        }
        return list
    }

    mutating func coverage() throws(DecodeError) -> ShardCoverage {
        let partial = try bool("partial flag")
        let coverage = ShardCoverage(contributed: try shards("contributed shards"), missing: try shards("missing shards"))
        guard partial == coverage.isPartial else {
            throw .invalidValue(field: "partial flag", reason: "disagrees with the missing-shard list")
        }
        return coverage
    }
}
