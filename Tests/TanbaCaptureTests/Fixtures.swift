import Crypto
import Foundation
import TanbaCore
import TanbaTestSupport
import TanbaWire
@testable import TanbaCapture

enum CaptureFixtures {
    /// The date the tests run "on" (Astana calendar).
    static let today = IIN.BirthDate(year: 2026, month: 11, day: 21)
    static let noon = Date(timeIntervalSince1970: 1_795_237_200) // 2026-11-21T05:00:00Z = 10:00 in Astana

    static func iin(born: IIN.BirthDate, sex: IIN.Sex = .male, serial: Int = 1) -> IIN {
        var s = serial
        while true {
            if let iin = IIN.make(birthDate: born, sex: sex, serial: s) { return iin }
            s += 1
        }
    }

    static let adult = iin(born: .init(year: 1990, month: 3, day: 14), serial: 101)

    static func identity(_ name: String, seed: UInt8) -> NodeIdentity {
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: seed, count: 32))
        return try! NodeIdentity(name: name, signingKey: key)
    }
    static let station = identity("station-17", seed: 17)
    static let coordinator = identity("coordinator", seed: 1)

    static var stationKeyring: Keyring {
        var k = Keyring(); try! k.trust("coordinator", key: coordinator.publicKey); return k
    }
    static var coordinatorKeyring: Keyring {
        var k = Keyring(); try! k.trust("station-17", key: station.publicKey); return k
    }

    static let profile = StationProfile(branch: "Astana, Yesil district, branch 17", operatorEmployee: "A. Operator (IIN 850417400011)")

    static func subject(_ iin: IIN = adult, name: String = "Aigerim Test", citizenship: Subject.Citizenship = .citizen,
                        incapable: Bool = false, guardian: Guardian? = nil) -> Subject {
        Subject(name: name, iin: iin, citizenship: citizenship,
                documentType: citizenship == .citizen ? .idCard : .passport, documentNumber: "N0123456",
                declaredIncapable: incapable, guardian: guardian)
    }

    static func template(_ position: FingerPosition, seed: UInt64 = 1) -> FingerTemplate {
        var rng = SplitMix64(seed: seed &+ UInt64(position.rawValue) &* 7919)
        return FingerTemplate(position: position, width: 400, height: 500, quality: 70, minutiae: (0..<30).map { _ in
            Minutia(x: UInt16(rng.next() % 400), y: UInt16(rng.next() % 500), angle: rng.byte(),
                    kind: rng.next() % 2 == 0 ? .ridgeEnding : .bifurcation, quality: 60)
        })
    }

    static func tenTemplates(except excluded: Set<FingerPosition> = []) -> [FingerTemplate] {
        FingerPosition.tenPrint.filter { !excluded.contains($0) }.map { template($0) }
    }

    static func temporaryPath(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "tanba-capture-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/\(name)-\(UInt32.random(in: 0...UInt32.max))"
        return path
    }
}

/// Runs blocking work (libfprint device calls, extraction, child processes) on its own
/// thread, so that the test does not hold one of the few cooperative-pool threads that the
/// other suites' async networking (nng continuations) needs on a 2-core machine.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
