import Crypto
import TanbaCore
import TanbaTestSupport
@testable import TanbaWire

enum WireFixtures {
    static func iin(_ serial: Int) -> IIN {
        var s = serial
        while true {
            if let iin = IIN.make(birthDate: .init(year: 1985, month: 4, day: 17), sex: .female, serial: s) { return iin }
            s += 1
        }
    }

    static func record(fingers: [FingerPosition], seed: UInt64 = 1) -> FingerprintRecord {
        var rng = SplitMix64(seed: seed)
        let views = fingers.map { position in
            FingerTemplate(position: position, width: 500, height: 550, quality: 80, minutiae: (0..<Int(20 + rng.next() % 30)).map { _ in
                Minutia(x: UInt16(rng.next() % 500), y: UInt16(rng.next() % 550), angle: rng.byte(),
                        kind: rng.next() % 2 == 0 ? .ridgeEnding : .bifurcation, quality: UInt8(rng.next() % 101))
            })
        }
        return FingerprintRecord(views: views)
    }

    static let coverage = ShardCoverage(contributed: [0, 1, 2, 5], missing: [3, 4])

    static func candidate(_ serial: Int) -> Candidate {
        Candidate(iin: iin(serial), fusedScore: Float(serial) * 0.5,
                  fingerScores: [FingerScore(position: .rightThumb, score: 12.5), FingerScore(position: .leftIndex, score: 3)])
    }

    /// One of every message, with non-trivial field values.
    static let allMessages: [WireMessage] = {
        let tenPrint = record(fingers: FingerPosition.tenPrint, seed: 7)
        let twoFingers = record(fingers: [.rightIndex, .leftIndex], seed: 8)
        return [
            .enroll(EnrollRequest(iin: iin(1), record: tenPrint)),
            .identify(IdentifyRequest(probe: twoFingers, topK: 20, targetFPIR: 0.001)),
            .verify(VerifyRequest(claimedIIN: iin(2), probe: twoFingers)),
            .update(UpdateRequest(iin: iin(3), record: tenPrint, reason: "scar on the right thumb — re-enrolled")),
            .delete(DeleteRequest(iin: iin(4), reason: "subject's request at branch 17")),
            .ping(nonce: 0xDEAD_BEEF_0123_4567),
            .pendingJobs,
            .referenceCount,
            .status,
            .consent(ConsentRequest(iin: iin(6), action: .granted, document: Array("{\"term\":\"P5Y\"}".utf8),
                                    signature: [UInt8](repeating: 0xA5, count: 64))),
            .enrollAnswer(EnrollAnswer(outcome: .heldForAdjudication, possibleDuplicates: [candidate(5)], coverage: coverage)),
            .identifyAnswer(IdentifyAnswer(candidates: (10..<15).map(candidate), threshold: 41.5, coverage: coverage)),
            .verifyAnswer(VerifyAnswer(isMatch: true, fusedScore: 88, fingerScores: [FingerScore(position: .rightIndex, score: 90)],
                                       threshold: 40, coverage: ShardCoverage(contributed: [7]))),
            .updateAnswer(archivedPrevious: true, coverage: ShardCoverage(contributed: [1])),
            .deleteAnswer(deleted: false, coverage: coverage),
            .pong(nonce: 9, uptimeMilliseconds: 123_456),
            .pendingJobsAnswer(count: 17),
            .referenceCountAnswer(persons: 100_000, fingers: 1_000_000, coverage: ShardCoverage(contributed: [0, 1, 2])),
            .statusAnswer(StatusAnswer(role: .worker, ready: true, uptimeMilliseconds: 5, shards: [1, 4, 9], persons: 33, pendingJobs: 2)),
            .consentAnswer(recorded: true),
            .viewRecord(ViewRecordRequest(iin: iin(7), requester: Requester(session: String(repeating: "ab", count: 32), account: "inv-1",
                                                                            role: "investigator-police", basis: .criminal,
                                                                            caseNumber: "261500031000117"))),
            .recordAnswer(RecordView(iin: iin(7), fullName: "Айгерим Сейткали", captured: [.rightThumb, .rightIndex],
                                     missing: [RecordView.Missing(position: .leftThumb, reason: "bandaged: cut")],
                                     branch: "Astana-Esil-3", capturedAt: "2026-11-21T10:00:00.000+05:00")),
            .adjudicate(AdjudicateRequest(.accept(iin: iin(8), reason: "different person: whorl vs loop on both thumbs"), examiner: "exam-07")),
            .adjudicateAnswer(AdjudicateAnswer(outcome: .listed, pending: 2,
                                               items: [HeldItem(iin: iin(8), station: "station-17", heldAt: "2026-11-21T10:00:00.000+05:00",
                                                                candidates: [candidate(5), candidate(6)])],
                                               coverage: ShardCoverage(contributed: [3]))),
            .error(code: .invalidArgument, message: "top-K must be 1…1000"),
        ] + replicationMessages + clusterMessages + loginMessages
    }()

    /// One of every login message (LoginMessages.swift).
    static let loginMessages: [WireMessage] = [
        .login(.challenge(account: "inv-1")),
        .login(.login(LoginRequest(account: "inv-1", nonce: String(repeating: "5a", count: 32), signature: Array(repeating: 0x30, count: 71),
                                   secondFactor: .totp("123456"), agreementSignature: Array(repeating: 0x31, count: 70)))),
        .login(.login(LoginRequest(account: "ex-1", nonce: "n", signature: Array(repeating: 7, count: 64),
                                   secondFactor: .fingerprint(record(fingers: [.rightIndex], seed: 9))))),
        .login(.login(LoginRequest(account: "op-1", nonce: "n", signature: [1], secondFactor: .none))),
        .login(.logout(session: String(repeating: "cd", count: 32))),
        .login(.challengeAnswer(LoginChallengeAnswer(nonce: "ab12", expiresAt: "2026-11-21T10:02:00.000+05:00",
                                                     agreementText: "Пайдаланушы келісімі — user agreement v1"))),
        .login(.loginAnswer(LoginAnswer(session: String(repeating: "ef", count: 32), expiresAt: "2026-11-21T10:30:00.000+05:00",
                                        account: "inv-1", role: "investigator-police", secondFactor: "totp", agreementSigned: true,
                                        agreementSignedAt: "2026-11-21T10:00:00.000+05:00"))),
        .login(.logoutAnswer(ended: true)),
    ]

    /// One of every replication message (ReplicationMessages.swift).
    static let replicationMessages: [WireMessage] = {
        let hash = (0..<32).map { UInt8($0 * 3) }
        return [
            .replication(.replicate([ReplicatedEntry(seq: 41, hash: hash, changeset: [1, 2, 3, 0xFF]),
                                     ReplicatedEntry(seq: 42, hash: hash.reversed(), changeset: Array(repeating: 7, count: 300))])),
            .replication(.replicateAnswer(ReplicationAckMessage(outcome: .gap, seq: 40, hash: hash, reason: "expects 41"))),
            .replication(.replicateKeys(KeyDeltaMessage(
                from: 3, to: 9,
                masterKeys: [.init(id: "k2026a", checkValue: hash, state: "current", addedAt: "2026-11-21T10:00:00.000+05:00")],
                secrets: [.init(name: "index", keyID: "k2026a", wrapped: Array(hash.prefix(40)))],
                keys: [.init(owner: Array(hash.prefix(16)), keyID: "k2026a", wrapped: Array(repeating: 9, count: 40), version: 8)],
                shredded: [Array(hash.suffix(16))]))),
            .replication(.replicateKeysAnswer(ReplicationAckMessage(outcome: .applied, seq: 9, hash: []))),
            .replication(.replicaStatus),
            .replication(.replicaStatusAnswer(ReplicaStatusMessage(role: .standby, serving: false, seq: 12, hash: hash,
                                                                   keyVersion: 30, persons: 7,
                                                                   divergedReason: "entry 13: running hash mismatch",
                                                                   detail: "refusing"))),
            .replication(.promote),
            .replication(.promoteAnswer(seq: 12, hash: hash)),
        ]
    }()

    /// One of every cluster-internal message.
    static let clusterMessages: [WireMessage] = {
        let tenPrint = record(fingers: FingerPosition.tenPrint, seed: 9)
        let twoFingers = record(fingers: [.rightIndex, .leftIndex], seed: 10)
        let ack = ShardAck(shard: 3, persons: 1234, serving: true, changed: true)
        return [
            .cluster(.shardLoad(ShardLoad(mapVersion: 7, shard: 3, reset: true, complete: false,
                                          entries: [ShardEntry(subject: 850_417_400_123, record: tenPrint),
                                                    ShardEntry(subject: 42, record: twoFingers)]))),
            .cluster(.shardSearch(ShardSearch(shards: [0, 3, 9], probe: twoFingers, limit: 25, penetration: 0.02))),
            .cluster(.shardVerify(ShardVerify(shard: 9, subject: 99, probe: twoFingers))),
            .cluster(.shardUpsert(shard: 1, entry: ShardEntry(subject: 5, record: tenPrint))),
            .cluster(.shardRemove(shard: 2, subject: 6)),
            .cluster(.shardDrop(shard: 4)),
            .cluster(.admin(AdminRequest(action: .addWorker, worker: "worker-4", address: "tls+tcp://127.0.0.1:7004"))),
            .cluster(.shardLoadAnswer(ack)),
            .cluster(.shardSearchAnswer(ShardSearchAnswer(hits: [ShardHit(subject: 7, fusedScore: 0.25, fingerScores: [
                FingerScore(position: .rightIndex, score: 0.3), FingerScore(position: .leftIndex, score: 0.2)])],
                                                          coverage: ShardCoverage(contributed: [0, 9], missing: [3])))),
            .cluster(.shardVerifyAnswer(ShardVerifyAnswer(found: true, fusedScore: 0.4, fingerScores: [FingerScore(position: .rightIndex, score: 0.4)],
                                                          coverage: ShardCoverage(contributed: [9])))),
            .cluster(.shardUpsertAnswer(ShardAck(shard: 1, persons: 10, serving: false, changed: true))),
            .cluster(.shardRemoveAnswer(ShardAck(shard: 2, persons: 9, serving: true, changed: false))),
            .cluster(.shardDropAnswer(ShardAck(shard: 4, persons: 0, serving: false, changed: true))),
            .cluster(.adminAnswer(document: "{\"version\": 3, \"workers\": [\"worker-1\"]}")),
        ]
    }()

    static func identity(_ name: String, seed: UInt8) -> NodeIdentity {
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: seed, count: 32))
        return try! NodeIdentity(name: name, signingKey: key)
    }
}
