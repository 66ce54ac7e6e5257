import Foundation
import Testing
import TanbaCore
import TanbaWire
@testable import TanbaCapture

/// Every rule of REQUIREMENTS.md §2 shows its refusal (or its recorded exception).
@Suite struct EnrollmentRulesTests {
    let rules = EnrollmentRules(today: CaptureFixtures.today)
    let desk = EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile,
                              outbox: try! Outbox(path: ":memory:"), now: { CaptureFixtures.noon })

    func consent(_ s: Subject, purpose: EnrollmentPurpose = .publicServices) -> SignedConsent {
        try! desk.consent(for: s, purpose: purpose, formReference: "F-17/2026/0001")
    }

    func enrollmentCase(_ s: Subject, purpose: EnrollmentPurpose = .publicServices, kind: EnrollmentKind = .new,
                        captured: [FingerTemplate] = CaptureFixtures.tenTemplates(), exceptions: [FingerException] = []) -> EnrollmentCase {
        EnrollmentCase(subject: s, purpose: purpose, kind: kind, consent: consent(s, purpose: purpose),
                       captured: captured, exceptions: exceptions)
    }

    @Test func injectedClockGivesTheAstanaDate() {
        #expect(desk.rules.today == CaptureFixtures.today)
        // 20:00 UTC on the 20th is already the 21st in Astana.
        #expect(EnrollmentRules.astanaDate(Date(timeIntervalSince1970: 1_795_204_800)) == CaptureFixtures.today)
    }

    @Test func citizensEnrollFrom18ByTheIINsBirthDate() throws {
        let eighteenTomorrow = CaptureFixtures.iin(born: .init(year: 2008, month: 11, day: 22))
        let eighteenToday = CaptureFixtures.iin(born: .init(year: 2008, month: 11, day: 21))
        let s = CaptureFixtures.subject(eighteenTomorrow)
        #expect(throws: RuleViolation.underage(age: 17, minimum: 18, purpose: .publicServices)) {
            try rules.check(enrollmentCase(s))
        }
        #expect(RuleViolation.underage(age: 17, minimum: 18, purpose: .publicServices).description.contains("from age 18"))
        try rules.check(enrollmentCase(CaptureFixtures.subject(eighteenToday)))
    }

    @Test func foreignersAndStatelessFrom16ForTravelDocuments() throws {
        let sixteen = CaptureFixtures.iin(born: .init(year: 2010, month: 5, day: 1))
        let fifteen = CaptureFixtures.iin(born: .init(year: 2011, month: 5, day: 1))
        for citizenship in [Subject.Citizenship.foreigner, .stateless] {
            try rules.check(enrollmentCase(CaptureFixtures.subject(sixteen, citizenship: citizenship), purpose: .travelDocument))
            #expect(throws: RuleViolation.underage(age: 15, minimum: 16, purpose: .travelDocument)) {
                try rules.check(enrollmentCase(CaptureFixtures.subject(fifteen, citizenship: citizenship), purpose: .travelDocument))
            }
            // For public services the 18 rule holds for them too.
            #expect(throws: RuleViolation.underage(age: 16, minimum: 18, purpose: .publicServices)) {
                try rules.check(enrollmentCase(CaptureFixtures.subject(sixteen, citizenship: citizenship)))
            }
        }
        // A citizen cannot use the travel-document route at 16.
        #expect(throws: RuleViolation.purposeNotForCitizens) {
            try rules.check(enrollmentCase(CaptureFixtures.subject(sixteen), purpose: .travelDocument))
        }
    }

    @Test func incapablePersonOnlyWithGuardianAndWrittenApplication() throws {
        let guardianIIN = CaptureFixtures.iin(born: .init(year: 1960, month: 1, day: 2), sex: .female, serial: 55)
        #expect(throws: RuleViolation.guardianRequired) {
            try rules.check(enrollmentCase(CaptureFixtures.subject(incapable: true)))
        }
        #expect(throws: RuleViolation.guardianApplicationMissing) {
            try rules.check(enrollmentCase(CaptureFixtures.subject(incapable: true,
                guardian: Guardian(name: "G", iin: guardianIIN, applicationNumber: " "))))
        }
        #expect(throws: RuleViolation.guardianIsSubject) {
            try rules.check(enrollmentCase(CaptureFixtures.subject(incapable: true,
                guardian: Guardian(name: "G", iin: CaptureFixtures.adult, applicationNumber: "A-1"))))
        }
        let minor = CaptureFixtures.iin(born: .init(year: 2012, month: 1, day: 2), serial: 9)
        #expect(throws: RuleViolation.guardianUnderage(age: 14)) {
            try rules.check(enrollmentCase(CaptureFixtures.subject(incapable: true,
                guardian: Guardian(name: "G", iin: minor, applicationNumber: "A-1"))))
        }
        // With the guardian present, both the guardian's IIN and the application number go on the consent record.
        let s = CaptureFixtures.subject(incapable: true, guardian: Guardian(name: "Guardian", iin: guardianIIN, applicationNumber: "GA-2026/77"))
        let c = enrollmentCase(s)
        try rules.check(c)
        #expect(c.consent!.record.guardianIIN == guardianIIN.digits)
        #expect(c.consent!.record.guardianApplication == "GA-2026/77")
    }

    @Test func allTenFingersUnlessExceptedWithAReason() throws {
        let s = CaptureFixtures.subject()
        #expect(throws: RuleViolation.fingerNotAccountedFor(.leftRing)) {
            try rules.check(enrollmentCase(s, captured: CaptureFixtures.tenTemplates(except: [.leftRing])))
        }
        #expect(throws: RuleViolation.exceptionWithoutReason(.leftRing)) {
            try rules.check(enrollmentCase(s, captured: CaptureFixtures.tenTemplates(except: [.leftRing]),
                                           exceptions: [FingerException(position: .leftRing, kind: .bandaged, reason: "")]))
        }
        #expect(throws: RuleViolation.fingerBothCapturedAndExcepted(.rightThumb)) {
            try rules.check(enrollmentCase(s, exceptions: [FingerException(position: .rightThumb, kind: .wound, reason: "cut")]))
        }
        // Every exception kind is accepted with a reason and goes on record.
        let kinds: [(FingerPosition, FingerException.Kind)] = [(.leftRing, .bandaged), (.leftLittle, .missing),
            (.rightLittle, .wound), (.rightRing, .deformed), (.leftMiddle, .noPattern)]
        let exceptions = kinds.map { FingerException(position: $0.0, kind: $0.1, reason: "seen by the operator: \($0.1.rawValue)") }
        let recorded = try rules.check(enrollmentCase(s, captured: CaptureFixtures.tenTemplates(except: Set(kinds.map(\.0))),
                                                      exceptions: exceptions))
        #expect(recorded.map(\.position) == kinds.map(\.0).sorted())
        #expect(Set(recorded.map(\.kind)) == Set(FingerException.Kind.allCases))
    }

    @Test func refusedWhenEveryFingerIsMissingOrWithoutPattern() {
        let s = CaptureFixtures.subject()
        let all = FingerPosition.tenPrint.enumerated().map {
            FingerException(position: $1, kind: $0 % 2 == 0 ? .missing : .noPattern, reason: "amputation / no pattern")
        }
        #expect(throws: RuleViolation.noFingerWithPattern) { try rules.check(enrollmentCase(s, captured: [], exceptions: all)) }
        #expect(RuleViolation.noFingerWithPattern.description.contains("BIO 10"))
        // All bandaged: nothing to enroll now, but a different message (come back later).
        let bandaged = FingerPosition.tenPrint.map { FingerException(position: $0, kind: .bandaged, reason: "burns") }
        #expect(throws: RuleViolation.nothingCaptured) { try rules.check(enrollmentCase(s, captured: [], exceptions: bandaged)) }
        // One finger with a pattern is enough.
        var nine = Array(all.dropFirst())
        nine.sort { $0.position < $1.position }
        #expect(throws: Never.self) {
            try rules.check(enrollmentCase(s, captured: [CaptureFixtures.template(.rightThumb)], exceptions: nine))
        }
    }

    @Test func consentMustBeTodaysForThisPersonAndSignedByTheStation() throws {
        let s = CaptureFixtures.subject()
        var c = enrollmentCase(s)
        c.consent = nil
        #expect(throws: RuleViolation.consentMissing) { try rules.check(c) }

        let other = CaptureFixtures.subject(CaptureFixtures.iin(born: .init(year: 1970, month: 1, day: 1), serial: 3))
        c.consent = consent(other)
        #expect(throws: RuleViolation.consentForAnotherPerson(consentIIN: other.iin.digits)) { try rules.check(c) }

        let yesterday = EnrollmentRules(today: .init(year: 2026, month: 11, day: 20))
        #expect(throws: RuleViolation.consentNotFresh(consentDate: "2026-11-21", today: "2026-11-20")) {
            try yesterday.check(enrollmentCase(s))
        }

        // Tampering with a signed field breaks the signature.
        var tampered = consent(s)
        tampered.record.thirdPartyTransfer = true
        c.consent = tampered
        #expect(throws: RuleViolation.consentSignatureInvalid) {
            try rules.check(c, verifyingKey: SignedConsent.verifier(CaptureFixtures.station.publicKey))
        }
        // Another station's key does not verify this station's consent.
        c.consent = consent(s)
        #expect(throws: RuleViolation.consentSignatureInvalid) {
            try rules.check(c, verifyingKey: SignedConsent.verifier(CaptureFixtures.coordinator.publicKey))
        }
        try rules.check(c, verifyingKey: SignedConsent.verifier(CaptureFixtures.station.publicKey))
    }

    @Test func consentRecordHoldsWhatTheLawAsks() throws {
        let s = CaptureFixtures.subject()
        let signed = try desk.consent(for: s, term: "5 years", thirdPartyTransfer: false, crossBorderTransfer: true,
                                      publication: false, formReference: "F-17/2026/0042")
        let json = try JSONSerialization.jsonObject(with: Data(signed.document)) as! [String: Any]
        for key in ["operatorOrganisation", "operatorEmployee", "branch", "station", "subjectName", "subjectIIN",
                    "subjectBirthDate", "date", "term", "thirdPartyTransfer", "crossBorderTransfer", "publication", "formReference"] {
            #expect(json[key] != nil, "consent JSON lacks \(key)")
        }
        #expect(json["subjectIIN"] as? String == s.iin.digits)
        #expect(json["crossBorderTransfer"] as? Bool == true)
        #expect(json["date"] as? String == "2026-11-21")
        #expect(signed.isValid(publicKey: CaptureFixtures.station.publicKey))
        // A stored document and signature read back and still verify.
        let reread = try SignedConsent(document: signed.document, signature: signed.signature)
        #expect(reread.record == signed.record && reread.isValid(publicKey: CaptureFixtures.station.publicKey))
    }

    @Test func reenrollmentNeedsDamageDescribedAndFreshConsentAndIsSentAsUpdate() throws {
        let s = CaptureFixtures.subject()
        let first = consent(s)
        #expect(throws: RuleViolation.reenrollmentReasonMissing) {
            try rules.check(enrollmentCase(s, kind: .reenrollment(reason: " ")))
        }
        var c = EnrollmentCase(subject: s, kind: .reenrollment(reason: "scars after burns, both hands"), consent: first,
                               captured: CaptureFixtures.tenTemplates(), previousConsentID: first.record.id)
        #expect(throws: RuleViolation.reenrollmentConsentReused) { try rules.check(c) }
        c.consent = consent(s)
        let submitted = try desk.submit(c)
        let items = try desk.outbox.items()
        #expect(items.map(\.type) == [.consent, .update])
        guard case .update(let u) = try items[1].message() else { Issue.record("not an UPDATE"); return }
        #expect(u.iin == s.iin && u.reason.contains("scars after burns") && u.record.views.count == 10)
        #expect(submitted.sequenceNumbers.count == 2)
    }

    @Test func refusedCaseWritesNothingToTheOutbox() throws {
        let minor = CaptureFixtures.subject(CaptureFixtures.iin(born: .init(year: 2010, month: 1, day: 1)))
        #expect(throws: RuleViolation.self) { try desk.submit(enrollmentCase(minor)) }
        #expect(try desk.outbox.items().isEmpty)
    }

    @Test func exceptionsTravelWithTheEnrollmentAndMissingFingersAreLeftOut() throws {
        let s = CaptureFixtures.subject()
        let ex = [FingerException(position: .leftLittle, kind: .missing, reason: "amputated 2019")]
        let submitted = try desk.submit(enrollmentCase(s, captured: CaptureFixtures.tenTemplates(except: [.leftLittle]), exceptions: ex))
        #expect(submitted.exceptions == ex)
        let items = try desk.outbox.items()
        guard case .enroll(let e) = try items[1].message() else { Issue.record("not an ENROLL"); return }
        #expect(e.record.views.count == 9 && e.record.view(for: .leftLittle) == nil)
        #expect(items[1].label.contains("left little: missing (amputated 2019)"))
        // The station's journal records which fingers are missing and why [BIO 7].
        let journal = try desk.outbox.journal(iin: s.iin)
        #expect(journal.count == 1 && journal[0].exceptions == ex && journal[0].fingers.count == 9 && journal[0].kind == "new")
    }

    @Test func reenrollmentCannotReuseTheConsentOfTheFirstEnrollmentAtThisStation() throws {
        let s = CaptureFixtures.subject()
        let first = consent(s)
        _ = try desk.submit(EnrollmentCase(subject: s, consent: first, captured: CaptureFixtures.tenTemplates()))
        // Same consent again for the re-enrollment: found in the journal, refused.
        #expect(throws: RuleViolation.reenrollmentConsentReused) {
            try desk.submit(EnrollmentCase(subject: s, kind: .reenrollment(reason: "scars"), consent: first,
                                           captured: CaptureFixtures.tenTemplates()))
        }
        _ = try desk.submit(EnrollmentCase(subject: s, kind: .reenrollment(reason: "scars"), consent: consent(s),
                                           captured: CaptureFixtures.tenTemplates()))
        #expect(try desk.outbox.journal(iin: s.iin).map(\.kind) == ["new", "re-enrollment: scars"])
    }

    @Test func revocationAndDeletionAreQueuedSameDay() throws {
        let s = CaptureFixtures.subject()
        let revocation = ConsentRevocation(subjectIIN: s.iin, subjectName: s.name, date: CaptureFixtures.today,
                                           operatorEmployee: "A. Operator", branch: "branch 3", station: "station-17",
                                           formReference: "R-3/2026/9", deleteData: true)
        try desk.revokeConsent(revocation)
        let items = try desk.outbox.items()
        #expect(items.map(\.type) == [.consent, .delete])
        guard case .consent(let c) = try items[0].message() else { Issue.record("not CONSENT"); return }
        #expect(c.action == .revoked)
        #expect(CaptureFixtures.station.publicKey.isValidSignature(c.signature, for: c.document))
        #expect(try desk.outbox.consents(iin: s.iin).count == 1)
    }
}
