import Foundation

/// Who is being enrolled, as the operator identified them from an identity document.
public struct Subject: Sendable, Codable, Equatable {
    public enum Citizenship: String, Sendable, Codable, CaseIterable { case citizen, foreigner, stateless }
    public enum DocumentType: String, Sendable, Codable, CaseIterable {
        case idCard = "id-card", passport, residencePermit = "residence-permit", statelessCertificate = "stateless-certificate"
        case travelDocument = "travel-document"
    }
    public var name: String
    public var iin: IIN
    public var citizenship: Citizenship
    public var documentType: DocumentType
    public var documentNumber: String
    /// Declared legally incapable or of limited capacity by a court [BIO 5].
    public var declaredIncapable: Bool
    public var guardian: Guardian?

    public init(name: String, iin: IIN, citizenship: Citizenship = .citizen, documentType: DocumentType = .idCard,
                documentNumber: String, declaredIncapable: Bool = false, guardian: Guardian? = nil) {
        self.name = name
        self.iin = iin
        self.citizenship = citizenship
        self.documentType = documentType
        self.documentNumber = documentNumber
        self.declaredIncapable = declaredIncapable
        self.guardian = guardian
    }
}

/// The guardian present at the enrollment of an incapable person, and their written application.
public struct Guardian: Sendable, Codable, Equatable {
    public var name: String
    public var iin: IIN
    public var applicationNumber: String
    public init(name: String, iin: IIN, applicationNumber: String) {
        self.name = name
        self.iin = iin
        self.applicationNumber = applicationNumber
    }
}

/// Why the person is being fingerprinted; it decides the minimum age.
public enum EnrollmentPurpose: String, Sendable, Codable, CaseIterable {
    /// Voluntary enrollment for public services [BIO 4]: 18 and over.
    case publicServices = "public-services"
    /// A foreigner's or stateless person's travel document issued, restored or replaced [DACT 5]: 16 and over.
    case travelDocument = "travel-document"
}

/// A finger that is not captured, and why [BIO 7].
public struct FingerException: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case missing, bandaged, wound, deformed, noPattern = "no-pattern"
        /// Missing or without papillary pattern: counts towards the "no finger at all" refusal [BIO 10].
        public var meansNoPattern: Bool { self == .missing || self == .noPattern }
    }
    public var position: FingerPosition
    public var kind: Kind
    public var reason: String
    public init(position: FingerPosition, kind: Kind, reason: String) {
        self.position = position
        self.kind = kind
        self.reason = reason
    }
}

/// One refused rule, with the message the operator sees.
public enum RuleViolation: Error, Sendable, Equatable, CustomStringConvertible {
    case underage(age: Int, minimum: Int, purpose: EnrollmentPurpose)
    case purposeNotForCitizens
    case guardianRequired
    case guardianIsSubject
    case guardianUnderage(age: Int)
    case guardianApplicationMissing
    case consentMissing
    case consentForAnotherPerson(consentIIN: String)
    case consentNotFresh(consentDate: String, today: String)
    case consentSignatureInvalid
    case fingerNotAccountedFor(FingerPosition)
    case fingerBothCapturedAndExcepted(FingerPosition)
    case exceptionWithoutReason(FingerPosition)
    case fingerNotOfTenPrint
    case noFingerWithPattern
    case nothingCaptured
    case reenrollmentReasonMissing
    case reenrollmentConsentReused
    case subjectNameMissing
    case documentNumberMissing
    /// The latest consent on record for the person is a revocation [PD 8].
    case consentRevoked(on: String)
    /// The consent's term ended before the enrollment [PD 8.4].
    case consentExpired(term: String, lastDay: String)
    case consentTermUnreadable(String)

    public var description: String {
        switch self {
        case .underage(let age, let minimum, let purpose):
            return "refused: the person is \(age); enrollment for \(purpose == .publicServices ? "public services" : "a travel document") is from age \(minimum) [\(purpose == .publicServices ? "BIO 4" : "DACT 5")]"
        case .purposeNotForCitizens:
            return "refused: enrollment for a travel document at 16 applies to foreigners and stateless persons only [DACT 5]; citizens enroll for public services from 18"
        case .guardianRequired:
            return "refused: a person declared incapable is enrolled only with the guardian present and on the guardian's written application [BIO 5]"
        case .guardianIsSubject: return "refused: the guardian cannot be the person being enrolled"
        case .guardianUnderage(let age): return "refused: the guardian is \(age); a guardian must be an adult"
        case .guardianApplicationMissing: return "refused: the guardian's written application number is required [BIO 5]"
        case .consentMissing: return "refused: no written consent recorded [BIO 3]"
        case .consentForAnotherPerson(let iin): return "refused: the consent was given by IIN \(iin), not by the person being enrolled"
        case .consentNotFresh(let date, let today):
            return "refused: the consent is dated \(date); enrollment needs consent given today (\(today))"
        case .consentSignatureInvalid: return "refused: the consent record's station signature does not verify"
        case .fingerNotAccountedFor(let p):
            return "refused: \(p.displayName) is neither captured nor recorded as an exception; all ten fingers are captured unless excepted [BIO 6, 7]"
        case .fingerBothCapturedAndExcepted(let p): return "refused: \(p.displayName) is both captured and recorded as an exception"
        case .exceptionWithoutReason(let p): return "refused: the exception for \(p.displayName) needs a reason [BIO 7]"
        case .fingerNotOfTenPrint: return "refused: a finger position is not one of the ten fingers"
        case .noFingerWithPattern:
            return "refused: no enrollment when all fingers are missing or have no papillary pattern [BIO 10]"
        case .nothingCaptured:
            return "refused: no finger could be captured (temporary damage); enroll when the fingers have healed [BIO 7]"
        case .reenrollmentReasonMissing:
            return "refused: re-enrollment needs the irreversible damage described (skin disease, scars) [BIO 8]"
        case .reenrollmentConsentReused:
            return "refused: re-enrollment needs fresh written consent, not the consent of the first enrollment [BIO 8]"
        case .subjectNameMissing: return "refused: the person's full name is required"
        case .documentNumberMissing: return "refused: the identity document's number is required"
        case .consentRevoked(let date): return "refused: the person revoked their consent on \(date); new written consent is needed [PD 8]"
        case .consentExpired(let term, let last):
            return "refused: the consent's term (\(term)) ended on \(last); new written consent is needed [PD 8.4]"
        case .consentTermUnreadable(let term):
            return "refused: the consent's term \"\(term)\" is not one of: until revoked, N years, N months, until YYYY-MM-DD"
        }
    }
}

/// The enrollment rules of REQUIREMENTS.md §2 ([BIO], [DACT]). `today` is the calendar date
/// in Astana (injected clock, so tests can pin birthdays).
///
/// Pure domain logic in TanbaCore, so the capture station and the coordinator apply the
/// very same rules (the station before it queues, the coordinator before it stores) without
/// either depending on the other.
public struct EnrollmentRules: Sendable {
    public var today: IIN.BirthDate
    public init(today: IIN.BirthDate) { self.today = today }

    public init(now: Date) { self.today = EnrollmentRules.astanaDate(now) }

    public static func astanaDate(_ date: Date) -> IIN.BirthDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = AstanaTime.zone
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return IIN.BirthDate(year: c.year!, month: c.month!, day: c.day!)
    }

    public func minimumAge(for subject: Subject, purpose: EnrollmentPurpose) -> Int {
        purpose == .travelDocument && subject.citizenship != .citizen ? 16 : 18
    }

    /// Identity and capacity rules that can be checked before any finger is captured.
    public func checkSubject(_ subject: Subject, purpose: EnrollmentPurpose) throws(RuleViolation) {
        if subject.name.trimmingCharacters(in: .whitespaces).isEmpty { throw .subjectNameMissing }
        if subject.documentNumber.trimmingCharacters(in: .whitespaces).isEmpty { throw .documentNumberMissing }
        try checkPerson(subject, purpose: purpose)
    }

    /// Name, age for the purpose, guardian of an incapable person [BIO 4, 5], [DACT 5]: the
    /// rules the coordinator checks again from the consent on record (it never sees the
    /// identity document, which the branch checks).
    public func checkPerson(_ subject: Subject, purpose: EnrollmentPurpose) throws(RuleViolation) {
        if subject.name.trimmingCharacters(in: .whitespaces).isEmpty { throw .subjectNameMissing }
        if purpose == .travelDocument && subject.citizenship == .citizen { throw .purposeNotForCitizens }
        let minimum = minimumAge(for: subject, purpose: purpose)
        let age = subject.iin.birthDate.age(on: today)
        if age < minimum { throw .underage(age: age, minimum: minimum, purpose: purpose) }
        if subject.declaredIncapable {
            guard let g = subject.guardian else { throw .guardianRequired }
            if g.iin == subject.iin { throw .guardianIsSubject }
            let guardianAge = g.iin.birthDate.age(on: today)
            if guardianAge < 18 { throw .guardianUnderage(age: guardianAge) }
            if g.applicationNumber.trimmingCharacters(in: .whitespaces).isEmpty { throw .guardianApplicationMissing }
        }
    }

    /// All ten accounted for; exceptions with reasons; not all without pattern; something captured.
    public func checkFingers(captured: [FingerPosition], exceptions: [FingerException]) throws(RuleViolation) {
        let ten = Set(FingerPosition.tenPrint)
        let capturedSet = Set(captured)
        for p in captured where !ten.contains(p) { throw .fingerNotOfTenPrint }
        for e in exceptions where !ten.contains(e.position) { throw .fingerNotOfTenPrint }
        for e in exceptions {
            if capturedSet.contains(e.position) { throw .fingerBothCapturedAndExcepted(e.position) }
            if e.reason.trimmingCharacters(in: .whitespaces).isEmpty { throw .exceptionWithoutReason(e.position) }
        }
        let excepted = Set(exceptions.map(\.position))
        for p in FingerPosition.tenPrint where !capturedSet.contains(p) && !excepted.contains(p) {
            throw .fingerNotAccountedFor(p)
        }
        if capturedSet.isEmpty {
            if exceptions.allSatisfy({ $0.kind.meansNoPattern }) { throw .noFingerWithPattern }
            throw .nothingCaptured
        }
    }
}

