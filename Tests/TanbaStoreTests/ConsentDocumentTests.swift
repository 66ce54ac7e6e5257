import Foundation
import Testing
import TanbaCore
@testable import TanbaStore

/// Schema v5: consent documents kept before the enrollment they cover, shredded with the
/// person; answers to requests written in the transaction of the change they answer.
@Suite struct ConsentDocumentTests {
    static func document(_ action: ConsentDocument.Action, _ text: String) -> ConsentDocument {
        ConsentDocument(action: action, document: Array(text.utf8), signature: [UInt8](repeating: 9, count: 64), station: "station-1",
                        givenOn: "2026-11-21", lastDay: nil)
    }

    @Test func consentDocumentsAreSealedOrderedAndShreddedWithThePerson() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        let iin = Fixtures.iin(1)
        #expect(try store.latestConsent(iin: iin) == nil)
        let grant = Self.document(.granted, "{\"subjectName\":\"Серік Ерланұлы\"}")
        #expect(try store.recordConsent(grant, iin: iin, by: Fixtures.operatorActor))
        #expect(try !store.recordConsent(grant, iin: iin, by: Fixtures.operatorActor), "a re-delivery is not recorded twice")
        #expect(try store.latestConsent(iin: iin) == grant)
        try store.enroll(PersonIdentity(fullName: Fixtures.name(1), iin: iin), iin: iin, enrollment: Fixtures.enrollment(seed: 1),
                         consent: Fixtures.consent(), by: Fixtures.operatorActor)
        let revocation = Self.document(.revoked, "{\"revoked\":true}")
        #expect(try store.recordConsent(revocation, iin: iin, by: Fixtures.operatorActor))
        #expect(try store.latestConsent(iin: iin)?.action == .revoked, "the latest document decides")
        // No plaintext of the document in the file.
        #expect(!Fixtures.contains(Fixtures.fileBytes(dir.path("store.db")), Array("Серік".utf8)))
        try store.delete(iin: iin, request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"), by: Fixtures.operatorActor)
        #expect(try store.latestConsent(iin: iin) == nil, "shredded and removed with the person")
    }

    @Test func answersAreKeptOnlyWithTheChangeTheyAnswer() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        let iin = Fixtures.iin(2)
        let id = [UInt8](repeating: 1, count: 16)
        let kept = AnsweredRequest(sender: "station-1", requestID: id, fingerprint: [1, 2, 3], answer: [0x81, 1])
        try store.enroll(PersonIdentity(fullName: Fixtures.name(2), iin: iin), iin: iin, enrollment: Fixtures.enrollment(seed: 2),
                         consent: Fixtures.consent(), by: Fixtures.operatorActor, answering: kept)
        #expect(try store.answeredRequest(sender: "station-1", requestID: id) == kept)
        // A second enrollment of the IIN fails: its answer is not kept either.
        let other = AnsweredRequest(sender: "station-1", requestID: [UInt8](repeating: 2, count: 16), fingerprint: [4], answer: [0x81, 3])
        #expect(throws: StoreError.alreadyEnrolled) {
            try store.enroll(PersonIdentity(fullName: Fixtures.name(2), iin: iin), iin: iin, enrollment: Fixtures.enrollment(seed: 3),
                             consent: Fixtures.consent(), by: Fixtures.operatorActor, answering: other)
        }
        #expect(try store.answeredRequest(sender: "station-1", requestID: other.requestID) == nil)
        var amended = kept
        amended.answer = [0x81, 2]
        try store.updateAnswer(amended)
        #expect(try store.answeredRequest(sender: "station-1", requestID: id)?.answer == [0x81, 2])
        #expect(try store.pruneAnsweredRequests(before: "2000-01-01T00:00:00.000+05:00") == 0)
        #expect(try store.pruneAnsweredRequests(before: "2999-01-01T00:00:00.000+05:00") == 1)
        #expect(try store.answeredRequest(sender: "station-1", requestID: id) == nil)
    }
}
