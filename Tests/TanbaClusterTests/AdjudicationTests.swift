import Crypto
import Foundation
import TanbaCluster
import TanbaCore
import TanbaStore
import TanbaWire
import Testing

/// Enrollments held for adjudication are store records: on the synchronous standby when
/// the station is answered, still there after a coordinator restart and on a coordinator
/// started on the standby's files, and ended only by an examiner's ADJUDICATE.
@Suite(.serialized) struct AdjudicationTests {
    static let examiner = "examiner-1"

    func makeCluster() async throws -> Cluster {
        var options = Coordinator.Options()
        options.examiners = [Self.examiner]
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 2, shards: 4, extraNames: [Self.examiner],
                                        options: options, standby: true)
        for p in 0..<8 { #expect(try await cluster.enroll(p).outcome == .enrolled) }
        return cluster
    }

    /// Person `as`'s fingers presented under person `p`'s IIN (a possible duplicate).
    func enrollDuplicate(_ cluster: Cluster, _ p: Int, as other: Int) async throws -> EnrollAnswer {
        try await cluster.consent(p)
        guard case .enrollAnswer(let a) = try await cluster.ask(.enroll(EnrollRequest(
            iin: People.iin(p), record: People.record(other, impression: 2), exceptions: People.exceptions))) else {
            throw TestFailure("not an enroll answer")
        }
        return a
    }

    func adjudicate(_ cluster: Cluster, _ action: AdjudicateRequest.Action, from sender: String? = nil) async throws -> WireMessage {
        let caller = SignedCaller(identity: cluster.identities[sender ?? Self.examiner]!, keyring: cluster.keyring, transport: cluster.transport)
        return try await cluster.answer(from: caller, .adjudicate(AdjudicateRequest(action, examiner: "exam-07")))
    }

    @Test func aHoldSurvivesRestartAndFailoverAndAnExaminerAcceptsIt() async throws {
        let cluster = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        let held = try await enrollDuplicate(cluster, 800, as: 4)
        #expect(held.outcome == .heldForAdjudication && held.possibleDuplicates.first?.iin == People.iin(4))
        // Answered, hence durable on both nodes.
        #expect(try cluster.coordinator.store.heldEnrollment(iin: People.iin(800))?.record == People.record(4, impression: 2))
        #expect(try cluster.openStandby().heldEnrollment(iin: People.iin(800))?.candidates.first?.iin == People.iin(4).digits)
        guard case .pendingJobsAnswer(1) = try await cluster.ask(.pendingJobs) else { throw TestFailure("PENDING_JOBS is not 1") }
        // The same ENROLL again (a station's resend): the same hold, nothing new.
        #expect(try await enrollDuplicate(cluster, 800, as: 4).outcome == .heldForAdjudication)
        #expect(try cluster.coordinator.store.heldEnrollmentCount() == 1)

        // A restarted coordinator (same store) reports it.
        let restarted = Coordinator(name: "coordinator", store: cluster.coordinator.store, directory: cluster.coordinator.directory,
                                    map: cluster.coordinator.map, caller: cluster.coordinator.caller, logger: Cluster.quietLogger)
        #expect(restarted.status().heldEnrollments == 1 && restarted.pendingJobs == 1)
        // Only examiners' nodes may adjudicate; a decision needs a reason.
        guard case .error(.unauthenticated, _) = try await adjudicate(cluster, .list, from: "station-1") else {
            throw TestFailure("a station listed held enrollments")
        }
        guard case .error(.invalidArgument, _) = try await adjudicate(cluster, .accept(iin: People.iin(800), reason: " ")) else {
            throw TestFailure("a decision without a reason was taken")
        }
        guard case .error(.notFound, _) = try await adjudicate(cluster, .accept(iin: People.iin(801), reason: "x")) else {
            throw TestFailure("an IIN that is not held was adjudicated")
        }
        // The examiner lists it, then accepts: the person is enrolled as a new person.
        guard case .adjudicateAnswer(let listed) = try await adjudicate(cluster, .list) else { throw TestFailure("list") }
        #expect(listed.outcome == .listed && listed.pending == 1 && listed.items.first?.station == "station-1")
        let acceptAnswer = try await adjudicate(cluster, .accept(iin: People.iin(800), reason: "twin: different ridge detail on both index fingers"))
        guard case .adjudicateAnswer(let accepted) = acceptAnswer else { throw TestFailure("accept: \(acceptAnswer)") }
        #expect(accepted.outcome == .enrolled && accepted.pending == 0 && !accepted.coverage.isPartial)
        #expect(try cluster.coordinator.store.currentEnrollment(iin: People.iin(800))?.record == People.record(4, impression: 2))
        #expect(try cluster.coordinator.store.person(iin: People.iin(800))?.fullName.hasPrefix("Test Person") == true, "the consent's name")
        #expect(try cluster.openStandby().person(iin: People.iin(800)) != nil, "on the standby when answered")
        #expect(try cluster.openStandby().heldEnrollmentCount() == 0)
        #expect(cluster.coordinator.pendingJobs == 0)
        let decided = try cluster.coordinator.store.adjudications(iin: People.iin(800))
        #expect(decided.map(\.decision.outcome) == [.accepted] && decided[0].decision.examiner == "exam-07")
        // Searchable now: a probe of those fingers finds both persons.
        let found = try await cluster.identify(People.record(4, impression: 1)).candidates.map(\.iin)
        #expect(found.contains(People.iin(800)) && found.contains(People.iin(4)))
        #expect(try cluster.coordinator.store.audit.verify().ok)

        // Failover: another hold, then the primary is gone (replication stops, the standby
        // stops listening) and a coordinator starts on the standby's files. It finds the
        // hold and its examiner decides it there.
        #expect(try await enrollDuplicate(cluster, 804, as: 3).outcome == .heldForAdjudication)
        await cluster.coordinator.primary.stop()
        await cluster.standbyListener?.close()
        let standbyStore = try cluster.openStandby()
        let directory = SubjectDirectory()
        #expect(try directory.rebuild(from: standbyStore) == 9)
        var options = Coordinator.Options()
        options.examiners = [Self.examiner]
        let promoted = Coordinator(name: "coordinator", store: standbyStore, directory: directory, map: cluster.coordinator.map,
                                   caller: cluster.coordinator.caller, options: options, logger: Cluster.quietLogger)
        #expect(promoted.status().heldEnrollments == 1 && promoted.pendingJobs == 1)
        _ = await promoted.reconcile()
        guard case .adjudicateAnswer(let list) = await promoted.handle(sender: Self.examiner,
                                                                       message: .adjudicate(AdjudicateRequest(.list, examiner: "exam-07")))
        else { throw TestFailure("the promoted coordinator does not list the hold") }
        #expect(list.items.map(\.iin) == [People.iin(804)] && list.items[0].candidates.first?.iin == People.iin(3))
        guard case .adjudicateAnswer(let decided) = await promoted.handle(
            sender: Self.examiner, message: .adjudicate(AdjudicateRequest(.accept(iin: People.iin(804), reason: "different person"), examiner: "exam-07")))
        else { throw TestFailure("the promoted coordinator did not decide") }
        #expect(decided.outcome == .enrolled && !decided.coverage.isPartial)
        #expect(try standbyStore.currentEnrollment(iin: People.iin(804))?.record == People.record(3, impression: 2))
        guard case .identifyAnswer(let a) = await promoted.handle(sender: "station-1", message: .identify(IdentifyRequest(
            probe: People.record(3, impression: 1), topK: 5))) else { throw TestFailure("identify on the promoted coordinator") }
        #expect(a.candidates.map(\.iin).contains(People.iin(804)))
        #expect(try standbyStore.audit.verify().ok)
    }

    @Test func rejectingDiscardsTheTemplatesAndDeletionShredsHolds() async throws {
        let cluster = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        #expect(try await enrollDuplicate(cluster, 801, as: 5).outcome == .heldForAdjudication)
        #expect(try await enrollDuplicate(cluster, 802, as: 6).outcome == .heldForAdjudication)
        guard case .adjudicateAnswer(let rejected) = try await adjudicate(cluster, .reject(iin: People.iin(801), reason: "same person as the candidate")) else {
            throw TestFailure("reject")
        }
        #expect(rejected.outcome == .discarded && rejected.pending == 1 && rejected.items.first?.iin == People.iin(801))
        #expect(try cluster.coordinator.store.person(iin: People.iin(801)) == nil)
        #expect(try cluster.coordinator.store.adjudications(iin: People.iin(801)).map(\.decision.reason) == ["same person as the candidate"])
        #expect(try cluster.openStandby().heldEnrollment(iin: People.iin(801)) == nil)
        // Deciding twice: nothing is held any more.
        guard case .error(.notFound, _) = try await adjudicate(cluster, .accept(iin: People.iin(801), reason: "second thoughts")) else {
            throw TestFailure("decided twice")
        }
        // DELETE of an IIN that is only held: deleted (the held templates were biometric
        // data), on the standby too, and nothing left to decide.
        guard case .deleteAnswer(let deleted, _) = try await cluster.ask(.delete(DeleteRequest(iin: People.iin(802), reason: "BIO 11"))) else {
            throw TestFailure("delete")
        }
        #expect(deleted)
        #expect(try cluster.coordinator.store.heldEnrollmentCount() == 0 && cluster.openStandby().heldEnrollmentCount() == 0)
        #expect(cluster.coordinator.status().heldEnrollments == 0)
        guard case .error(.notFound, _) = try await adjudicate(cluster, .accept(iin: People.iin(802), reason: "x")) else {
            throw TestFailure("a deleted hold was adjudicated")
        }
        // DELETE of the rejected one: its decision record (sealed, no templates) goes too.
        _ = try await cluster.ask(.delete(DeleteRequest(iin: People.iin(801), reason: "BIO 11")))
        #expect(try cluster.coordinator.store.adjudications(iin: People.iin(801)).isEmpty)
        #expect(try cluster.coordinator.store.audit.verify().ok)
    }

    /// The kept first answer of a held ENROLL (for a retry after a restart) holds no other
    /// person's IIN — `answered_requests` is not sealed — and the retry still gets the
    /// candidates, from the sealed hold.
    @Test func aRetriedHeldEnrollGetsItsCandidatesFromTheSealedHold() async throws {
        let cluster = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        try await cluster.consent(805)
        let enroll = WireMessage.enroll(EnrollRequest(iin: People.iin(805), record: People.record(2, impression: 2), exceptions: People.exceptions))
        let context = RequestContext(sender: "station-1", requestID: .random(),
                                     fingerprint: Array(SHA256.hash(data: [enroll.type.rawValue] + enroll.encodedBody())))
        guard case .enrollAnswer(let first) = await cluster.coordinator.handle(context: context, message: enroll),
              first.outcome == .heldForAdjudication, first.possibleDuplicates.first?.iin == People.iin(2) else {
            throw TestFailure("not held")
        }
        let id = context.requestID
        let kept = try cluster.coordinator.store.answeredRequest(sender: "station-1", requestID: withUnsafeBytes(of: id.high.littleEndian, Array.init)
                                                                 + withUnsafeBytes(of: id.low.littleEndian, Array.init))
        guard case .enrollAnswer(let stored)? = kept.flatMap({ try? WireMessage.decode(type: .enrollAnswer, payload: Array($0.answer.dropFirst())) }) else {
            throw TestFailure("no kept answer")
        }
        #expect(stored.outcome == .heldForAdjudication && stored.possibleDuplicates.isEmpty, "no candidate IINs in the clear")
        guard case .enrollAnswer(let retried) = await cluster.coordinator.handle(context: context, message: enroll) else {
            throw TestFailure("retry")
        }
        #expect(retried == first)
        #expect(cluster.coordinator.metrics.counter("answer_from_store") == 1)
    }

    @Test func acceptingAfterTheConsentWasRevokedIsRefused() async throws {
        let cluster = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        #expect(try await enrollDuplicate(cluster, 803, as: 7).outcome == .heldForAdjudication)
        // The person revokes consent while the enrollment waits.
        let revocation = ConsentRevocation(subjectIIN: People.iin(803), subjectName: "Test Person", date: EnrollmentRules(now: Date()).today,
                                           operatorEmployee: "op-1", branch: "astana-01", station: "station-1",
                                           formReference: "revocation-803", deleteData: false)
        let document = revocation.canonicalJSON()
        guard case .consentAnswer(true) = try await cluster.ask(.consent(ConsentRequest(
            iin: People.iin(803), action: .revoked, document: document,
            signature: Array(try cluster.identities["station-1"]!.signingKey.signature(for: document))))) else {
            throw TestFailure("revocation not recorded")
        }
        guard case .error(.consentRequired, _) = try await adjudicate(cluster, .accept(iin: People.iin(803), reason: "not a duplicate")) else {
            throw TestFailure("accepted without a valid consent")
        }
        #expect(try cluster.coordinator.store.person(iin: People.iin(803)) == nil)
        #expect(try cluster.coordinator.store.heldEnrollmentCount() == 1, "still held: the examiner may reject it")
    }

    /// An acceptance searches again: a person enrolled while the hold waited, whom the
    /// examiner never compared, refuses the acceptance (ERROR 19), joins the hold's
    /// candidates, and the next acceptance — the examiner has now seen them — enrolls.
    @Test func acceptingSearchesAgainForPersonsEnrolledWhileHeld() async throws {
        let cluster = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        // Two fingers of person 4 and two of person 9 (not enrolled yet) under IIN 805.
        let mixed = FingerprintRecord(views: People.record(4, impression: 2, fingers: [.rightThumb, .rightIndex]).views
                                        + People.record(9, impression: 2, fingers: [.leftThumb, .leftIndex]).views)
        try await cluster.consent(805)
        guard case .enrollAnswer(let held) = try await cluster.ask(.enroll(EnrollRequest(
            iin: People.iin(805), record: mixed, exceptions: People.exceptions))) else { throw TestFailure("not an enroll answer") }
        #expect(held.outcome == .heldForAdjudication && held.possibleDuplicates.map(\.iin) == [People.iin(4)])
        // Person 9 enrolls while 805 waits (holds are not in the gallery).
        #expect(try await cluster.enroll(9).outcome == .enrolled)

        let before = try cluster.coordinator.store.audit.entries().count
        guard case .error(.holdOutdated, let why) = try await adjudicate(cluster, .accept(iin: People.iin(805), reason: "not person 4")) else {
            throw TestFailure("accepted without comparing person 9")
        }
        #expect(why.contains(People.iin(9).digits))
        #expect(try cluster.coordinator.store.person(iin: People.iin(805)) == nil, "nothing enrolled")
        let hold = try #require(try cluster.coordinator.store.heldEnrollment(iin: People.iin(805)))
        #expect(Set(hold.candidates.map(\.iin)) == [People.iin(4).digits, People.iin(9).digits])
        #expect(try cluster.openStandby().heldEnrollment(iin: People.iin(805))?.candidates.count == 2, "the new candidates are replicated")
        let logged = try cluster.coordinator.store.audit.entries().dropFirst(before).map(\.entry)
        #expect(logged.count == 1 && logged.first?.operation == "adjudicate" && logged.first?.result.hasPrefix("refused: 1 possible") == true)

        // Listed again with both candidates, then accepted: enrolled.
        guard case .adjudicateAnswer(let list) = try await adjudicate(cluster, .list) else { throw TestFailure("no list") }
        #expect(list.items.first { $0.iin == People.iin(805) }?.candidates.count == 2)
        guard case .adjudicateAnswer(let accepted) = try await adjudicate(cluster, .accept(iin: People.iin(805), reason: "neither 4 nor 9")) else {
            throw TestFailure("the examiner's second decision was refused")
        }
        #expect(accepted.outcome == .enrolled)
        #expect(try cluster.coordinator.store.person(iin: People.iin(805)) != nil)
    }
}
