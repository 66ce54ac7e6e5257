import Foundation
import TanbaCluster
import TanbaCore
import TanbaWire
import Testing

/// The enrollment rules of REQUIREMENTS §2/§4 checked again at the coordinator — the same
/// `EnrollmentRules` (TanbaCore) as the station — before anything is stored: each refusal is
/// a typed ERROR 15 naming the rule, audited, and stores nothing.
@Suite(.serialized) struct CoordinatorRulesTests {
    static let today = EnrollmentRules(now: Date()).today

    /// An IIN born on 1 January `years` years ago (so `years - 1` or `years` old today).
    static func iin(bornYearsAgo years: Int, serial: Int) -> IIN {
        IIN.make(birthDate: .init(year: today.year - years, month: 1, day: 1), sex: .female, serial: serial)!
    }

    /// Sends the consent, then the enrollment; returns the ERROR (nil: enrolled).
    static func attempt(_ cluster: Cluster, _ iin: IIN, consent: WireMessage, exceptions: [FingerException] = People.exceptions,
                        record: FingerprintRecord = People.enrollment(20)) async throws -> (WireErrorCode, String)? {
        _ = try await cluster.ask(consent)
        do {
            guard case .enrollAnswer(let a) = try await cluster.ask(.enroll(EnrollRequest(iin: iin, record: record, exceptions: exceptions))),
                  a.outcome == .enrolled else { throw TestFailure("not enrolled") }
            return nil
        } catch SignedCaller.CallError.remote(let code, let message) {
            return (code, message)
        }
    }

    @Test func ageAndCapacityRulesAreCheckedFromTheConsent() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2)
        defer { Task { await cluster.shutdown() } }
        let minor = Self.iin(bornYearsAgo: 17, serial: 11)
        // Under 18 for public services [BIO 4].
        let underage = try await Self.attempt(cluster, minor, consent: cluster.consentMessage(minor))
        #expect(underage?.0 == .ruleViolation && underage?.1.contains("[BIO 4]") == true)
        // A citizen cannot use the travel-document purpose [DACT 5].
        let citizen = try await Self.attempt(cluster, minor, consent: cluster.consentMessage(minor, purpose: .travelDocument, citizenship: .citizen))
        #expect(citizen?.0 == .ruleViolation && citizen?.1.contains("[DACT 5]") == true)
        // Incapable without a guardian [BIO 5].
        let ward = People.iin(21)
        let alone = try await Self.attempt(cluster, ward, consent: cluster.consentMessage(ward, declaredIncapable: true),
                                           record: People.enrollment(21))
        #expect(alone?.0 == .ruleViolation && alone?.1.contains("[BIO 5]") == true)
        // …with an under-age guardian.
        let young = Guardian(name: "Young Guardian", iin: Self.iin(bornYearsAgo: 15, serial: 12), applicationNumber: "G-1")
        let youngGuardian = try await Self.attempt(cluster, ward, consent: cluster.consentMessage(ward, declaredIncapable: true, guardian: young),
                                                   record: People.enrollment(21))
        #expect(youngGuardian?.0 == .ruleViolation && youngGuardian?.1.contains("guardian") == true)
        #expect(try cluster.coordinator.store.personCount == 0, "nothing stored by any refusal")
        #expect(try cluster.coordinator.store.audit.entries().filter { $0.entry.result.hasPrefix("refused:") }.count >= 4)

        // The lawful cases go through: a foreign 16/17-year-old for a travel document, and
        // the incapable person with an adult guardian and the guardian's application.
        #expect(try await Self.attempt(cluster, minor, consent: cluster.consentMessage(minor, purpose: .travelDocument, citizenship: .foreigner)) == nil)
        let guardian = Guardian(name: "Adult Guardian", iin: People.iin(22), applicationNumber: "G-2")
        #expect(try await Self.attempt(cluster, ward, consent: cluster.consentMessage(ward, declaredIncapable: true, guardian: guardian),
                                       record: People.enrollment(21)) == nil)
        #expect(try cluster.coordinator.store.person(iin: ward)?.guardian == "Adult Guardian")
    }

    @Test func everyFingerIsCapturedOrExceptedWithAReason() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2)
        defer { Task { await cluster.shutdown() } }
        let iin = People.iin(23)
        let consent = cluster.consentMessage(iin)
        // Four fingers captured, nothing said about the other six [BIO 6, 7].
        let unaccounted = try await Self.attempt(cluster, iin, consent: consent, exceptions: [], record: People.enrollment(23))
        #expect(unaccounted?.0 == .ruleViolation && unaccounted?.1.contains("neither captured nor recorded as an exception") == true)
        // An exception without a reason [BIO 7].
        var noReason = People.exceptions
        noReason[0].reason = "  "
        let silent = try await Self.attempt(cluster, iin, consent: consent, exceptions: noReason, record: People.enrollment(23))
        #expect(silent?.0 == .ruleViolation && silent?.1.contains("needs a reason") == true)
        // A finger both captured and excepted.
        var both = People.exceptions
        both[0].position = People.fingers[0]
        let twice = try await Self.attempt(cluster, iin, consent: consent, exceptions: both, record: People.enrollment(23))
        #expect(twice?.0 == .ruleViolation && twice?.1.contains("both captured and recorded") == true)
        // No finger at all: the wire itself refuses an empty record (typed ERROR 1), and the
        // shared rule refuses "all missing or without pattern" [BIO 10].
        let allMissing = FingerPosition.tenPrint.map { FingerException(position: $0, kind: .missing, reason: "amputated") }
        #expect(throws: RuleViolation.noFingerWithPattern) {
            try EnrollmentRules(today: Self.today).checkFingers(captured: [], exceptions: allMissing)
        }
        #expect(try cluster.coordinator.store.personCount == 0)

        // Accounted for: enrolled, and the exceptions are stored with their kind and reason.
        #expect(try await Self.attempt(cluster, iin, consent: consent, record: People.enrollment(23)) == nil)
        let missing = try cluster.coordinator.store.currentEnrollment(iin: iin)?.missing ?? []
        #expect(missing.count == 6 && missing.allSatisfy { $0.reason == "bandaged: test fixture: four-finger records" })
    }
}
