import Crypto
import Foundation
import TanbaAccess
import TanbaCluster
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaWire
import Testing

/// Every request the coordinator handles leaves exactly one audit entry — the operation,
/// who asked and what came of it — refusals included [LEX 37, 38, 50]. Each request below
/// goes through the coordinator's signed service (the access layer on, as in production)
/// and the audit log must have grown by exactly one entry with the expected operation,
/// actor and result. Afterwards the chain verifies, in-process and with `tanba audit verify`.
@Suite(.serialized) struct AuditPerOperationTests {
    static let criminalCase = "261500031000117"

    /// Runs `request` and checks the entries it added: exactly one, with `operation`,
    /// `actor` and a result starting with `result`.
    static func expectOneEntry(_ c: Cluster, _ label: String, operation: String, actor: String, result: String,
                               sourceLocation: SourceLocation = #_sourceLocation,
                               _ request: () async throws -> Void) async throws {
        let before = try c.coordinator.store.audit.entries().count
        try await request()
        let added = try c.coordinator.store.audit.entries().dropFirst(before).map(\.entry)
        #expect(added.count == 1, "\(label): \(added.count) audit entries: \(added.map { "\($0.operation) \($0.result)" })",
                sourceLocation: sourceLocation)
        guard let entry = added.first else { return }
        #expect(entry.operation == operation, "\(label): operation \(entry.operation)", sourceLocation: sourceLocation)
        #expect(entry.actor == actor, "\(label): actor \(entry.actor)", sourceLocation: sourceLocation)
        #expect(entry.result.hasPrefix(result), "\(label): result \(entry.result)", sourceLocation: sourceLocation)
        #expect(entry.at.hasSuffix("+05:00"), "\(label): Astana time", sourceLocation: sourceLocation)
    }

    static func code(_ answer: WireMessage) -> WireErrorCode? {
        if case .error(let code, _) = answer { return code }
        return nil
    }

    @Test func everyOperationThroughTheCoordinatorLeavesExactlyOneAuditEntry() async throws {
        let accounts = try AccessAccounts()
        try accounts.account("inv-1", .investigatorPolice)
        let token = try await accounts.session("inv-1")
        let investigator = accounts.requester(token, "inv-1", .investigatorPolice, .criminal, Self.criminalCase)
        var options = Coordinator.Options()
        options.access = accounts.coordinatorAccess
        options.examiners = ["examiner-1"]
        let c = try await Cluster(transport: EmbeddedTransport(), workers: 2, shards: 4, extraNames: ["examiner-1", "worker-4"],
                                  options: options)
        defer { Task { await c.shutdown() } }
        let examiner = SignedCaller(identity: c.identities["examiner-1"]!, keyring: c.keyring, transport: c.transport)
        for p in 1..<4 { _ = try await c.enroll(p) }
        let iin = People.iin(0)

        // CONSENT: recorded, re-delivered, forged.
        let consent = c.consentMessage(iin)
        try await Self.expectOneEntry(c, "consent", operation: "consent", actor: "station-1", result: "ok: signed by station-1") {
            guard case .consentAnswer(true) = try await c.answer(consent) else { throw TestFailure("consent not recorded") }
        }
        try await Self.expectOneEntry(c, "consent re-delivery", operation: "consent", actor: "station-1", result: "ok: already recorded") {
            guard case .consentAnswer(false) = try await c.answer(consent) else { throw TestFailure("re-delivery recorded again") }
        }
        try await Self.expectOneEntry(c, "consent signed by another node", operation: "consent", actor: "station-1",
                                      result: "refused: signature does not verify") {
            let answer = try await c.answer(c.consentMessage(People.iin(60), signer: "examiner-1"))
            #expect(Self.code(answer) == .badConsentSignature, "\(answer)")
        }

        // ENROLL: refused without consent, enrolled, retried, another record, held, held again.
        try await Self.expectOneEntry(c, "enroll without consent", operation: "enroll", actor: "station-1",
                                      result: "refused: no written consent") {
            let answer = try await c.answer(.enroll(EnrollRequest(iin: People.iin(61), record: People.enrollment(61),
                                                                       exceptions: People.exceptions)))
            #expect(Self.code(answer) == .consentRequired, "\(answer)")
        }
        let enroll = WireMessage.enroll(EnrollRequest(iin: iin, record: People.enrollment(0), exceptions: People.exceptions))
        try await Self.expectOneEntry(c, "enroll", operation: "enroll", actor: "station-1", result: "ok") {
            guard case .enrollAnswer(let a) = try await c.answer(enroll), a.outcome == .enrolled else { throw TestFailure("not enrolled") }
        }
        try await Self.expectOneEntry(c, "enroll again (new request ID)", operation: "enroll", actor: "station-1",
                                      result: "ok: already on record") {
            guard case .enrollAnswer(let a) = try await c.answer(enroll), a.outcome == .enrolled else { throw TestFailure("retry") }
        }
        try await Self.expectOneEntry(c, "enroll of other fingers", operation: "enroll", actor: "station-1",
                                      result: "refused: already enrolled") {
            guard case .enrollAnswer(let a) = try await c.answer(.enroll(EnrollRequest(iin: iin, record: People.record(0, impression: 3),
                                                                                        exceptions: People.exceptions))),
                  a.outcome == .alreadyEnrolled else { throw TestFailure("not already enrolled") }
        }
        try await c.consent(70)
        let duplicate = WireMessage.enroll(EnrollRequest(iin: People.iin(70), record: People.record(1, impression: 2), exceptions: People.exceptions))
        try await Self.expectOneEntry(c, "enroll of a possible duplicate", operation: "enroll", actor: "station-1",
                                      result: "held for adjudication: 1 possible duplicate") {
            guard case .enrollAnswer(let a) = try await c.answer(duplicate), a.outcome == .heldForAdjudication else { throw TestFailure("not held") }
        }
        try await Self.expectOneEntry(c, "enroll of a held IIN", operation: "enroll", actor: "station-1",
                                      result: "held for adjudication: already held") {
            guard case .enrollAnswer(let a) = try await c.answer(duplicate), a.outcome == .heldForAdjudication else { throw TestFailure("not held") }
        }
        // A retry with the same request ID reaching a coordinator whose in-memory cache does
        // not have it (a restart): answered from the store, audited once.
        try await c.consent(71)
        let kept = WireMessage.enroll(EnrollRequest(iin: People.iin(71), record: People.enrollment(71), exceptions: People.exceptions))
        let context = RequestContext(sender: "station-1", requestID: .random(),
                                     fingerprint: Array(SHA256.hash(data: [kept.type.rawValue] + kept.encodedBody())))
        try await Self.expectOneEntry(c, "enroll with a request ID", operation: "enroll", actor: "station-1", result: "ok") {
            guard case .enrollAnswer = await c.coordinator.handle(context: context, message: kept) else { throw TestFailure("enroll") }
        }
        try await Self.expectOneEntry(c, "the same request ID again", operation: "enroll", actor: "station-1",
                                      result: "ok: retry answered with the kept first answer") {
            guard case .enrollAnswer(let a) = await c.coordinator.handle(context: context, message: kept), a.outcome == .enrolled else {
                throw TestFailure("not the kept answer")
            }
        }

        // IDENTIFY: refused for a station (no 1:N at the counter), allowed for an investigator.
        try await Self.expectOneEntry(c, "identify by a station", operation: "identify", actor: "station-1",
                                      result: "refused: action-not-allowed") {
            let answer = try await c.answer(.identify(IdentifyRequest(probe: People.probe(0), topK: 3)))
            #expect(Self.code(answer) == .accessDenied, "\(answer)")
        }
        try await Self.expectOneEntry(c, "identify by an investigator", operation: "identify", actor: "inv-1", result: "allowed") {
            guard case .identifyAnswer(let a) = try await c.answer(.identify(IdentifyRequest(probe: People.probe(0), topK: 3,
                                                                                              requester: investigator))),
                  a.candidates.first?.iin == iin else { throw TestFailure("identify") }
        }
        // VERIFY: a match at the counter, an unknown IIN (station and investigator).
        try await Self.expectOneEntry(c, "verify", operation: "verify", actor: "station-1", result: "allowed: match") {
            guard case .verifyAnswer(let a) = try await c.answer(.verify(VerifyRequest(claimedIIN: iin, probe: People.probe(0)))),
                  a.isMatch else { throw TestFailure("verify") }
        }
        try await Self.expectOneEntry(c, "verify of an unknown IIN by a station", operation: "verify", actor: "station-1",
                                      result: "refused") {
            let answer = try await c.answer(.verify(VerifyRequest(claimedIIN: People.iin(900), probe: People.probe(0))))
            #expect(Self.code(answer) == .accessDenied, "\(answer)")
        }
        try await Self.expectOneEntry(c, "verify of an unknown IIN by an investigator", operation: "verify", actor: "inv-1",
                                      result: "allowed") {
            let answer = try await c.answer(.verify(VerifyRequest(claimedIIN: People.iin(900), probe: People.probe(0),
                                                                       requester: investigator)))
            #expect(Self.code(answer) == .notFound, "\(answer)")
        }
        // VIEW_RECORD.
        try await Self.expectOneEntry(c, "view-record", operation: "view-record", actor: "inv-1", result: "allowed") {
            guard case .recordAnswer(let r) = try await c.answer(.viewRecord(ViewRecordRequest(iin: iin, requester: investigator))),
                  r.iin == iin else { throw TestFailure("view-record") }
        }

        // UPDATE: re-enrolled, retried, unknown IIN.
        try await c.consent(0)
        let update = WireMessage.update(UpdateRequest(iin: iin, record: People.record(0, impression: 0, seedOffset: 9_000_000),
                                                      reason: "scars", exceptions: People.exceptions))
        try await Self.expectOneEntry(c, "update", operation: "reenroll", actor: "station-1", result: "ok") {
            guard case .updateAnswer(true, _) = try await c.answer(update) else { throw TestFailure("update") }
        }
        try await Self.expectOneEntry(c, "update again", operation: "reenroll", actor: "station-1", result: "ok: already current") {
            guard case .updateAnswer = try await c.answer(update) else { throw TestFailure("update retry") }
        }
        try await Self.expectOneEntry(c, "update of an unknown IIN", operation: "reenroll", actor: "station-1",
                                      result: "refused: not enrolled") {
            let answer = try await c.answer(.update(UpdateRequest(iin: People.iin(901), record: People.enrollment(5), reason: "x",
                                                                       exceptions: People.exceptions)))
            #expect(Self.code(answer) == .notFound, "\(answer)")
        }

        // PING, PENDING_JOBS, REFERENCE_COUNT, STATUS.
        try await Self.expectOneEntry(c, "ping", operation: "ping", actor: "station-1", result: "ok") {
            guard case .pong(5, _) = try await c.answer(.ping(nonce: 5)) else { throw TestFailure("ping") }
        }
        try await Self.expectOneEntry(c, "pending-jobs", operation: "pending-jobs", actor: "station-1", result: "ok: 1") {
            guard case .pendingJobsAnswer(1) = try await c.answer(.pendingJobs) else { throw TestFailure("pending jobs") }
        }
        try await Self.expectOneEntry(c, "reference-count", operation: "reference-count", actor: "station-1", result: "ok: 5 persons") {
            guard case .referenceCountAnswer(5, _, _) = try await c.answer(.referenceCount) else { throw TestFailure("reference count") }
        }
        try await Self.expectOneEntry(c, "status", operation: "status", actor: "station-1", result: "ok: ready") {
            guard case .statusAnswer(let s) = try await c.answer(.status), s.ready else { throw TestFailure("status") }
        }
        // Something the coordinator does not serve.
        try await Self.expectOneEntry(c, "a worker's message sent to the coordinator", operation: "shardDrop", actor: "station-1",
                                      result: "refused") {
            let answer = try await c.answer(.cluster(.shardDrop(shard: 0)))
            #expect(Self.code(answer) == .unsupported, "\(answer)")
        }

        // ADJUDICATE: a station may not, the examiner lists and rejects.
        try await Self.expectOneEntry(c, "adjudicate by a station", operation: "adjudicate-list", actor: "station-1", result: "refused") {
            let answer = try await c.answer(.adjudicate(AdjudicateRequest(.list, examiner: "op-1")))
            #expect(Self.code(answer) == .unauthenticated, "\(answer)")
        }
        try await Self.expectOneEntry(c, "held list", operation: "adjudicate-list", actor: "exam-07", result: "ok: 1 held") {
            guard case .adjudicateAnswer(let a) = try await c.answer(from: examiner, .adjudicate(AdjudicateRequest(.list, examiner: "exam-07"))),
                  a.items.count == 1 else { throw TestFailure("list") }
        }
        try await Self.expectOneEntry(c, "adjudicate without a reason", operation: "adjudicate", actor: "exam-07", result: "refused") {
            let answer = try await c.answer(from: examiner, .adjudicate(AdjudicateRequest(.reject(iin: People.iin(70), reason: ""),
                                                                                               examiner: "exam-07")))
            #expect(Self.code(answer) == .invalidArgument, "\(answer)")
        }
        try await Self.expectOneEntry(c, "reject", operation: "adjudicate", actor: "exam-07", result: "rejected") {
            guard case .adjudicateAnswer(let a) = try await c.answer(from: examiner, .adjudicate(AdjudicateRequest(
                .reject(iin: People.iin(70), reason: "same person as the candidate"), examiner: "exam-07"))),
                  a.outcome == .discarded else { throw TestFailure("reject") }
        }

        // DELETE: a person, and an IIN nobody holds.
        try await Self.expectOneEntry(c, "delete", operation: "delete", actor: "station-1", result: "ok: data key destroyed") {
            guard case .deleteAnswer(true, _) = try await c.answer(.delete(DeleteRequest(iin: People.iin(3), reason: "BIO 11"))) else {
                throw TestFailure("delete")
            }
        }
        try await Self.expectOneEntry(c, "delete of an unknown IIN", operation: "delete", actor: "station-1", result: "not enrolled") {
            guard case .deleteAnswer(false, _) = try await c.answer(.delete(DeleteRequest(iin: People.iin(902), reason: "BIO 11"))) else {
                throw TestFailure("delete of nobody")
            }
        }

        // Admin: refused for a station; status, add-worker, drain, remove-worker for the admin.
        try await Self.expectOneEntry(c, "drain by a station", operation: "cluster-drain", actor: "station-1", result: "refused") {
            let answer = try await c.answer(.cluster(.admin(AdminRequest(action: .drain, worker: "worker-1"))))
            #expect(Self.code(answer) == .unauthenticated, "\(answer)")
        }
        let (_, listener) = try await c.startWorker("worker-4", at: "worker-4")
        c.workerListeners["worker-4"] = listener
        for (action, worker) in [(AdminRequest.Action.status, ""), (.addWorker, "worker-4"), (.drain, "worker-4"), (.removeWorker, "worker-4")] {
            try await Self.expectOneEntry(c, "admin \(action)", operation: "cluster-\(action)", actor: "admin-1", result: "ok") {
                guard case .cluster(.adminAnswer) = try await c.answer(from: c.admin, .cluster(.admin(AdminRequest(
                    action: action, worker: worker, address: action == .addWorker ? "worker-4" : ""))))
                else { throw TestFailure("admin \(action)") }
            }
        }
        try await Self.expectOneEntry(c, "drain of an unknown worker", operation: "cluster-drain", actor: "admin-1", result: "failed") {
            let answer = try await c.answer(from: c.admin, .cluster(.admin(AdminRequest(action: .drain, worker: "worker-9"))))
            #expect(Self.code(answer) == .notFound, "\(answer)")
        }

        // The chain is intact: in-process, and as `tanba audit verify` checks it.
        let verification = try c.coordinator.store.audit.verify()
        #expect(verification.ok && verification.entriesChecked > 40, "\(verification)")
        let path = c.directory.appendingPathComponent("store.db").path
        var readOnly = Database.Options()
        readOnly.readOnly = true
        #expect(try AuditLog(db: Database(path: path, options: readOnly)).verify().ok)
        if let tanba = TanbaBinary.path {
            let run = try TanbaBinary.run(tanba, ["audit", "verify", "--db", path])
            #expect(run.status == 0 && run.output.hasPrefix("ok: "), "tanba audit verify: \(run.status) \(run.output)")
        }
    }
}

/// This build's `tanba` executable beside the test bundle (built by `swift build --build-tests`).
enum TanbaBinary {
    static let path: String? = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [exe.appendingPathComponent("tanba").path, exe.deletingLastPathComponent().appendingPathComponent("tanba").path]
        where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return nil
    }()

    /// Runs it to completion with posix_spawn and waitpid; returns the exit status and stdout.
    static func run(_ executable: String, _ args: [String]) throws -> (status: Int32, output: String) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let argv = ([executable] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else { close(fds[0]); throw TestFailure("posix_spawn \(executable): \(rc)") }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xFF, String(decoding: output, as: UTF8.self))
    }
}
