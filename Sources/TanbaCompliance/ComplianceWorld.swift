import Crypto
import Foundation
import TanbaAccess
import TanbaCore
import TanbaStore
import TanbaWire

/// The state the scenarios run against, all under one directory. The access worlds and
/// stores are fresh per scenario (a scenario must not pass because of what another left
/// behind); the cluster is shared (started once, ~1 s) and each scenario uses persons of
/// its own. Scenarios run one at a time, which is what makes the unlocked lazy cluster safe.
final class ComplianceWorld: @unchecked Sendable {
    let directory: String
    /// The day the scenarios live on (Astana); birthdays are computed from it.
    let today: IIN.BirthDate
    let now: Date
    private var localCluster: LocalCluster?
    /// Clusters of their own for scenarios that move the access clock by days or hours
    /// (moving the shared cluster's clock would end every other scenario's sessions).
    private var ownClusters: [String: LocalCluster] = [:]
    /// Set-ups shared by both halves of a scenario (e.g. the person deleted once, whose
    /// deletion the lawful half checks and whose backup the negative twin restores).
    var memo: [String: Any] = [:]
    private var nextSerial = 0

    init(directory: String, now: Date = Date()) {
        self.directory = directory
        self.now = now
        self.today = Self.astanaDate(now)
    }

    static func astanaDate(_ date: Date) -> IIN.BirthDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = AstanaTime.zone
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return IIN.BirthDate(year: c.year!, month: c.month!, day: c.day!)
    }

    /// A path for a new file or folder of one scenario.
    func path(_ name: String) -> String {
        nextSerial += 1
        return (directory as NSString).appendingPathComponent("\(nextSerial)-\(name)")
    }

    /// A valid IIN born on `birthDate` (serials are consumed so no two persons share one).
    func iin(born birthDate: IIN.BirthDate, sex: IIN.Sex = .female) -> IIN {
        while true {
            nextSerial += 1
            if let iin = IIN.make(birthDate: birthDate, sex: sex, serial: nextSerial) { return iin }
        }
    }

    /// A valid IIN of a person aged `years` today (birthday `daysPastBirthday` days ago;
    /// negative: the birthday is still ahead).
    func iin(age years: Int, daysPastBirthday: Int = 30) -> IIN {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = AstanaTime.zone
        let birthday = calendar.date(byAdding: .year, value: -years, to: now)!
        let born = calendar.date(byAdding: .day, value: -daysPastBirthday, to: birthday)!
        return iin(born: Self.astanaDate(born))
    }

    /// A fresh encrypted store with its own master key.
    func store(_ name: String = "store") throws -> (store: Store, path: String, master: MasterKey) {
        let folder = path(name)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let master = MasterKey.generate(id: "compliance")
        let file = (folder as NSString).appendingPathComponent("store.db")
        return (try Store(path: file, master: master), file, master)
    }

    /// The shared in-process cluster, started on first use.
    func cluster() async throws -> LocalCluster {
        if let localCluster { return localCluster }
        let folder = path("cluster")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // The cluster's access layer knows inv-1's proceedings (LEX-2); other users' cases
        // are allowed with a note that supervisor reports flag.
        let access = try AccessWorld(self, proceedings: StaticProceedings(["inv-1": [AccessScenarios.criminalCase]]))
        let c = try await LocalCluster.start(directory: folder, access: access)
        localCluster = c
        return c
    }

    /// A cluster of `key`'s own, with a fresh access database and clock; started on first
    /// use and shared by the two halves of that scenario.
    func ownCluster(_ key: String) async throws -> LocalCluster {
        if let c = ownClusters[key] { return c }
        let folder = path("cluster-\(key)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let c = try await LocalCluster.start(directory: folder, access: try AccessWorld(self))
        ownClusters[key] = c
        return c
    }

    func shutdown() async {
        await localCluster?.shutdown()
        localCluster = nil
        for c in ownClusters.values { await c.shutdown() }
        ownClusters = [:]
    }
}

/// Person data the store scenarios write: a name in Kazakh Cyrillic (so a plaintext scan
/// looks for real UTF-8), the capture facts, a consent with every [PD 8.4] field.
enum Sample {
    static let operatorActor = Actor(login: "op-0001", role: "branch-operator", basis: "consent")

    static func name(_ iin: IIN) -> String { "Айгерим Нурланқызы Сейткали \(iin.digits.suffix(4))" }

    static func consent(signedAt: String = AstanaTime.now(), reference: String = "form-\(UUID().uuidString.prefix(8))") -> Consent {
        Consent(operatorName: "NAO Government for Citizens", operatorBIN: "021240001789", term: "until revoked",
                thirdPartyTransfer: false, crossBorderTransfer: false, publication: false, signedAt: signedAt,
                signatureReference: reference, acceptedBy: operatorActor.login)
    }

    static func enrollment(_ record: FingerprintRecord, missing: [MissingFinger] = []) -> Enrollment {
        Enrollment(record: record, missing: missing,
                   capture: CaptureInfo(branch: "Astana-Esil-3", station: "station-1", operatorLogin: operatorActor.login,
                                        device: "virtual-scanner"))
    }

    /// `count` distinct positions of the ten-print.
    static func fingers(_ count: Int) -> [FingerPosition] { Array(FingerPosition.tenPrint.prefix(count)) }
}
