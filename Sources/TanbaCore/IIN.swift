/// Kazakhstan's Individual Identification Number: 12 digits, `YYMMDD C NNNN K`.
///
/// - `YYMMDD` is the date of birth; `C` encodes century and sex
///   (1/2: 1800s male/female, 3/4: 1900s, 5/6: 2000s);
/// - `NNNN` is a registration serial; `K` is a check digit: the weighted sum of the first
///   eleven digits with weights 1…11 modulo 11; when that gives 10, weights 3…11,1,2 are
///   used; when that too gives 10 the number is never issued.
///
/// Parsing validates all of it, so an `IIN` value is always well-formed. The birth date
/// is what the enrollment age rules use.
public struct IIN: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    public enum Sex: String, Sendable, Codable { case male, female }

    /// Calendar date without time zone (the IIN's date of birth).
    public struct BirthDate: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
        public let year: Int, month: Int, day: Int
        public init(year: Int, month: Int, day: Int) { self.year = year; self.month = month; self.day = day }
        public static func < (a: BirthDate, b: BirthDate) -> Bool {
            (a.year, a.month, a.day) < (b.year, b.month, b.day)
        }
        public var description: String {
            "\(year)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
        }
        /// Full years of age on the given calendar date.
        public func age(on date: BirthDate) -> Int {
            var years = date.year - year
            if (date.month, date.day) < (month, day) { years -= 1 }
            return years
        }
    }

    public let digits: String
    public let birthDate: BirthDate
    public let sex: Sex

    public init(_ text: String) throws(IINError) {
        let trimmed = text.trimmingSpaces
        guard trimmed.utf8.count == 12 else { throw .wrongLength(trimmed.utf8.count) }
        var d = [Int]()
        d.reserveCapacity(12)
        for byte in trimmed.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { throw .notDigits }
            d.append(Int(byte - 0x30))
        }
        guard let check = IIN.checkDigit(d[0..<11]) else { throw .unissuable }
        guard check == d[11] else { throw .checksumMismatch(expected: check, found: d[11]) }

        let yy = d[0] * 10 + d[1], mm = d[2] * 10 + d[3], dd = d[4] * 10 + d[5]
        let century: Int
        switch d[6] {
        case 1, 2: century = 1800
        case 3, 4: century = 1900
        case 5, 6: century = 2000
        default: throw .badCenturyDigit(d[6])
        }
        let year = century + yy
        guard (1...12).contains(mm), dd >= 1, dd <= IIN.daysIn(month: mm, year: year) else {
            throw .invalidBirthDate
        }
        self.digits = trimmed
        self.birthDate = BirthDate(year: year, month: mm, day: dd)
        self.sex = d[6] % 2 == 1 ? .male : .female
    }

    /// Builds a valid IIN from a birth date, sex and serial (for generators and tests).
    /// Returns nil when the combination yields an unissuable check digit.
    public static func make(birthDate: BirthDate, sex: Sex, serial: Int) -> IIN? {
        guard (1800...2099).contains(birthDate.year), (0...9999).contains(serial) else { return nil }
        let centuryDigit = (birthDate.year / 100 - 18) * 2 + (sex == .male ? 1 : 2)
        var d = [birthDate.year % 100 / 10, birthDate.year % 10, birthDate.month / 10, birthDate.month % 10,
                 birthDate.day / 10, birthDate.day % 10, centuryDigit,
                 serial / 1000, serial / 100 % 10, serial / 10 % 10, serial % 10]
        guard let k = checkDigit(d[0..<11]) else { return nil }
        d.append(k)
        return try? IIN(d.map(String.init).joined())
    }

    static func checkDigit(_ d: ArraySlice<Int>) -> Int? {
        var sum = 0
        for (i, v) in d.enumerated() { sum += v * (i + 1) }
        var k = sum % 11
        if k == 10 {
            sum = 0
            for (i, v) in d.enumerated() { sum += v * ((i + 2) % 11 + 1) }
            k = sum % 11
            if k == 10 { return nil }
        }
        return k
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public var description: String { digits }
    public static func < (a: IIN, b: IIN) -> Bool { a.digits < b.digits }

    // Codable as the bare 12-digit string, validated on decode.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(digits)
    }
}

public enum IINError: Error, Equatable, CustomStringConvertible, Sendable {
    case wrongLength(Int)
    case notDigits
    case checksumMismatch(expected: Int, found: Int)
    case unissuable
    case badCenturyDigit(Int)
    case invalidBirthDate

    public var description: String {
        switch self {
        case .wrongLength(let n): return "an IIN has 12 digits, this one has \(n) characters"
        case .notDigits: return "an IIN contains only the digits 0-9"
        case .checksumMismatch(let e, let f): return "IIN check digit is \(f), expected \(e): a digit is mistyped"
        case .unissuable: return "this IIN cannot exist: its check digit is undefined"
        case .badCenturyDigit(let c): return "IIN digit 7 (century and sex) must be 1-6, found \(c)"
        case .invalidBirthDate: return "the IIN's first six digits are not a valid date of birth"
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
