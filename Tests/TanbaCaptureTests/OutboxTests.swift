import Foundation
import Testing
import TanbaCore
import TanbaMatch
import TanbaWire
@testable import TanbaCapture

/// A fake coordinator (the stand-in, on TanbaWire's SignedService) reached over EmbeddedTransport.
struct FakeCluster {
    let transport = EmbeddedTransport()
    let coordinator: StandInCoordinator
    let address = "coordinator"
    var listener: (any TransportListener)?

    static func scorer() -> StandInCoordinator.Scorer {
        let encoder = CylinderEncoder()
        let comparator = TemplateComparator()
        return { a, b in comparator.score(encoder.encode(a), encoder.encode(b)) }
    }

    init(path: String = ":memory:") async throws {
        coordinator = try StandInCoordinator(path: path, keyring: CaptureFixtures.coordinatorKeyring,
                                             threshold: ScoreScale.threshold(forFMR: 1e-3), scorer: FakeCluster.scorer())
        listener = try await transport.listen(on: address, handler: coordinator.service(identity: CaptureFixtures.coordinator).requestHandler)
    }

    func caller() -> SignedCaller {
        SignedCaller(identity: CaptureFixtures.station, keyring: CaptureFixtures.stationKeyring, transport: transport)
    }

    func sender(_ outbox: Outbox, policy: BackoffPolicy = .init(initialMilliseconds: 1, maximumMilliseconds: 4)) -> OutboxSender {
        OutboxSender(outbox: outbox, caller: caller(), address: address, policy: policy, requestDeadline: .seconds(2))
    }
}

@Suite struct OutboxTests {
    func desk(_ outbox: Outbox) -> EnrollmentDesk {
        EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile, outbox: outbox, now: { CaptureFixtures.noon })
    }

    func person(_ serial: Int) -> Subject {
        CaptureFixtures.subject(CaptureFixtures.iin(born: .init(year: 1980, month: 1, day: 1 + serial % 28), serial: 200 + serial),
                                name: "Person \(serial)")
    }

    func submit(_ desk: EnrollmentDesk, _ s: Subject) throws -> EnrollmentDesk.Submitted {
        try desk.submit(EnrollmentCase(subject: s, consent: try desk.consent(for: s, formReference: "F-\(s.iin)"),
                                       captured: CaptureFixtures.tenTemplates()))
    }

    @Test func writtenBeforeSendingAndDeliveredInOrder() async throws {
        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        let s = person(1)
        let submitted = try submit(d, s)
        // Nothing sent yet: both items are on disk, pending, with their IDs fixed.
        let pending = try outbox.pending()
        #expect(pending.map(\.type) == [.consent, .enroll])
        #expect(pending.map(\.requestID) == submitted.requestIDs)
        #expect(cluster.transport.events.isEmpty)

        let pass = try await cluster.sender(outbox).sendDue()
        #expect(pass.delivered == 2 && pass.failed == 0)
        #expect(try outbox.pending().isEmpty)
        #expect(try outbox.items().map(\.answer) == ["consent recorded", "enrolled"])
        #expect(cluster.coordinator.enrolledIINs() == [s.iin.digits])
        // The cluster holds the station-signed consent document.
        let stored = cluster.coordinator.consentDocuments(s.iin)
        #expect(stored.count == 1 && stored[0].action == 1)
        // Delivered requests keep their metadata but not the templates; the signed consent stays as proof.
        #expect(try outbox.items().allSatisfy { $0.body.isEmpty && $0.state == .delivered })
        #expect(try outbox.consents(iin: s.iin).count == 1)
    }

    @Test func retriesWithBackoffWhileTheCoordinatorIsDown() async throws {
        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        for i in 0..<3 { _ = try submit(d, person(i)) }
        cluster.transport.setFault(.dead, for: cluster.address)
        let sender = cluster.sender(outbox, policy: BackoffPolicy(initialMilliseconds: 50, maximumMilliseconds: 400))
        let first = try await sender.sendDue()
        #expect(first.unreachable && first.delivered == 0 && first.retried == 1)
        // Back-off: the next attempt is scheduled, not immediate; the pass stopped at the first refusal.
        let wait = try #require(try sender.millisecondsUntilDue())
        #expect(wait > 0 && wait <= 50)
        #expect(cluster.transport.events.count == 1)
        // Consecutive failures double the delay up to the cap.
        #expect(BackoffPolicy(initialMilliseconds: 50, maximumMilliseconds: 400).delay(afterAttempt: 1) == 50)
        #expect(BackoffPolicy(initialMilliseconds: 50, maximumMilliseconds: 400).delay(afterAttempt: 3) == 200)
        #expect(BackoffPolicy(initialMilliseconds: 50, maximumMilliseconds: 400).delay(afterAttempt: 9) == 400)
        try await Task.sleep(for: .milliseconds(60))
        _ = try await sender.sendDue()
        let item = try #require(try outbox.pending().first)
        #expect(item.attempts == 2 && item.lastError?.contains("refused") == true)
        let secondWait = try #require(try sender.millisecondsUntilDue())
        #expect(secondWait > 50) // 100 ms after the second consecutive failure

        cluster.transport.setFault(nil, for: cluster.address)
        #expect(try await sender.drain(timeout: .seconds(5)))
        #expect(cluster.coordinator.enrolledIINs().count == 3)
        #expect(try outbox.counts()[.delivered] == 6)
    }

    @Test func lostAnswerThenStationRestartNeverEnrollsTwice() async throws {
        let cluster = try await FakeCluster()
        let path = CaptureFixtures.temporaryPath("outbox") + ".db"
        do {
            let outbox = try Outbox(path: path)
            _ = try submit(desk(outbox), person(7))
            // The coordinator executes the requests but the answers are lost (e.g. the station
            // is killed while waiting). Pass 1: CONSENT executed, answer lost. Pass 2: the
            // CONSENT resend is answered from the cache; ENROLL executed, answer lost.
            cluster.transport.injectOnce(.dropAnswer, for: cluster.address)
            cluster.transport.injectOnce(.delay(.zero), for: cluster.address) // answered normally
            cluster.transport.injectOnce(.dropAnswer, for: cluster.address)
            let sender = cluster.sender(outbox)
            _ = try await sender.sendDue()
            try await Task.sleep(for: .milliseconds(5))
            _ = try await sender.sendDue()
            #expect(try outbox.pending().map(\.type) == [.enroll])
            #expect(try outbox.items().first?.answer == "consent recorded")
            #expect(cluster.coordinator.enrollExecutions == 1)
        }
        // "Reboot": a new process opens the same file and resends with the same request IDs.
        let reopened = try Outbox(path: path)
        #expect(try reopened.pending().count == 1)
        #expect(try await cluster.sender(reopened).drain(timeout: .seconds(5)))
        #expect(cluster.coordinator.enrollExecutions == 1)
        #expect(cluster.coordinator.repeatedEnrollments == 0)
        #expect(cluster.coordinator.enrolledIINs().count == 1)
        #expect(try reopened.items().last?.answer == "enrolled")
        #expect(try reopened.counts()[.delivered] == 2)
    }

    @Test func permanentRefusalIsRecordedNotRetried() async throws {
        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        // UPDATE of a person the cluster does not know: notFound is final.
        let s = person(3)
        _ = try desk(outbox).submit(EnrollmentCase(subject: s, kind: .reenrollment(reason: "scars"),
                                                   consent: try desk(outbox).consent(for: s, formReference: "F-1"),
                                                   captured: CaptureFixtures.tenTemplates()))
        let pass = try await cluster.sender(outbox).sendDue()
        #expect(pass.delivered == 1 && pass.failed == 1)
        let failed = try outbox.items(state: .failed)
        #expect(failed.count == 1 && failed[0].lastError?.contains("not enrolled") == true)
        #expect(try outbox.pending().isEmpty)
    }

    @Test func reenrollmentArchivesThePreviousRecordAtTheCluster() async throws {
        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        let s = person(4)
        _ = try submit(d, s)
        _ = try d.submit(EnrollmentCase(subject: s, kind: .reenrollment(reason: "skin disease, irreversible"),
                                        consent: try d.consent(for: s, formReference: "F-2"),
                                        captured: [CaptureFixtures.template(.rightThumb, seed: 99)],
                                        exceptions: FingerPosition.tenPrint.dropFirst().map {
                                            FingerException(position: $0, kind: .noPattern, reason: "no pattern after disease") }))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        #expect(cluster.coordinator.archivedCount(s.iin) == 1)
        #expect(cluster.coordinator.record(s.iin)?.views.count == 1)
        #expect(cluster.coordinator.consentDocuments(s.iin).count == 2)
    }

    @Test func revocationWithDeletionReachesTheCluster() async throws {
        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        let s = person(5)
        _ = try submit(d, s)
        try d.revokeConsent(ConsentRevocation(subjectIIN: s.iin, subjectName: s.name, date: CaptureFixtures.today,
                                              operatorEmployee: "B", branch: "branch 9", station: "station-17",
                                              formReference: "R-9", deleteData: true))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        #expect(cluster.coordinator.enrolledIINs().isEmpty)
        #expect(try outbox.items().last?.answer == "deleted")
    }

    @Test func enrollmentNeverOvertakesItsConsent() async throws {
        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        _ = try submit(d, person(10))
        _ = try submit(d, person(11))
        // The first CONSENT times out (dropped request): the pass stops there, so no ENROLL
        // goes out ahead of its consent (the coordinator would refuse it: no consent on record).
        cluster.transport.injectOnce(.dropRequest, for: cluster.address)
        let pass = try await cluster.sender(outbox).sendDue()
        #expect(pass.unreachable && pass.delivered == 0)
        #expect(try outbox.pending().map(\.type) == [.consent, .enroll, .consent, .enroll])
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        #expect(try outbox.items(state: .failed).isEmpty)
        #expect(cluster.coordinator.enrolledIINs().count == 2)
    }
}

@Suite struct ConsentMessageTests {
    @Test func consentBodyRoundTripsAndBadBodiesGetTypedErrors() throws {
        let desk = EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile,
                                  outbox: try Outbox(path: ":memory:"), now: { CaptureFixtures.noon })
        let consent = try desk.consent(for: CaptureFixtures.subject(), formReference: "F-9")
        let message = WireMessage.consent(consent.message)
        let body = message.encodedBody()
        #expect(try WireMessage.decode(type: .consent, payload: body) == message)
        // The layout: 12 IIN digits, action, u32 length, document, 64-byte signature.
        #expect(body.count == 12 + 1 + 4 + consent.document.count + 64)
        var badAction = body
        badAction[12] = 3
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .consent, payload: badAction) }
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .consent, payload: Array(body.dropLast())) }
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .consent, payload: body + [0]) }
    }

    @Test func theCoordinatorKeepsOnlyConsentSignedByTheSendingStation() throws {
        let coordinator = try StandInCoordinator(keyring: CaptureFixtures.coordinatorKeyring, scorer: { _, _ in 0 })
        let desk = EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile,
                                  outbox: try Outbox(path: ":memory:"), now: { CaptureFixtures.noon })
        var forged = try desk.consent(for: CaptureFixtures.subject(), formReference: "F-9").message
        forged.document = Array(String(decoding: forged.document, as: UTF8.self)
            .replacingOccurrences(of: "\"publication\":false", with: "\"publication\":true").utf8)
        guard case .error(let code, _) = coordinator.handle(sender: "station-17", .consent(forged)) else {
            Issue.record("forged consent accepted"); return
        }
        #expect(code == .invalidArgument)
        // Without consent on record, ENROLL is refused.
        let enroll = WireMessage.enroll(EnrollRequest(iin: CaptureFixtures.adult,
                                                      record: FingerprintRecord(views: CaptureFixtures.tenTemplates())))
        guard case .error(let code2, let text) = coordinator.handle(sender: "station-17", enroll) else {
            Issue.record("enrolled without consent"); return
        }
        #expect(code2 == .invalidArgument && text.contains("no consent"))
    }
}
