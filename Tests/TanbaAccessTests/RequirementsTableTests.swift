import Foundation
import Testing
@testable import TanbaAccess

/// Reads the roles x basis table straight from `../shared/REQUIREMENTS.md` (when the
/// checkout sits beside it) and compares it with `RolesTable`, so an edit of either is caught.
@Suite struct RequirementsTableTests {
    static let url: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/REQUIREMENTS.md")
    static var available: Bool { FileManager.default.fileExists(atPath: url.path) }

    /// The table's row labels → the roles they stand for.
    static let rows: [String: [Role]] = [
        "prosecutor": [.prosecutor],
        "judge": [.judge],
        "investigator (police, national security, financial monitoring)":
            [.investigatorPolice, .investigatorNationalSecurity, .investigatorFinancialMonitoring],
        "inquiry officer (police, national security, emergencies, state guard)":
            [.inquiryOfficerPolice, .inquiryOfficerNationalSecurity, .inquiryOfficerEmergencies, .inquiryOfficerStateGuard],
        "financial-monitoring officer": [.financialMonitoringOfficer],
        "military police officer": [.militaryPoliceOfficer],
        "penitentiary officer": [.penitentiaryOfficer],
        "emergencies officer": [.emergenciesOfficer],
        "national-security officer": [.nationalSecurityOfficer],
        "bailiff": [.bailiff],
        "state-guard officer": [.stateGuardOfficer],
        "administrative police officer": [.administrativePoliceOfficer],
        "criminal police officer": [.criminalPoliceOfficer],
        "duty-unit officer": [.dutyUnitOfficer],
    ]

    @Test(.enabled(if: available, "../shared/REQUIREMENTS.md is absent; table cross-check skipped"))
    func rolesTableMatchesTheRequirementsDocument() throws {
        let text = try String(contentsOf: Self.url, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let header = try #require(lines.firstIndex { $0.hasPrefix("| role | criminal |") })
        let columns: [CaseKind] = [.criminal, .administrative, .administrativeOffence, .civil, .enforcement, .search]
        var seen: [Role] = []
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells.count == 7, "\(line)")
            let roles = try #require(Self.rows[cells[0]], "unknown row '\(cells[0])'")
            for role in roles {
                seen.append(role)
                for (kind, cell) in zip(columns, cells.dropFirst()) {
                    #expect(RolesTable.allows(role, kind) == (cell == "+"), "\(role.rawValue) × \(kind.rawValue)")
                }
            }
        }
        #expect(seen.count == 19 && Set(seen) == Set(Role.authorities))
    }
}
