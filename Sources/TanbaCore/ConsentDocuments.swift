import Foundation

/// The written consent to collect, process and store biometric data [BIO 3, appendix] with
/// the details the personal-data law asks for [PD 8.4]. The station signs its canonical JSON
/// with its Ed25519 envelope key, keeps it, and sends it to the cluster (CONSENT 0x0A) ahead
/// of the enrollment it covers; the coordinator verifies the signature and keeps the document
/// sealed with the person. The operator carries the burden of proof [PD 8.3].
///
/// In TanbaCore because both ends read it: the station writes it, the coordinator checks it
/// (no dependency between the two modules).
public struct ConsentRecord: Sendable, Codable, Equatable {
    public var id: String
    /// Operator: the organisation (name, BIN) and the employee who accepted the form.
    public var operatorOrganisation: String
    public var operatorBIN: String
    public var operatorEmployee: String
    public var branch: String
    public var station: String
    public var subjectName: String
    public var subjectIIN: String
    public var subjectBirthDate: String
    /// Calendar date of consent in Astana (YYYY-MM-DD).
    public var date: String
    /// Term of consent, e.g. "until revoked" or "5 years" (`ConsentTerm`).
    public var term: String
    public var thirdPartyTransfer: Bool
    public var crossBorderTransfer: Bool
    public var publication: Bool
    /// Reference of the signed paper (or state-service) form.
    public var formReference: String
    public var purpose: String
    /// Set when a guardian consented on behalf of an incapable person [BIO 5].
    public var guardianIIN: String?
    public var guardianApplication: String?
    /// The facts the age and capacity rules need at the coordinator [BIO 4, 5], [DACT 5].
    /// Optional so documents signed before they were added still decode; absent, the
    /// coordinator applies the strictest reading (a citizen: 18 and over).
    public var citizenship: String?
    public var declaredIncapable: Bool?
    public var guardianName: String?

    public init(id: String = UUID().uuidString.lowercased(), operatorOrganisation: String = "NAO Government for Citizens",
                operatorBIN: String = "", operatorEmployee: String, branch: String, station: String,
                subjectName: String, subjectIIN: IIN, date: IIN.BirthDate, term: String = "until revoked",
                thirdPartyTransfer: Bool = false, crossBorderTransfer: Bool = false, publication: Bool = false,
                formReference: String, purpose: EnrollmentPurpose = .publicServices, guardian: Guardian? = nil,
                citizenship: Subject.Citizenship? = nil, declaredIncapable: Bool? = nil) {
        self.id = id
        self.operatorOrganisation = operatorOrganisation
        self.operatorBIN = operatorBIN
        self.operatorEmployee = operatorEmployee
        self.branch = branch
        self.station = station
        self.subjectName = subjectName
        self.subjectIIN = subjectIIN.digits
        self.subjectBirthDate = subjectIIN.birthDate.description
        self.date = date.description
        self.term = term
        self.thirdPartyTransfer = thirdPartyTransfer
        self.crossBorderTransfer = crossBorderTransfer
        self.publication = publication
        self.formReference = formReference
        self.purpose = purpose.rawValue
        self.guardianIIN = guardian?.iin.digits
        self.guardianApplication = guardian?.applicationNumber
        self.guardianName = guardian?.name
        self.citizenship = citizenship?.rawValue
        self.declaredIncapable = declaredIncapable
    }

    /// Sorted-key JSON: the exact bytes that are signed.
    public func canonicalJSON() -> [UInt8] { ConsentJSON.canonical(self) }

    /// The record's date as a calendar date (nil if it is not YYYY-MM-DD).
    public var calendarDate: IIN.BirthDate? { IIN.BirthDate(iso: date) }

    /// The person as the consent describes them, for the age and capacity rules. The
    /// identity document is checked at the branch and is not part of the consent.
    public func subject() throws(RuleViolation) -> Subject {
        guard let iin = try? IIN(subjectIIN) else { throw .consentForAnotherPerson(consentIIN: subjectIIN) }
        var guardian: Guardian? = nil
        if let g = guardianIIN, let giin = try? IIN(g) {
            guardian = Guardian(name: guardianName ?? "", iin: giin, applicationNumber: guardianApplication ?? "")
        }
        return Subject(name: subjectName, iin: iin,
                       citizenship: citizenship.flatMap(Subject.Citizenship.init(rawValue:)) ?? .citizen,
                       documentNumber: "", declaredIncapable: declaredIncapable ?? (guardianIIN != nil), guardian: guardian)
    }
}

/// A revocation of consent [PD 8], filed at any branch; optionally with a deletion request
/// [BIO 11] (sent as DELETE the same day).
public struct ConsentRevocation: Sendable, Codable, Equatable {
    public var id: String
    public var subjectIIN: String
    public var subjectName: String
    public var date: String
    public var operatorEmployee: String
    public var branch: String
    public var station: String
    public var formReference: String
    /// Filed by a legal representative or guardian rather than the subject.
    public var filedBy: String?
    public var deleteData: Bool

    public init(id: String = UUID().uuidString.lowercased(), subjectIIN: IIN, subjectName: String, date: IIN.BirthDate,
                operatorEmployee: String, branch: String, station: String, formReference: String,
                filedBy: String? = nil, deleteData: Bool) {
        self.id = id
        self.subjectIIN = subjectIIN.digits
        self.subjectName = subjectName
        self.date = date.description
        self.operatorEmployee = operatorEmployee
        self.branch = branch
        self.station = station
        self.formReference = formReference
        self.filedBy = filedBy
        self.deleteData = deleteData
    }

    public func canonicalJSON() -> [UInt8] { ConsentJSON.canonical(self) }
}

enum ConsentJSON {
    static func canonical<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Plain strings, booleans and optionals: encoding cannot fail.
        return Array(try! encoder.encode(value))
    }
}

/// The term written on a consent form, and the day it ends.
///
/// Accepted forms (case-insensitive): "until revoked", "indefinite", "N year(s)",
/// "N month(s)", "until YYYY-MM-DD". Anything else is refused when the consent arrives,
/// so that a term nobody can evaluate never covers an enrollment.
public enum ConsentTerm: Equatable, Sendable {
    case untilRevoked
    case years(Int)
    case months(Int)
    case until(IIN.BirthDate)

    public init(_ text: String) throws(RuleViolation) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "until revoked" || t == "indefinite" { self = .untilRevoked; return }
        if t.hasPrefix("until "), let date = IIN.BirthDate(iso: String(t.dropFirst(6))) { self = .until(date); return }
        let parts = t.split(separator: " ")
        if parts.count == 2, let n = Int(parts[0]), n > 0 {
            switch parts[1] {
            case "year", "years": self = .years(n); return
            case "month", "months": self = .months(n); return
            default: break
            }
        }
        throw .consentTermUnreadable(text)
    }

    /// The last day the consent covers (nil: no end): the same calendar day N months or
    /// years after it was given (the month's last day when that day does not exist).
    public func lastDay(from given: IIN.BirthDate) -> IIN.BirthDate? {
        switch self {
        case .untilRevoked: return nil
        case .until(let date): return date
        case .years(let n): return given.adding(months: 12 * n)
        case .months(let n): return given.adding(months: n)
        }
    }
}

extension IIN.BirthDate {
    /// Parses YYYY-MM-DD (a real calendar date).
    public init?(iso text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...IIN.BirthDate.days(inMonth: m, year: y)).contains(d) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    static func days(inMonth m: Int, year y: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The date `months` calendar months later, clamped to that month's last day.
    public func adding(months: Int) -> IIN.BirthDate {
        let total = year * 12 + (month - 1) + months
        let y = total / 12, m = total % 12 + 1
        return IIN.BirthDate(year: y, month: m, day: min(day, IIN.BirthDate.days(inMonth: m, year: y)))
    }
}
