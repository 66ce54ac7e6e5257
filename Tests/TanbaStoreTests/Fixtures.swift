import TanbaSQLite
import Foundation
import TanbaCore
import TanbaTestSupport
@testable import TanbaStore

enum Fixtures {
    static let operatorActor = Actor(login: "op-0042", role: "operator", basis: "BIO 3 consent")
    static let master = try! MasterKey.parse("k2026a:" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString())

    static func iin(_ serial: Int) -> IIN {
        var s = serial
        while true {
            if let iin = IIN.make(birthDate: .init(year: 1985, month: 6, day: 15), sex: .female, serial: s) { return iin }
            s += 1
        }
    }

    static func name(_ serial: Int) -> String { "Айгерим Нурланқызы Сериккызы-\(serial)" }

    static func template(_ position: FingerPosition, seed: UInt64) -> FingerTemplate {
        var rng = SplitMix64(seed: seed)
        let minutiae = (0..<40).map { _ in
            Minutia(x: UInt16(rng.next() % 400), y: UInt16(rng.next() % 500), angle: rng.byte(),
                    kind: rng.next() % 2 == 0 ? .ridgeEnding : .bifurcation, quality: UInt8(rng.next() % 100))
        }
        return FingerTemplate(position: position, width: 416, height: 560, quality: 77, minutiae: minutiae)
    }

    static func enrollment(seed: UInt64, fingers: [FingerPosition] = Array(FingerPosition.tenPrint.prefix(9)),
                           missing: [MissingFinger] = [MissingFinger(position: .leftLittle, reason: "open wound")]) -> Enrollment {
        Enrollment(record: FingerprintRecord(views: fingers.map { template($0, seed: seed &* 31 &+ UInt64($0.rawValue)) },
                                             captureDeviceID: 0x1234),
                   missing: missing,
                   capture: CaptureInfo(branch: "Astana-Esil-3", station: "st-07", operatorLogin: "op-0042",
                                        device: "scanner-SN-998", capturedAt: "2026-11-21T10:00:00.000+05:00"))
    }

    static func consent() -> Consent {
        Consent(operatorName: "Government for Citizens", operatorBIN: "021240001789", term: "indefinite",
                signedAt: "2026-11-21T09:55:00.000+05:00", signatureReference: "doc-7781", acceptedBy: "op-0042")
    }

    /// Opens a store in `dir` and enrolls persons with serials `serials`.
    static func store(in dir: TempDir, master: MasterKey = Fixtures.master, serials: Range<Int> = 0..<0) throws -> Store {
        let store = try Store(path: dir.path("store.db"), master: master)
        for s in serials {
            let iin = iin(s)
            try store.enroll(PersonIdentity(fullName: name(s), iin: iin), iin: iin,
                             enrollment: enrollment(seed: UInt64(s)), consent: consent(), by: operatorActor)
        }
        return store
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { h in
            while i <= last {
                if h[i] == first && Array(h[i..<(i + needle.count)]) == needle { return true }
                i += 1
            }
            return false
        }
    }

    static func fileBytes(_ path: String) -> [UInt8] {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
    }
}
