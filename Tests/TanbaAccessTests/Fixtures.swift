import Crypto
import Foundation
import TanbaCore
@testable import TanbaAccess

final class TempDir {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-access-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A clock the test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var date: Date
    init(_ date: Date) { self.date = date }
    var now: Date { lock.lock(); defer { lock.unlock() }; return date }
    func advance(_ seconds: TimeInterval) { lock.lock(); date += seconds; lock.unlock() }
    func set(_ d: Date) { lock.lock(); date = d; lock.unlock() }
    var clock: AccessClock { AccessClock { self.now } }
}

enum AccessFixtures {
    /// 2026-11-21 10:00 Astana.
    static let start = Date(timeIntervalSince1970: 1_795_237_200)
    static var key: SymmetricKey { SymmetricKey(data: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }) }

    static func iin(_ serial: Int) -> IIN {
        var s = serial
        while true {
            if let iin = IIN.make(birthDate: .init(year: 1988, month: 3, day: 9), sex: .male, serial: s) { return iin }
            s += 1
        }
    }

    static func applicant(_ serial: Int, position: String = "senior investigator") -> Applicant {
        Applicant(fullName: "Ерлан Маратұлы Исаев-\(serial)", iin: iin(serial), organisation: "Police Department of Astana",
                  unit: "Investigations, Esil district", position: position, contacts: "+7 701 000 00 \(serial % 100)")
    }

    /// A registry with an approved, active account `login`.
    static func registry(in dir: TempDir, clock: TestClock, logins: [(String, Role)] = [("inv-8", .investigatorPolice)]) throws -> AccountRegistry {
        let registry = try AccountRegistry(path: dir.path("access.db"), key: key, clock: clock.clock)
        for (i, (login, role)) in logins.enumerated() {
            let id = try registry.submit(AccountApplication(login: login, role: role, action: .register,
                                                            applicant: applicant(i), reason: "assigned to case work"))
            try registry.approve(id, by: "sp-1")
        }
        return registry
    }
}
