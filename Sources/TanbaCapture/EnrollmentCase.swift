import Foundation
import TanbaCore

/// New enrollment, or re-enrollment after irreversible damage to the patterns [BIO 8, 9].
public enum EnrollmentKind: Sendable, Codable, Equatable {
    case new
    /// Sent as UPDATE: the cluster archives the old record. `reason` names the damage.
    case reenrollment(reason: String)
}

/// A ten-print ready to check and send: captured templates plus recorded exceptions.
public struct EnrollmentCase: Sendable {
    public var subject: Subject
    public var purpose: EnrollmentPurpose
    public var kind: EnrollmentKind
    public var consent: SignedConsent?
    public var captured: [FingerTemplate]
    public var exceptions: [FingerException]
    /// ID of the consent used for the person's previous enrollment (for re-enrollment).
    public var previousConsentID: String?

    public init(subject: Subject, purpose: EnrollmentPurpose = .publicServices, kind: EnrollmentKind = .new,
                consent: SignedConsent?, captured: [FingerTemplate], exceptions: [FingerException] = [],
                previousConsentID: String? = nil) {
        self.subject = subject
        self.purpose = purpose
        self.kind = kind
        self.consent = consent
        self.captured = captured
        self.exceptions = exceptions
        self.previousConsentID = previousConsentID
    }
}

extension EnrollmentRules {
    /// Consent present, for this person, given today, signed by the station (key given).
    public func checkConsent(_ consent: SignedConsent?, for subject: Subject,
                             verifyingKey: ConsentVerifier?) throws(RuleViolation) {
        guard let consent else { throw .consentMissing }
        if consent.record.subjectIIN != subject.iin.digits { throw .consentForAnotherPerson(consentIIN: consent.record.subjectIIN) }
        if consent.record.date != today.description { throw .consentNotFresh(consentDate: consent.record.date, today: today.description) }
        if let verifyingKey, !verifyingKey(consent) { throw .consentSignatureInvalid }
    }

    /// Every rule. Returns the exceptions that go on record with the enrollment.
    @discardableResult
    public func check(_ c: EnrollmentCase, verifyingKey: ConsentVerifier? = nil) throws(RuleViolation) -> [FingerException] {
        try checkSubject(c.subject, purpose: c.purpose)
        try checkConsent(c.consent, for: c.subject, verifyingKey: verifyingKey)
        if case .reenrollment(let reason) = c.kind {
            if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw .reenrollmentReasonMissing }
            if let previous = c.previousConsentID, previous == c.consent?.record.id { throw .reenrollmentConsentReused }
        }
        try checkFingers(captured: c.captured.map(\.position), exceptions: c.exceptions)
        return c.exceptions.sorted { $0.position < $1.position }
    }

}

public typealias ConsentVerifier = @Sendable (SignedConsent) -> Bool
