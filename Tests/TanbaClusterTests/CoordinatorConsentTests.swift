import Foundation
import TanbaCluster
import TanbaCore
import TanbaStore
import TanbaWire
import Testing

/// CONSENT at the coordinator: the station's signature is verified, the document is kept
/// sealed with the person, and ENROLL/UPDATE need a valid consent on record [BIO 3], [PD 8].
@Suite(.serialized) struct CoordinatorConsentTests {
    static func refusal(_ body: () async throws -> Void) async -> (WireErrorCode, String)? {
        do {
            try await body()
            return nil
        } catch SignedCaller.CallError.remote(let code, let message) {
            return (code, message)
        } catch {
            return (.internal, "\(error)")
        }
    }

    @Test func enrollmentWithoutConsentIsRefusedAndStoresNothing() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2)
        defer { Task { await cluster.shutdown() } }
        let refused = await Self.refusal { _ = try await cluster.enroll(5, consent: false) }
        #expect(refused?.0 == .consentRequired)
        #expect(refused?.1.contains("no written consent on record") == true)
        #expect(try cluster.coordinator.store.personCount == 0 && cluster.coordinator.directory.count == 0)
        #expect(try cluster.coordinator.store.audit.entries().last?.entry.result.hasPrefix("refused: no written consent") == true)
    }

    @Test func consentIsVerifiedKeptWithThePersonAndNamesThem() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2)
        defer { Task { await cluster.shutdown() } }
        let iin = People.iin(6)
        // Signed with another node's key than the sender's: refused, nothing recorded.
        let forged = await Self.refusal { _ = try await cluster.ask(cluster.consentMessage(iin, signer: "admin-1")) }
        #expect(forged?.0 == .badConsentSignature)
        #expect(try cluster.coordinator.store.latestConsent(iin: iin) == nil)
        // A term nobody can evaluate is refused when the consent arrives.
        let vague = await Self.refusal { _ = try await cluster.ask(cluster.consentMessage(iin, term: "as long as needed")) }
        #expect(vague?.0 == .invalidArgument && vague?.1.contains("term") == true)

        let message = cluster.consentMessage(iin, name: "Айгерім Серікқызы", term: "5 years")
        guard case .consentAnswer(let recorded) = try await cluster.ask(message) else { throw TestFailure("answer") }
        #expect(recorded)
        // The same signed document again (a re-delivery): not recorded twice.
        guard case .consentAnswer(let again) = try await cluster.ask(message) else { throw TestFailure("answer") }
        #expect(!again)
        #expect(try await cluster.enroll(6, consent: false).outcome == .enrolled)

        let store = cluster.coordinator.store
        #expect(try store.person(iin: iin)?.fullName == "Айгерім Серікқызы \(iin)")
        guard case .consent(let sent) = message, let kept = try store.consents(iin: iin).last else { throw TestFailure("no consent kept") }
        #expect(kept.term == "5 years" && kept.operatorName == "NAO Government for Citizens")
        #expect(kept.signed?.document == sent.document && kept.signed?.signature == sent.signature)
        #expect(kept.signed?.station == "station-1" && kept.signed?.branch == "astana-01")
        let form = try JSONDecoder().decode(ConsentRecord.self, from: Data(kept.signed!.document))
        #expect(kept.signatureReference == form.formReference && kept.signed?.id == form.id)
    }

    @Test func revokedOrExpiredConsentRefusesEnrollmentAndUpdate() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2)
        defer { Task { await cluster.shutdown() } }
        // Enrolled, then the person revokes their consent at a branch.
        _ = try await cluster.enroll(7)
        let iin = People.iin(7)
        let revocation = ConsentRevocation(subjectIIN: iin, subjectName: "Test Person", date: EnrollmentRules(now: Date()).today,
                                           operatorEmployee: "op-2", branch: "almaty-02", station: "station-1",
                                           formReference: "rev-1", deleteData: false)
        let document = revocation.canonicalJSON()
        let signature = Array(try cluster.identities["station-1"]!.signingKey.signature(for: document))
        guard case .consentAnswer(true) = try await cluster.ask(.consent(ConsentRequest(iin: iin, action: .revoked, document: document,
                                                                                         signature: signature))) else {
            throw TestFailure("revocation not recorded")
        }
        #expect(try cluster.coordinator.store.latestConsent(iin: iin)?.action == .revoked)
        let update = await Self.refusal {
            _ = try await cluster.ask(.update(UpdateRequest(iin: iin, record: People.record(7, impression: 3), reason: "scars", exceptions: People.exceptions)))
        }
        #expect(update?.0 == .consentRequired && update?.1.contains("revoked") == true)
        #expect(try cluster.coordinator.store.currentEnrollment(iin: iin)?.record == People.enrollment(7), "nothing changed")

        // A consent whose term ended before today.
        let old = cluster.consentMessage(People.iin(8), date: IIN.BirthDate(year: 2023, month: 3, day: 1), term: "1 year")
        _ = try await cluster.ask(old)
        let expired = await Self.refusal { _ = try await cluster.enroll(8, consent: false) }
        #expect(expired?.0 == .consentRequired && expired?.1.contains("ended on 2024-03-01") == true)
        // New consent: enrolled.
        #expect(try await cluster.enroll(8).outcome == .enrolled)
    }

    @Test func consentTermsAreReadStrictly() throws {
        let given = IIN.BirthDate(year: 2026, month: 1, day: 31)
        #expect(try ConsentTerm("until revoked").lastDay(from: given) == nil)
        #expect(try ConsentTerm("1 month").lastDay(from: given) == IIN.BirthDate(year: 2026, month: 2, day: 28))
        #expect(try ConsentTerm("5 Years").lastDay(from: given) == IIN.BirthDate(year: 2031, month: 1, day: 31))
        #expect(try ConsentTerm("until 2030-12-31").lastDay(from: given) == IIN.BirthDate(year: 2030, month: 12, day: 31))
        #expect(throws: RuleViolation.consentTermUnreadable("until 2030-02-30")) { try ConsentTerm("until 2030-02-30") }
        #expect(throws: RuleViolation.self) { try ConsentTerm("0 years") }
    }
}
