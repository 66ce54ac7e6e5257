import Foundation
import TanbaCore

/// `configs/station.json`: every key optional (defaults below); command-line flags override.
/// docs/station.md documents each key.
public struct StationConfig: Sendable, Codable, Equatable {
    /// Node name: the station's envelope key is `<pki>/<name>.sign.key`, its TLS pair `<name>.crt/.key`.
    public var name = "station-1"
    public var branch = "unnamed branch"
    public var operatorEmployee = "operator"
    public var operatorOrganisation = "NAO Government for Citizens"
    public var operatorBIN = ""
    public var coordinatorName = "coordinator"
    /// `tls+tcp://host:port` (mutual TLS) in production; `tcp://` only for local tests.
    public var coordinatorAddress = "tls+tcp://127.0.0.1:7400"
    /// Folder with ca.crt, NAME.crt/.key, NAME.sign.key and the trusted peers' *.sign.pub.
    public var pki = "pki/nodes"
    public var outbox = "station-outbox.db"
    /// Scanner: "libfprint" (first capture device, or `scannerDriver`), "virtual"
    /// (libfprint's virtual_image device fed with synthetic fingers), or "files".
    public var scanner = "libfprint"
    public var scannerDriver: String?
    public var scannerIndex = 0
    /// Resolution assumed when a device or image does not report one.
    public var dpi = 500.0
    /// Seed of the synthetic persons shown to the virtual scanner.
    public var virtualSeed: UInt64 = 1
    /// Below this quality (0–100) the operator retries or records an exception.
    public var minimumQuality = 40
    public var maximumAttempts = 3
    public var retryInitialMilliseconds: Int64 = 500
    public var retryMaximumMilliseconds: Int64 = 30_000
    public var requestTimeoutSeconds = 10.0
    /// How long `enroll` waits to see its requests delivered before leaving them queued.
    public var sendWaitSeconds = 30.0
    /// "none" (default): images never leave the station's memory. "encrypted": each captured
    /// image is also written to `imageExportDirectory`, sealed with AES-256-GCM under the key in `imageExportKeyFile`.
    public var imageExport = "none"
    public var imageExportDirectory: String?
    public var imageExportKeyFile: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case name, branch, operatorEmployee, operatorOrganisation, operatorBIN, coordinatorName, coordinatorAddress, pki, outbox
        case scanner, scannerDriver, scannerIndex, dpi, virtualSeed, minimumQuality, maximumAttempts
        case retryInitialMilliseconds, retryMaximumMilliseconds, requestTimeoutSeconds, sendWaitSeconds
        case imageExport, imageExportDirectory, imageExportKeyFile
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = StationConfig()
        func take<T: Decodable>(_ key: CodingKeys, _ into: inout T) throws { if let v = try c.decodeIfPresent(T.self, forKey: key) { into = v } }
        try take(.name, &d.name); try take(.branch, &d.branch); try take(.operatorEmployee, &d.operatorEmployee)
        try take(.operatorOrganisation, &d.operatorOrganisation); try take(.operatorBIN, &d.operatorBIN)
        try take(.coordinatorName, &d.coordinatorName); try take(.coordinatorAddress, &d.coordinatorAddress)
        try take(.pki, &d.pki); try take(.outbox, &d.outbox); try take(.scanner, &d.scanner)
        d.scannerDriver = try c.decodeIfPresent(String.self, forKey: .scannerDriver)
        try take(.scannerIndex, &d.scannerIndex); try take(.dpi, &d.dpi); try take(.virtualSeed, &d.virtualSeed)
        try take(.minimumQuality, &d.minimumQuality); try take(.maximumAttempts, &d.maximumAttempts)
        try take(.retryInitialMilliseconds, &d.retryInitialMilliseconds); try take(.retryMaximumMilliseconds, &d.retryMaximumMilliseconds)
        try take(.requestTimeoutSeconds, &d.requestTimeoutSeconds); try take(.sendWaitSeconds, &d.sendWaitSeconds)
        try take(.imageExport, &d.imageExport)
        d.imageExportDirectory = try c.decodeIfPresent(String.self, forKey: .imageExportDirectory)
        d.imageExportKeyFile = try c.decodeIfPresent(String.self, forKey: .imageExportKeyFile)
        self = d
        try validate()
    }

    public static func load(path: String) throws -> StationConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StationConfigError("cannot read station config \(path)")
        }
        do { return try JSONDecoder().decode(StationConfig.self, from: data) } catch let e as StationConfigError { throw e } catch {
            throw StationConfigError("\(path): \(error)")
        }
    }

    public func validate() throws {
        guard ["libfprint", "virtual", "files"].contains(scanner) else {
            throw StationConfigError("scanner must be libfprint, virtual or files, not \(scanner)")
        }
        guard (0...100).contains(minimumQuality) else { throw StationConfigError("minimumQuality must be 0–100") }
        guard (1...10).contains(maximumAttempts) else { throw StationConfigError("maximumAttempts must be 1–10") }
        switch imageExport {
        case "none": break
        case "encrypted":
            guard imageExportDirectory != nil, imageExportKeyFile != nil else {
                throw StationConfigError("imageExport \"encrypted\" needs imageExportDirectory and imageExportKeyFile")
            }
        default:
            throw StationConfigError("imageExport must be \"none\" or \"encrypted\" (images never leave the station unencrypted)")
        }
    }
}

public struct StationConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension FingerPosition {
    /// "right-thumb" … "left-little", as request files and flags name fingers.
    public var slug: String { displayName.lowercased().replacingOccurrences(of: " ", with: "-") }

    public init?(slug: String) {
        let s = slug.lowercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: " ", with: "-")
        if let n = Int(s), let p = FingerPosition(rawValue: UInt8(clamping: n)), p != .unknown { self = p; return }
        guard let p = FingerPosition.tenPrint.first(where: { $0.slug == s }) else { return nil }
        self = p
    }
}
