import Testing
@testable import TanbaCore

@Suite struct IINTests {
    @Test func validIINDecodesBirthDateAndSex() throws {
        // 900101 3 0001 K: born 1 Jan 1990, male; check digit computed by the rule itself.
        let iin = try #require(IIN.make(birthDate: .init(year: 1990, month: 1, day: 1), sex: .male, serial: 1))
        #expect(iin.digits.hasPrefix("9001013"))
        let parsed = try IIN(iin.digits)
        #expect(parsed.birthDate == IIN.BirthDate(year: 1990, month: 1, day: 1))
        #expect(parsed.sex == .male)
    }

    @Test func knownPublishedExample() throws {
        // Weights 1..11 over 8703154 0001: 8+14+0+12+5+30+28+0+0+0+11 = 108, 108 mod 11 = 9.
        let iin = try IIN("870315400019")
        #expect(iin.birthDate == .init(year: 1987, month: 3, day: 15))
        #expect(iin.sex == .female)
    }

    @Test func secondWeightSetIsUsedWhenFirstGivesTen() throws {
        // Find a prefix whose first checksum is 10 and verify the second weight set applies.
        var found = false
        for serial in 0..<2000 {
            let d = [0, 5, 0, 6, 0, 7, 5, serial / 1000, serial / 100 % 10, serial / 10 % 10, serial % 10]
            let first = d.enumerated().reduce(0) { $0 + $1.element * ($1.offset + 1) } % 11
            guard first == 10 else { continue }
            let second = d.enumerated().reduce(0) { $0 + $1.element * (($1.offset + 2) % 11 + 1) } % 11
            let text = d.map(String.init).joined() + (second == 10 ? "0" : String(second))
            if second == 10 {
                #expect(throws: IINError.unissuable) { try IIN(text) }
            } else {
                #expect(try IIN(text).birthDate == .init(year: 2005, month: 6, day: 7))
                found = true
            }
        }
        #expect(found)
    }

    @Test func rejectsMalformedInput() {
        #expect(throws: IINError.wrongLength(11)) { try IIN("87031540001") }
        #expect(throws: IINError.notDigits) { try IIN("8703154000X3") }
        #expect(throws: IINError.checksumMismatch(expected: 9, found: 4)) { try IIN("870315400014") }
        #expect(throws: IINError.invalidBirthDate) { try IIN(IINTests.withCheck("87023140001")) }
        #expect(throws: IINError.badCenturyDigit(7)) { try IIN(IINTests.withCheck("87031570001")) }
    }

    @Test func ageCountsFullYears() throws {
        let b = IIN.BirthDate(year: 2008, month: 11, day: 22)
        #expect(b.age(on: .init(year: 2026, month: 11, day: 21)) == 17)
        #expect(b.age(on: .init(year: 2026, month: 11, day: 22)) == 18)
        #expect(IIN.BirthDate(year: 2004, month: 2, day: 29).age(on: .init(year: 2022, month: 2, day: 28)) == 17)
    }

    @Test func leapDayIsAcceptedOnlyInLeapYears() throws {
        #expect(IIN.make(birthDate: .init(year: 2000, month: 2, day: 29), sex: .female, serial: 12) != nil
                || IIN.make(birthDate: .init(year: 2000, month: 2, day: 29), sex: .female, serial: 13) != nil)
        #expect(throws: IINError.invalidBirthDate) { try IIN(IINTests.withCheck("01022950001")) }
    }

    /// Appends the check digit so that only the field under test is wrong.
    static func withCheck(_ eleven: String) -> String {
        let d = eleven.utf8.map { Int($0 - 48) }
        return eleven + String(IIN.checkDigit(d[0..<11]) ?? 0)
    }
}
