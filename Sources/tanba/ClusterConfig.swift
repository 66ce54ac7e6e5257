import Foundation
import TanbaMatch
import Logging
import Synchronization
import TanbaCluster
import TanbaWire

/// Configuration files of `tanba coordinator`, `tanba worker` and `tanba client` (JSON).
/// Every key is explained in configs/README.md; relative paths are relative to the folder
/// of the config file. Command-line flags override keys.

struct OpsConfig: Codable {
    /// host:port of the ops HTTP endpoint (/healthz, /readyz, /metrics, /cluster).
    var listen: String
    /// Bearer token required for the admin routes (POST /admin/…); nil disables them.
    var adminToken: String?
}

/// The access layer: it decides every IDENTIFY, VERIFY and VIEW_RECORD at the coordinator,
/// checks subject-report requests on the ops endpoint, blocks idle accounts and keeps the
/// incident journal (docs/access.md).
struct AccessConfig: Codable {
    /// The access database (accounts, sessions, incident journal), shared with `tanba access …`.
    var db: String
    /// File with the access key (base64 of 32 bytes, mode 0600).
    var keyFile: String
    /// PEM files of the certification authorities users' certificates must come from.
    var trustedCAs: [String]
    /// JSON file {login: [case numbers]}: the users' proceedings a case is checked against
    /// [LEX 5]; users it does not list are allowed with a note that supervisor reports flag.
    var proceedings: String?
    /// How often the 60-day sweep and the health monitoring for the incident journal run.
    var housekeepingIntervalMs: Int?
    /// Text file of the user agreement in force, sent with every login challenge and signed
    /// at first login [LEX 17]; default: `CoordinatorAccess.defaultAgreement`.
    var agreementFile: String?
    /// The client node whose sessions the ops endpoint's subject routes accept (a bearer
    /// token over HTTP names no node): a login over the wire from this node (its envelope
    /// key in the coordinator's keyring) opens sessions for HTTP use; sessions issued to any
    /// other node are refused there. Default `ops-http`.
    var httpClient: String?
    /// Login challenge limits (docs/access.md "Challenge limits"); defaults 3 / 10 per
    /// account, 10 / 30 per client node.
    var challengeLimits: ChallengeLimitsConfig?
}

struct ChallengeLimitsConfig: Codable {
    /// Unused challenges outstanding for one account at once.
    var outstandingPerAccount: Int?
    /// Challenges issued for one account per minute.
    var perAccountPerMinute: Int?
    /// Unused challenges outstanding for one client node at once.
    var outstandingPerClient: Int?
    /// Challenges issued to one client node per minute.
    var perClientPerMinute: Int?
}

struct PeerConfig: Codable {
    var name: String
    var address: String
}

/// Config types have a default for every key, so a file names only what it changes;
/// `ConfigFile.load` overlays the file on the defaults and checks the required keys.
protocol ConfigDefaults: Codable {
    init()
    static var required: [String] { get }
}

struct CoordinatorConfig: ConfigDefaults {
    static let required = ["listen", "pki", "store", "masterKeyFile"]
    var name: String = "coordinator"
    var listen: String = ""
    var pki: String = ""
    var store: String = ""
    var masterKeyFile: String = ""
    var directory: String?
    var mapFile: String?
    var shards: Int = 16
    var replicas: Int = 2
    var workers: [PeerConfig] = []
    var admins: [String] = []
    /// Nodes allowed to send ADJUDICATE (examiners' workstations).
    var examiners: [String] = []
    var shardDeadlineMs: Int = 2000
    var loadDeadlineMs: Int = 30000
    var defaultFPIR: Double = 0.001
    var verifyFMR: Double = 0.001
    var duplicateThreshold: Float?
    var penetration: Double = 0
    var reconcileIntervalMs: Int = 2000
    var concurrency: Int = 32
    var branch: String = "unknown"
    /// The store's standby `{name, address}` (a `tanba store standby` node); none: the
    /// store is not replicated.
    var standby: PeerConfig?
    /// `sync` (default): ENROLL/UPDATE/DELETE/CONSENT are acknowledged only once the standby
    /// holds them; `async`: the standby is fed in the background and writes never wait.
    var replication: String = "sync"
    /// Asynchronous copies (remote sites), fed in the background.
    var copies: [PeerConfig] = []
    /// How long an acknowledgement waits for the synchronous standby before ERROR 9.
    var syncTimeoutMs: Int = 5000
    /// Entries an asynchronous copy may lag before it is dropped (must be rebuilt).
    var maxBacklog: Int64 = 1_000_000
    var ops: OpsConfig?
    /// Enables `GET /subjects/{iin}/report` on the ops endpoint.
    var access: AccessConfig?
    var logLevel: String = "info"
}

struct WorkerConfig: ConfigDefaults {
    static let required = ["name", "listen", "pki"]
    var name: String = ""
    var listen: String = ""
    var pki: String = ""
    var coordinators: [String] = ["coordinator"]
    var penetration: Double = 0.01
    var minimumShortlist: Int = 24
    var strategy: String = TenPrintSearchOptions.Strategy.fusedPrefilter.rawValue
    var concurrency: Int = 16
    var ops: OpsConfig?
    var logLevel: String = "info"
}

struct ClientConfig: ConfigDefaults {
    static let required = ["coordinator", "pki"]
    var name: String = "station-1"
    var coordinator: String = ""
    var coordinatorName: String = "coordinator"
    var pki: String = ""
    var deadlineMs: Int = 30000
}

enum ConfigFile {
    /// Reads a JSON config; relative paths inside are resolved against the file's folder by
    /// `resolve`.
    static func load<T: ConfigDefaults>(_ type: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("cannot read config \(path)") }
        do {
            guard var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(T())) as? [String: Any],
                  let file = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CommandError("\(path): not a JSON object")
            }
            for key in T.required where (file[key] as? String)?.isEmpty ?? true {
                throw CommandError("\(path): missing key \"\(key)\"")
            }
            for (k, v) in file { merged[k] = v }
            return try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let e as CommandError {
            throw e
        } catch let DecodingError.keyNotFound(key, _) {
            throw CommandError("\(path): missing key \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context) {
            throw CommandError("\(path): wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw CommandError("\(path): \(error)")
        }
    }

    static func resolve(_ path: String, relativeTo config: String) -> String {
        if path.hasPrefix("/") { return path }
        let base = (config as NSString).deletingLastPathComponent
        return base.isEmpty ? path : (base as NSString).appendingPathComponent(path)
    }
}

enum Logs {
    /// Structured logs on standard error: one line per event, ISO-8601 time, level, label,
    /// key=value metadata (swift-log's StreamLogHandler).
    static func bootstrap(level: String) {
        let parsed = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return handler
        }
    }
}

/// Node credentials and peers from a `tanba pki issue` folder.
struct NodeCredentials {
    let identity: NodeIdentity
    let keyring: Keyring
    let tls: TLSCredentials

    init(name: String, pki: String) throws {
        do {
            identity = try DevelopmentPKI.loadIdentity(name: name, directory: pki)
            keyring = try DevelopmentPKI.loadKeyring(directory: pki)
            tls = try DevelopmentPKI.loadTLS(name: name, directory: pki)
        } catch {
            throw CommandError("credentials of \(name) in \(pki): \(error)")
        }
    }

    /// A transport that checks the certificate name of every dialed address.
    func transport(concurrency: Int, names: AddressNames) -> NNGTransport {
        NNGTransport(tls: tls, concurrency: concurrency, serverName: { names.name(for: $0) })
    }
}

/// Address → node name, so a dialer checks that the peer's certificate carries the name of
/// the node it meant to reach.
final class AddressNames: Sendable {
    private let names = Mutex<[String: String]>([:])
    init(_ initial: [String: String] = [:]) { names.withLock { $0 = initial } }
    func set(_ address: String, _ name: String) { names.withLock { $0[address] = name } }
    func name(for address: String) -> String? { names.withLock { $0[address] } }
}
