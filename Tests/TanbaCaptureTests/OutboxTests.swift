import Foundation
import Testing
import TanbaCore
import TanbaMatch
import TanbaStore
import TanbaWire
@testable import TanbaCapture

/// The outbox against the real coordinator (in-process `RealCluster`: TanbaCluster's
/// coordinator with its store replicated to a standby, two workers). What the cluster holds is
/// read from its store and audit log, not inferred from the answers.
@Suite(.serialized) struct OutboxTests {
    func desk(_ outbox: Outbox) -> EnrollmentDesk {
        EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile, outbox: outbox, now: { CaptureFixtures.noon })
    }

    func person(_ serial: Int) -> Subject {
        CaptureFixtures.subject(CaptureFixtures.iin(born: .init(year: 1980, month: 1, day: 1 + serial % 28), serial: 200 + serial),
                                name: "Person \(serial)")
    }

    func submit(_ desk: EnrollmentDesk, _ s: Subject) throws -> EnrollmentDesk.Submitted {
        try desk.submit(EnrollmentCase(subject: s, consent: try desk.consent(for: s, formReference: "F-\(s.iin)"),
                                       captured: CaptureFixtures.tenTemplates(person: UInt64(s.iin.digits)!)))
    }

    @Test func writtenBeforeSendingAndDeliveredInOrder() async throws {
        let cluster = try await RealCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        let s = person(1)
        let submitted = try submit(d, s)
        // Nothing sent yet: both items are on disk, pending, with their IDs fixed.
        let pending = try outbox.pending()
        #expect(pending.map(\.type) == [.consent, .enroll])
        #expect(pending.map(\.requestID) == submitted.requestIDs)
        #expect(!cluster.transport.events.contains { $0.address == cluster.address })

        let pass = try await cluster.sender(outbox).sendDue()
        #expect(pass.delivered == 2 && pass.failed == 0)
        #expect(try outbox.pending().isEmpty)
        #expect(try outbox.items().map(\.answer) == ["consent recorded", "enrolled"])
        #expect(cluster.enrolledIINs() == [s.iin.digits])
        #expect(try cluster.audit(s.iin, operation: "enroll") == ["ok"])
        #expect(try cluster.standbyInStep())
        // The cluster holds the station-signed consent document, and the names come from it.
        let stored = try cluster.consents(s.iin)
        #expect(stored.count == 1 && stored[0].signed?.station == "station-17" && stored[0].signed?.subjectIIN == s.iin.digits)
        #expect(try cluster.store.person(iin: s.iin)?.fullName == s.name)
        // Delivered requests keep their metadata but not the templates; the signed consent stays as proof.
        #expect(try outbox.items().allSatisfy { $0.body.isEmpty && $0.state == .delivered })
        #expect(try outbox.consents(iin: s.iin).count == 1)
    }

    @Test func retriesWithBackoffWhileTheCoordinatorIsDown() async throws {
        let cluster = try await RealCluster()
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
        #expect(cluster.transport.events.filter { $0.address == cluster.address }.count == 1)
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
        #expect(cluster.enrolledIINs().count == 3)
        #expect(try outbox.counts()[.delivered] == 6)
    }

    @Test func lostAnswerThenStationRestartNeverEnrollsTwice() async throws {
        let cluster = try await RealCluster()
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
            #expect(try cluster.audit(person(7).iin, operation: "enroll") == ["ok"])
        }
        // "Reboot": a new process opens the same file and resends with the same request IDs.
        let reopened = try Outbox(path: path)
        #expect(try reopened.pending().count == 1)
        #expect(try await cluster.sender(reopened).drain(timeout: .seconds(5)))
        // Executed once: one store enrollment in the audit log, none archived, the retry
        // answered from the coordinator's kept answers (durable request IDs).
        #expect(try cluster.audit(person(7).iin, operation: "enroll") == ["ok"])
        #expect(try cluster.archived(person(7).iin).isEmpty)
        #expect(cluster.enrolledIINs().count == 1)
        #expect(try reopened.items().last?.answer == "enrolled")
        #expect(try reopened.counts()[.delivered] == 2)
    }

    @Test func permanentRefusalIsRecordedNotRetried() async throws {
        let cluster = try await RealCluster()
        let outbox = try Outbox(path: ":memory:")
        // UPDATE of a person the cluster does not know: notFound is final.
        let s = person(3)
        _ = try desk(outbox).submit(EnrollmentCase(subject: s, kind: .reenrollment(reason: "scars"),
                                                   consent: try desk(outbox).consent(for: s, formReference: "F-1"),
                                                   captured: CaptureFixtures.tenTemplates()))
        let pass = try await cluster.sender(outbox).sendDue()
        #expect(pass.delivered == 1 && pass.failed == 1)
        let failed = try outbox.items(state: .failed)
        #expect(failed.count == 1 && failed[0].type == .update
                && failed[0].lastError?.contains("no enrolled person has this IIN") == true, "\(failed)")
        #expect(try outbox.pending().isEmpty)
    }

    @Test func reenrollmentArchivesThePreviousRecordAtTheCluster() async throws {
        let cluster = try await RealCluster()
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
        // The cluster archived the old record and keeps the new one with its nine exceptions.
        #expect(try cluster.archived(s.iin).first?.record.views.count == 10)
        let current = try #require(try cluster.enrollment(s.iin))
        #expect(current.record.views.count == 1)
        #expect(current.missing.count == 9 && current.missing.allSatisfy { $0.reason == "no-pattern: no pattern after disease" })
        #expect(try cluster.consents(s.iin).count == 2)
        #expect(try cluster.audit(s.iin, operation: "reenroll").count == 1)
    }

    @Test func revocationWithDeletionReachesTheCluster() async throws {
        let cluster = try await RealCluster()
        let outbox = try Outbox(path: ":memory:")
        let d = desk(outbox)
        let s = person(5)
        _ = try submit(d, s)
        try d.revokeConsent(ConsentRevocation(subjectIIN: s.iin, subjectName: s.name, date: CaptureFixtures.today,
                                              operatorEmployee: "B", branch: "branch 9", station: "station-17",
                                              formReference: "R-9", deleteData: true))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        #expect(cluster.enrolledIINs().isEmpty)
        #expect(try cluster.enrollment(s.iin) == nil && cluster.consents(s.iin).isEmpty)
        #expect(try outbox.items().map(\.answer) == ["consent recorded", "enrolled", "consent recorded", "deleted"])
        #expect(try cluster.store.deletionRecords().count == 1)
        // A deletion request filed on its own (at another branch's station) reaches the cluster too.
        let other = person(6)
        _ = try submit(d, other)
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        let elsewhere = try Outbox(path: ":memory:")
        try desk(elsewhere).requestDeletion(iin: other.iin, reason: "deletion requested by the person at branch 9")
        #expect(try await cluster.sender(elsewhere).drain(timeout: .seconds(5)))
        #expect(try elsewhere.items().map(\.answer) == ["deleted"])
        #expect(try cluster.enrolledIINs().isEmpty && cluster.store.deletionRecords().count == 2)
    }

    @Test func enrollmentNeverOvertakesItsConsent() async throws {
        let cluster = try await RealCluster()
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
        #expect(cluster.enrolledIINs().count == 2)
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

    @Test func theCoordinatorKeepsOnlyConsentSignedByTheSendingStation() async throws {
        let cluster = try await RealCluster()
        let desk = EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile,
                                  outbox: try Outbox(path: ":memory:"), now: { CaptureFixtures.noon })
        var forged = try desk.consent(for: CaptureFixtures.subject(), formReference: "F-9").message
        forged.document = Array(String(decoding: forged.document, as: UTF8.self)
            .replacingOccurrences(of: "\"publication\":false", with: "\"publication\":true").utf8)
        func code(_ message: WireMessage) async -> WireErrorCode? {
            do {
                _ = try await cluster.caller().call(message, to: "coordinator", at: cluster.address, deadline: .seconds(10))
                return nil
            } catch {
                if case .remote(let code, _) = error { return code }
                return nil
            }
        }
        #expect(await code(.consent(forged)) == .badConsentSignature)
        // Without consent on record, ENROLL is refused and nothing is stored.
        let enroll = WireMessage.enroll(EnrollRequest(iin: CaptureFixtures.adult,
                                                      record: FingerprintRecord(views: CaptureFixtures.tenTemplates())))
        #expect(await code(enroll) == .consentRequired)
        #expect(try cluster.enrolledIINs().isEmpty && cluster.consents(CaptureFixtures.adult).isEmpty)
    }
}
