import ArgumentParser
import Crypto
import Foundation
import Logging
import ServiceLifecycle
import TanbaCluster
import TanbaCore
import TanbaImaging
import TanbaMatch
import TanbaOps
import TanbaReplication
import TanbaCompliance
import TanbaAccess
import TanbaStore
import TanbaSynth
import TanbaWire

// Graceful shutdown uses swift-service-lifecycle: a ServiceGroup runs the node's nng service
// and its ops HTTP server and turns SIGTERM/SIGINT into a graceful shutdown of both (stop
// taking requests, let those in flight answer, close sockets), which a bare signal handler
// would have to re-implement for Hummingbird anyway.

/// The nng side of a node as a ServiceLifecycle service: listen, optionally run a periodic
/// task (the coordinator's reconciliation), and on graceful shutdown drain and close.
struct NodeService: Service {
    let logger: Logger
    let listen: @Sendable () async throws -> any TransportListener
    let periodic: (@Sendable () async -> Void)?
    let interval: Duration
    let onStop: @Sendable () -> Void

    func run() async throws {
        let listener = try await listen()
        logger.info("listening", metadata: ["address": .string(listener.address)])
        if let periodic {
            let interval = self.interval
            try? await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    await periodic()
                    try await Task.sleep(for: interval)
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        logger.info("shutting down: no new requests, answering those in flight")
        await listener.close()
        onStop()
        logger.info("stopped")
    }
}

/// A task run every `interval` until graceful shutdown (the coordinator's access
/// housekeeping: the 60-day sweep and the incident journal's health feed).
struct PeriodicService: Service {
    let interval: Duration
    let body: @Sendable () async -> Void

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await body()
                try await Task.sleep(for: interval)
            }
        }
    }
}

// MARK: tanba coordinator

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: system of record, shard map, scatter-gather over the workers.",
        discussion: "Configuration: configs/coordinator.json (every key in configs/README.md). Stops gracefully on SIGINT/SIGTERM.")

    @Option(help: "Configuration file (JSON).") var config: String
    @Option(help: "Override `listen` (nng address, tls+tcp://HOST:PORT).") var listen: String?
    @Option(help: "Override `ops.listen` (HOST:PORT).") var opsListen: String?
    @Option(help: "Override `logLevel` (trace, debug, info, notice, warning, error, critical).") var logLevel: String?

    func run() async throws {
        var c = try ConfigFile.load(CoordinatorConfig.self, path: config)
        if let listen { c.listen = listen }
        if let opsListen { c.ops = OpsConfig(listen: opsListen, adminToken: c.ops?.adminToken) }
        if let logLevel { c.logLevel = logLevel }
        Logs.bootstrap(level: c.logLevel)
        let logger = Logger(label: "tanba.coordinator")
        let pki = ConfigFile.resolve(c.pki, relativeTo: config)
        let credentials = try NodeCredentials(name: c.name, pki: pki)
        // The store lock is held for the life of the process: `tanba cluster seed` must not
        // write behind our back.
        let files = try CoordinatorFiles(c, configPath: config)
        defer { withExtendedLifetime(files) {} }
        let (store, directory, storePath) = (files.store, files.directory, files.storePath)
        // The directory file is this host's; the store is replicated. On a promoted standby's
        // files (or after losing the file) the list is rebuilt from the store.
        if try directory.count != store.personCount {
            let persons = try directory.rebuild(from: store)
            logger.notice("IIN directory rebuilt from the store", metadata: ["persons": "\(persons)"])
        }
        // The shard map: from the map file when a previous run (or an admin) changed it.
        let mapPath = c.mapFile.map { ConfigFile.resolve($0, relativeTo: config) } ?? storePath + ".map.json"
        var map = ShardMap(shardCount: c.shards, replicas: c.replicas, workers: c.workers.map { ShardMap.Worker(name: $0.name, address: $0.address) })
        if let data = FileManager.default.contents(atPath: mapPath), let saved = try? JSONDecoder().decode(ShardMap.self, from: data) {
            guard saved.shardCount == c.shards else {
                throw CommandError("\(mapPath) has \(saved.shardCount) shards, the config \(c.shards): the shard count is fixed for a gallery")
            }
            map = saved
            logger.info("shard map loaded", metadata: ["file": .string(mapPath), "version": "\(map.version)"])
        }
        let names = AddressNames()
        for w in map.workers { names.set(w.address, w.name) }
        for peer in [c.standby].compactMap({ $0 }) + c.copies { names.set(peer.address, peer.name) }
        let transport = credentials.transport(concurrency: c.concurrency, names: names)
        let caller = SignedCaller(identity: credentials.identity, keyring: credentials.keyring, transport: transport)
        guard ["sync", "async"].contains(c.replication) else {
            throw CommandError("replication must be \"sync\" or \"async\", not \"\(c.replication)\"")
        }
        var replicationOptions = StorePrimary.Options()
        replicationOptions.syncTimeout = .milliseconds(c.syncTimeoutMs)
        replicationOptions.maxBacklog = c.maxBacklog
        let standbyPeer = c.standby.map { StorePrimary.Peer(node: $0.name, address: $0.address) }
        // Asynchronous mode: the standby is one more background copy.
        let asyncPeers = (c.replication == "async" ? [standbyPeer].compactMap { $0 } : [])
            + c.copies.map { StorePrimary.Peer(node: $0.name, address: $0.address) }
        let primary = StorePrimary(store: store, caller: caller, standby: c.replication == "sync" ? standbyPeer : nil,
                                   copies: asyncPeers, options: replicationOptions)
        primary.start()
        var options = Coordinator.Options()
        options.shardDeadline = .milliseconds(c.shardDeadlineMs)
        options.loadDeadline = .milliseconds(c.loadDeadlineMs)
        options.defaultFPIR = c.defaultFPIR
        options.verifyFMR = c.verifyFMR
        options.duplicateThreshold = c.duplicateThreshold
        options.penetration = c.penetration
        options.admins = Set(c.admins)
        options.examiners = Set(c.examiners)
        options.branch = c.branch
        // The access layer decides every authority request at the coordinator.
        let access = try c.access.map { a -> CoordinatorAccess in
            let registry = try AccountRegistry(path: ConfigFile.resolve(a.db, relativeTo: config),
                                               key: AccessKeyFile.load(file: ConfigFile.resolve(a.keyFile, relativeTo: config)))
            let pems = try a.trustedCAs.map { String(decoding: try Output.readFile(ConfigFile.resolve($0, relativeTo: config)), as: UTF8.self) }
            let proceedings = try a.proceedings.map { file -> StaticProceedings in
                let table = try JSONDecoder().decode([String: [String]].self,
                                                     from: Data(try Output.readFile(ConfigFile.resolve(file, relativeTo: config))))
                return StaticProceedings(table.mapValues(Set.init))
            }
            let agreement = try a.agreementFile.map {
                String(decoding: try Output.readFile(ConfigFile.resolve($0, relativeTo: config)), as: UTF8.self)
            } ?? CoordinatorAccess.defaultAgreement
            let d = ChallengeLimits(), l = a.challengeLimits
            let limits = ChallengeLimits(outstandingPerAccount: l?.outstandingPerAccount ?? d.outstandingPerAccount,
                                         perAccountPerWindow: l?.perAccountPerMinute ?? d.perAccountPerWindow,
                                         outstandingPerClient: l?.outstandingPerClient ?? d.outstandingPerClient,
                                         perClientPerWindow: l?.perClientPerMinute ?? d.perClientPerWindow)
            return CoordinatorAccess(
                control: AccessControl(authenticator: Authenticator(registry: registry, trust: try TrustedAuthorities(pems: pems),
                                                                    challengeLimits: limits),
                                       policy: AccessPolicy(proceedings: proceedings)),
                journal: try IncidentJournal(path: ConfigFile.resolve(a.db, relativeTo: config)), agreementText: agreement)
        }
        if access == nil {
            logger.warning("no access section: station requests are not checked against the access policy and requests on an authority's basis are refused (development mode)")
        }
        options.access = access
        let coordinator = Coordinator(
            name: c.name, store: store, directory: directory, map: map,
            caller: caller, options: options, logger: logger, primary: primary,
            persistMap: { map in
                for w in map.workers { names.set(w.address, w.name) }
                if let data = try? JSONEncoder().encode(map) { try? data.write(to: URL(fileURLWithPath: mapPath), options: .atomic) }
            })
        logger.info("coordinator starting", metadata: ["persons": "\(directory.count)", "shards": "\(map.shardCount)",
                                                      "workers": "\(map.workers.map(\.name))",
                                                      "replication": "\(coordinator.replicationStatus.mode.rawValue)",
                                                      "standby": "\(c.standby?.name ?? "none")"])
        // Ship what the standby lacks (writes made while it was down) before serving.
        await coordinator.refreshReplication()
        // With request IDs: answers to writes are kept in the store (durable de-duplication).
        let service = SignedService.withContext(identity: credentials.identity, keyring: credentials.keyring) { context, message in
            await coordinator.handle(context: context, message: message)
        }
        let listenAddress = c.listen
        let node = NodeService(logger: logger, listen: { try await transport.listen(on: listenAddress, handler: service.requestHandler) },
                               periodic: { await coordinator.reconcile() }, interval: .milliseconds(c.reconcileIntervalMs),
                               onStop: { Task { await primary.stop() }; transport.shutdown() })
        var services: [any Service] = [node]
        if access != nil {
            // The 60-day sweep and the incident journal's health feed on a schedule, beside
            // the node under the same service group (stops with it).
            services.append(PeriodicService(interval: .milliseconds(c.access?.housekeepingIntervalMs ?? 300_000)) {
                await coordinator.runAccessHousekeeping()
            })
        }
        if let ops = c.ops {
            let reports = access?.control
            // Only sessions a wire login opened from this client node are accepted over HTTP.
            let httpClient = c.access?.httpClient ?? SubjectReports.defaultHTTPClient
            let endpoint = OpsEndpoint(
                ready: { coordinator.isReady }, metrics: { coordinator.prometheusText() }, cluster: { coordinator.statusDocument() },
                adminToken: ops.adminToken,
                admin: { action, worker, address in
                    let mapping: [String: AdminRequest.Action] = ["add-worker": .addWorker, "remove-worker": .removeWorker,
                                                                  "drain": .drain, "reconcile": .reconcile, "status": .status]
                    guard let a = mapping[action] else { return (404, "{\"error\": \"unknown action \(action)\"}") }
                    if a == .addWorker { names.set(address, worker) }
                    let answer = await coordinator.performAdmin(AdminRequest(action: a, worker: worker, address: address), by: "ops-endpoint")
                    switch answer {
                    case .cluster(.adminAnswer(let doc)): return (200, doc)
                    case .error(let code, let text): return (code == .notFound ? 404 : 409, "{\"error\": \(Output.quoted(text))}")
                    default: return (500, "{\"error\": \"unexpected answer\"}")
                    }
                },
                status: {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    guard let a = try? coordinator.announcements() else { return nil }
                    return String(decoding: (try? encoder.encode(a)) ?? Data(), as: UTF8.self)
                },
                subjectReport: reports.map { control -> @Sendable (String, String, String) async -> (status: Int, body: String) in
                    // A few SQLite reads and one commit, asked for by people at a counter:
                    // rare enough to run on the cooperative pool.
                    { iin, request, session in
                        SubjectReports.answer(store: store, control: control, session: session, iin: iin, request: request,
                                           httpClient: httpClient)
                    }
                },
                subjectExport: reports.map { control -> @Sendable (String, String, String) async -> (status: Int, body: String) in
                    { iin, request, session in
                        SubjectExports.answer(store: store, control: control, session: session, iin: iin, request: request,
                                           httpClient: httpClient)
                    }
                })
            services.append(try endpoint.application(listen: ops.listen, logger: Logger(label: "tanba.ops")))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

// MARK: tanba worker

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a matching worker: holds the shards the coordinator places on it.",
        discussion: "Configuration: configs/worker.json (every key in configs/README.md). Stops gracefully on SIGINT/SIGTERM.")

    @Option(help: "Configuration file (JSON).") var config: String
    @Option(help: "Override `name` (node name; its certificate and keys must be in `pki`).") var name: String?
    @Option(help: "Override `listen` (nng address).") var listen: String?
    @Option(help: "Override `ops.listen` (HOST:PORT).") var opsListen: String?
    @Option(help: "Override `logLevel`.") var logLevel: String?

    func run() async throws {
        var c = try ConfigFile.load(WorkerConfig.self, path: config)
        if let name { c.name = name }
        if let listen { c.listen = listen }
        if let opsListen { c.ops = OpsConfig(listen: opsListen, adminToken: nil) }
        if let logLevel { c.logLevel = logLevel }
        Logs.bootstrap(level: c.logLevel)
        let logger = Logger(label: "tanba.worker")
        let credentials = try NodeCredentials(name: c.name, pki: ConfigFile.resolve(c.pki, relativeTo: config))
        var options = ClusterWorker.Options()
        options.penetration = c.penetration
        options.minimumShortlist = c.minimumShortlist
        guard let strategy = TenPrintSearchOptions.Strategy(rawValue: c.strategy) else {
            throw CommandError("strategy must be one of \(TenPrintSearchOptions.Strategy.allCases.map(\.rawValue))")
        }
        options.strategy = strategy
        let worker = ClusterWorker(name: c.name, coordinators: Set(c.coordinators), options: options, logger: logger)
        let transport = credentials.transport(concurrency: c.concurrency, names: AddressNames())
        let service = SignedService(identity: credentials.identity, keyring: credentials.keyring) { sender, message in
            await worker.handle(sender: sender, message: message)
        }
        let listenAddress = c.listen
        let node = NodeService(logger: logger, listen: { try await transport.listen(on: listenAddress, handler: service.requestHandler) },
                               periodic: nil, interval: .seconds(1), onStop: { transport.shutdown() })
        var services: [any Service] = [node]
        if let ops = c.ops {
            let endpoint = OpsEndpoint(ready: { true }, metrics: { worker.prometheusText() }, cluster: { worker.statusDocument() })
            services.append(try endpoint.application(listen: ops.listen, logger: Logger(label: "tanba.ops")))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

// MARK: tanba client

struct ClientOptions: ParsableArguments {
    @Option(help: "Client configuration file (JSON, configs/client.json).") var config: String
    @Option(help: "Override `name` (the station or admin node name).") var name: String?
    @Option(help: "Override `coordinator` (nng address).") var coordinator: String?

    func caller() throws -> (SignedCaller, ClientConfig, NNGTransport) {
        var c = try ConfigFile.load(ClientConfig.self, path: config)
        if let name { c.name = name }
        if let coordinator { c.coordinator = coordinator }
        let credentials = try NodeCredentials(name: c.name, pki: ConfigFile.resolve(c.pki, relativeTo: config))
        let transport = credentials.transport(concurrency: 8, names: AddressNames([c.coordinator: c.coordinatorName]))
        return (SignedCaller(identity: credentials.identity, keyring: credentials.keyring, transport: transport), c, transport)
    }

    func call(_ message: WireMessage) async throws -> WireMessage {
        try await call([message]).last!
    }

    /// Sends the messages in order over one connection; stops at the first error.
    func call(_ messages: [WireMessage]) async throws -> [WireMessage] {
        let (caller, c, transport) = try caller()
        defer { transport.shutdown() }
        var answers: [WireMessage] = []
        for message in messages {
            do {
                answers.append(try await caller.call(message, to: c.coordinatorName, at: c.coordinator, deadline: .milliseconds(c.deadlineMs)))
            } catch {
                throw CommandError("\(message.type.metricName): \(error)")
            }
        }
        return answers
    }

    /// A consent form for `iin` dated today, signed with this client's envelope key — what
    /// a capture station sends (CONSENT 0x0A) ahead of ENROLL and UPDATE [BIO 3].
    func consent(iin: IIN, consent: ConsentOptions) throws -> WireMessage {
        let (caller, c, transport) = try caller()
        transport.shutdown()
        return try Self.consent(iin: iin, signedBy: caller.identity, name: consent.subjectName, branch: consent.branch,
                                term: consent.term, formReference: consent.formReference, operatorEmployee: c.name)
    }

    static func consent(iin: IIN, signedBy identity: NodeIdentity, name: String? = nil, branch: String = "cli",
                        term: String = "until revoked", formReference: String? = nil, operatorEmployee: String? = nil) throws -> WireMessage {
        let record = ConsentRecord(operatorEmployee: operatorEmployee ?? identity.name, branch: branch, station: identity.name,
                                   subjectName: name ?? "Synthetic person \(iin)", subjectIIN: iin,
                                   date: EnrollmentRules(now: Date()).today, term: term,
                                   formReference: formReference ?? "cli-\(UUID().uuidString.prefix(8))")
        let document = record.canonicalJSON()
        return .consent(ConsentRequest(iin: iin, action: .granted, document: document,
                                       signature: Array(try identity.signingKey.signature(for: document))))
    }
}

/// The written consent `tanba client enroll|update` sends first (unless --no-consent).
struct ConsentOptions: ParsableArguments {
    @Option(help: "The person's full name as on the consent form (default: \"Synthetic person IIN\").") var subjectName: String?
    @Option(help: "Reference of the signed consent form (default: a generated one).") var formReference: String?
    @Option(help: "Term of the consent (until revoked, N years, N months, until YYYY-MM-DD).") var term: String = "until revoked"
    @Option(help: "Branch named on the consent form.") var branch: String = "cli"
    @Flag(help: "Do not send a consent first (the coordinator then needs one on record already).") var noConsent = false
}

/// Fingers given on the command line: template or image files, or a synthetic person.
struct FingerInput: ParsableArguments {
    @Argument(help: "Template (ISO, ANSI, native) or image files; prefix POS= to set the finger position 1-10 (e.g. 2=index.png).")
    var files: [String] = []
    @Option(help: "Resolution of images that do not state it.") var dpi: Double?
    @Option(help: "Use synthetic person N's fingers instead of files (tanba synth's template generator).") var syntheticPerson: Int?
    @Option(help: "Impression of the synthetic person (0 is the one `loadtest` enrolls).") var impression: Int = 0
    @Option(help: "Number of synthetic fingers (1-10).") var fingers: Int = 10
    @Option(name: .customLong("exception"),
            help: "A finger not captured: POS=KIND:REASON, KIND one of missing, bandaged, wound, deformed, no-pattern (repeatable) [BIO 7].")
    var exceptionArguments: [String] = []
    @Option(help: "Record every finger not captured as KIND:REASON (e.g. bandaged:not captured) instead of listing them.")
    var uncaptured: String?

    /// The exceptions sent with ENROLL/UPDATE: the coordinator refuses a ten-print whose
    /// fingers are neither captured nor excepted with a reason.
    func exceptions(for record: FingerprintRecord) throws -> [FingerException] {
        func parse(_ text: Substring, position: FingerPosition) throws -> FingerException {
            guard let colon = text.firstIndex(of: ":"), let kind = FingerException.Kind(rawValue: String(text[..<colon])) else {
                throw ValidationError("exception \(text): expected KIND:REASON with KIND one of \(FingerException.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return FingerException(position: position, kind: kind, reason: String(text[text.index(after: colon)...]))
        }
        var list: [FingerException] = []
        for argument in exceptionArguments {
            guard let eq = argument.firstIndex(of: "="), let code = UInt8(argument[..<eq]), let position = FingerPosition(rawValue: code),
                  FingerPosition.tenPrint.contains(position) else { throw ValidationError("exception \(argument): expected POS=KIND:REASON, POS 1-10") }
            list.append(try parse(argument[argument.index(after: eq)...], position: position))
        }
        if let uncaptured {
            let listed = Set(list.map(\.position)), captured = Set(record.views.map(\.position))
            for position in FingerPosition.tenPrint where !captured.contains(position) && !listed.contains(position) {
                list.append(try parse(Substring(uncaptured), position: position))
            }
        }
        return list
    }

    func record() throws -> FingerprintRecord {
        if let p = syntheticPerson {
            guard (1...10).contains(fingers) else { throw ValidationError("--fingers must be 1-10") }
            return Synthetic.record(person: p, impression: impression, fingers: fingers)
        }
        guard !files.isEmpty else { throw ValidationError("give template or image files, or --synthetic-person N") }
        var views: [FingerTemplate] = []
        let extractor = MinutiaeExtractor()
        for (i, argument) in files.enumerated() {
            var path = argument
            var position: FingerPosition? = nil
            if let eq = argument.firstIndex(of: "="), let code = UInt8(argument[..<eq]) {
                guard let p = FingerPosition(rawValue: code), FingerPosition.tenPrint.contains(p) else { throw ValidationError("finger position must be 1-10") }
                position = p
                path = String(argument[argument.index(after: eq)...])
            }
            var view = try TemplateSource.load(path, dpi: dpi, extractor: extractor)
            if let position { view.position = position } else if !FingerPosition.tenPrint.contains(view.position) {
                view.position = FingerPosition(rawValue: UInt8(i + 1))!
            }
            views.append(view)
        }
        return FingerprintRecord(views: views)
    }
}

/// Synthetic persons shared by `tanba client --synthetic-person` and `tanba loadtest burst`.
enum Synthetic {
    static let generator = SyntheticTemplateGenerator(seed: 0x7A_4E_BA)

    static func record(person: Int, impression: Int, fingers: Int = 10) -> FingerprintRecord {
        FingerprintRecord(views: FingerPosition.tenPrint.prefix(fingers).map { position in
            generator.impression(of: generator.master(finger: UInt64(person) * 16 + UInt64(position.rawValue)),
                                 index: impression, position: position)
        })
    }

    /// A distinct valid IIN for person N (birth dates 1950–1979, then serials).
    static func iin(person: Int) -> IIN {
        let d = person % 9000
        let date = IIN.BirthDate(year: 1950 + d / 300, month: 1 + d % 300 / 25, day: 1 + d % 25)
        let serial = person / 9000
        return IIN.make(birthDate: date, sex: .male, serial: serial)
            ?? IIN.make(birthDate: date, sex: .female, serial: serial)!
    }
}

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Talk to the coordinator as a capture station, an authority's client or an examiner: enroll, identify, verify, view, update, delete, status, login, logout, held, adjudicate (JSON out).",
        subcommands: [ClientEnroll.self, ClientIdentify.self, ClientVerify.self, ClientView.self, ClientUpdate.self, ClientDelete.self,
                      ClientStatus.self, ClientLogin.self, ClientLogout.self, ClientHeld.self, ClientAdjudicate.self])
}

enum Render {
    static func coverage(_ c: ShardCoverage) -> [String: Any] {
        ["complete": !c.isPartial, "contributed_shards": c.contributed.map(Int.init), "missing_shards": c.missing.map(Int.init)]
    }

    static func candidates(_ list: [TanbaWire.Candidate]) -> [[String: Any]] {
        list.map { c in
            ["iin": c.iin.digits, "fused_score": Double(c.fusedScore),
             "finger_scores": c.fingerScores.map { ["position": Int($0.position.rawValue), "score": Double($0.score)] }]
        }
    }

    static func json(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }

    static func answer(_ message: WireMessage) -> String {
        switch message {
        case .enrollAnswer(let a):
            let outcome = switch a.outcome { case .enrolled: "enrolled"; case .heldForAdjudication: "held_for_adjudication"; case .alreadyEnrolled: "already_enrolled" }
            return json(["outcome": outcome, "possible_duplicates": candidates(a.possibleDuplicates), "coverage": coverage(a.coverage)])
        case .identifyAnswer(let a):
            return json(["candidates": candidates(a.candidates), "threshold": Double(a.threshold), "coverage": coverage(a.coverage)])
        case .verifyAnswer(let a):
            return json(["match": a.isMatch, "fused_score": Double(a.fusedScore), "threshold": Double(a.threshold),
                         "finger_scores": a.fingerScores.map { ["position": Int($0.position.rawValue), "score": Double($0.score)] },
                         "coverage": coverage(a.coverage)])
        case .updateAnswer(let archived, let c):
            return json(["archived_previous": archived, "coverage": coverage(c)])
        case .deleteAnswer(let deleted, let c):
            return json(["deleted": deleted, "coverage": coverage(c)])
        case .statusAnswer(let s):
            return json(["role": "\(s.role)", "ready": s.ready, "uptime_ms": s.uptimeMilliseconds, "shards": s.shards.map(Int.init),
                         "persons": s.persons, "pending_jobs": s.pendingJobs])
        case .cluster(.adminAnswer(let document)):
            return document
        case .adjudicateAnswer(let a):
            let outcome = switch a.outcome { case .enrolled: "enrolled"; case .discarded: "discarded"; case .listed: "listed" }
            return json(["outcome": outcome, "pending": Int(a.pending), "coverage": coverage(a.coverage),
                         "held": a.items.map { ["iin": $0.iin.digits, "station": $0.station, "held_at": $0.heldAt,
                                                "possible_duplicates": candidates($0.candidates)] as [String: Any] }])
        case .pendingJobsAnswer(let count):
            return json(["pending_jobs": Int(count)])
        case .recordAnswer(let v):
            return json(["iin": v.iin.digits, "full_name": v.fullName, "captured": v.captured.map { Int($0.rawValue) },
                         "missing": v.missing.map { ["position": Int($0.position.rawValue), "reason": $0.reason] },
                         "branch": v.branch, "captured_at": v.capturedAt])
        default:
            return json(["answer": "\(message)"])
        }
    }
}

struct ClientEnroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enroll", abstract: "Enroll a person (de-duplicated 1:N first).")
    @OptionGroup var client: ClientOptions
    @Option(help: "The person's IIN (12 digits; default with --synthetic-person: that person's synthetic IIN).") var iin: String?
    @Option(help: "Use synthetic person N's IIN (e.g. to present one person's fingers under another's IIN).") var iinOfPerson: Int?
    @OptionGroup var input: FingerInput
    @OptionGroup var consent: ConsentOptions
    func run() async throws {
        let iin = try IIN.resolve(iin, person: iinOfPerson ?? input.syntheticPerson)
        let record = try input.record()
        let enroll = WireMessage.enroll(EnrollRequest(iin: iin, record: record, exceptions: try input.exceptions(for: record)))
        let messages = consent.noConsent ? [enroll] : [try client.consent(iin: iin, consent: consent), enroll]
        print(Render.answer(try await client.call(messages).last!))
    }
}

/// The requester of an authority's or examiner's request (protocol v3): the session of a
/// multi-factor login on the coordinator's access database, the account, role and basis.
struct RequesterOptions: ParsableArguments {
    @Option(help: "Session file written by `tanba client login --session-out` (session, account and role).") var sessionFile: String?
    @Option(help: "Session token of the account's login (omit: the request is the station's, as a branch operator).") var session: String?
    @Option(help: "The account (login) the session belongs to.") var account: String?
    @Option(help: "The role the account acts in (e.g. investigator-police, examiner).") var role: String?
    @Option(help: "Basis kind: criminal, administrative, administrative-offence, civil, enforcement, search, adjudication, consent, subject-request.") var basis: String?
    @Option(name: .customLong("case"), help: "Case number (or adjudication / form reference).") var caseNumber: String = ""

    func requester() throws -> Requester? {
        var session = session, account = account, role = role
        if let sessionFile {
            let saved = try SessionFile.read(sessionFile)
            session = saved.session
            account = account ?? saved.account
            role = role ?? saved.role
        }
        guard let session else { return nil }
        guard let account, let role, let basis else { throw CommandError("a session needs --basis (and --account, --role unless a --session-file gives them)") }
        let kinds: [String: Requester.BasisKind] = ["criminal": .criminal, "administrative": .administrative,
                                                    "administrative-offence": .administrativeOffence, "civil": .civil,
                                                    "enforcement": .enforcement, "search": .search, "adjudication": .adjudication,
                                                    "consent": .consent, "subject-request": .subjectRequest, "none": .none]
        guard let kind = kinds[basis] else { throw CommandError("unknown basis kind \(basis); one of \(kinds.keys.sorted().joined(separator: ", "))") }
        return Requester(session: session, account: account, role: role, basis: kind, caseNumber: caseNumber)
    }
}

struct ClientIdentify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "identify", abstract: "1:N identification (1-10 fingers).")
    @OptionGroup var client: ClientOptions
    @Option(help: "Candidates wanted (1-1000).") var top: Int = 10
    @Option(help: "Target false-positive identification rate (0: the coordinator's default).") var fpir: Double = 0
    @OptionGroup var input: FingerInput
    @OptionGroup var requester: RequesterOptions
    func run() async throws {
        print(Render.answer(try await client.call(.identify(IdentifyRequest(probe: try input.record(), topK: top, targetFPIR: fpir,
                                                                            requester: try requester.requester())))))
    }
}

struct ClientVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "1:1 verification against a claimed IIN.")
    @OptionGroup var client: ClientOptions
    @Option(help: "The claimed IIN (default with --synthetic-person: that person's).") var iin: String?
    @Option(help: "Claim synthetic person N's IIN.") var iinOfPerson: Int?
    @OptionGroup var input: FingerInput
    @OptionGroup var requester: RequesterOptions
    func run() async throws {
        let iin = try IIN.resolve(iin, person: iinOfPerson ?? input.syntheticPerson)
        print(Render.answer(try await client.call(.verify(VerifyRequest(claimedIIN: iin, probe: try input.record(),
                                                                        requester: try requester.requester())))))
    }
}

struct ClientView: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view", abstract: "VIEW_RECORD: a person's identity and enrollment facts (no templates), on a session and basis.")
    @OptionGroup var client: ClientOptions
    @Option(help: "The person's IIN.") var iin: String?
    @Option(help: "Synthetic person N's IIN instead of --iin.") var syntheticPerson: Int?
    @OptionGroup var requester: RequesterOptions
    func run() async throws {
        let iin = try IIN.resolve(iin, person: syntheticPerson)
        guard let r = try requester.requester() else { throw CommandError("VIEW_RECORD needs a session: --session-file (or --session, --account, --role) and --basis") }
        print(Render.answer(try await client.call(.viewRecord(ViewRecordRequest(iin: iin, requester: r)))))
    }
}

/// What `tanba client login --session-out` keeps (mode 0600: the token is a bearer secret).
struct SessionFile: Codable {
    var session: String
    var account: String
    var role: String
    var expiresAt: String
    var agreementSigned: Bool
    /// The client node it was issued to (the coordinator accepts it only from that node).
    var client: String

    static func read(_ path: String) throws -> SessionFile {
        do { return try JSONDecoder().decode(SessionFile.self, from: Data(try Output.readFile(path))) } catch let e as CommandError {
            throw e
        } catch { throw CommandError("\(path) is not a session file: \(error)") }
    }

    func write(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CommandError("cannot write \(path)") }
        defer { close(fd) }
        // An existing file keeps its mode on O_TRUNC: make sure it is the owner's only.
        fchmod(fd, 0o600)
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else { throw CommandError("short write to \(path)") }
    }
}

/// The user's private key for the login challenge: PEM, P-256 (PKCS#8 or SEC1) or Ed25519 (PKCS#8).
enum UserKey {
    static func signer(path: String) throws -> ([UInt8]) throws -> [UInt8] {
        let pem = String(decoding: try Output.readFile(path), as: UTF8.self)
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            return { Array(try key.signature(for: $0).derRepresentation) }
        }
        if let key = try? DevelopmentPKI.signingKey(pem: pem) {
            return { Array(try key.signature(for: $0)) }
        }
        throw CommandError("\(path): not a P-256 or Ed25519 private key in PEM")
    }
}

struct ClientLogin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Multi-factor login of an account at the coordinator (certificate key + one-time code); writes the session file.",
        discussion: """
            LOGIN_CHALLENGE, then LOGIN with the challenge signed by --key (the private key of the certificate \
            registered for the account: `tanba access register-certificate`) and --totp (the authenticator's \
            current code: `tanba access totp-enroll`). At the first login the user agreement must be accepted \
            (--accept-agreement signs the text the coordinator sent with the challenge; without it the session \
            is refused for every request). The session is bound to this client node and lasts 30 minutes. \
            Typed refusals: ERROR 21 credentials, 22 blocked or locked out, 23 challenge, 24 second factor.
            """)
    @OptionGroup var client: ClientOptions
    @Option(help: "The account (login).") var account: String
    @Option(help: "PEM file of the private key of the account's registered certificate.") var key: String
    @Option(help: "The one-time code (6 digits) of the account's authenticator.") var totp: String?
    @Flag(help: "Accept (sign) the user agreement the coordinator sends; needed at the first login.") var acceptAgreement = false
    @Flag(help: "Print the user agreement in force and stop (no login).") var showAgreement = false
    @Option(help: "Write the session (token, account, role, expiry) to this file, mode 0600.") var sessionOut: String?

    func run() async throws {
        let (caller, c, transport) = try client.caller()
        defer { transport.shutdown() }
        if showAgreement {
            guard case .login(.challengeAnswer(let a)) = try await caller.call(.login(.challenge(account: account)), to: c.coordinatorName,
                                                                               at: c.coordinator, deadline: .milliseconds(c.deadlineMs)) else {
                throw CommandError("the coordinator did not answer with a challenge")
            }
            print(a.agreementText)
            return
        }
        let sign = try UserKey.signer(path: key)
        let answer: LoginAnswer
        do {
            answer = try await caller.login(account: account, secondFactor: totp.map { .totp($0) } ?? .none, acceptAgreement: acceptAgreement,
                                            sign: sign, to: c.coordinatorName, at: c.coordinator, deadline: .milliseconds(c.deadlineMs)).session
        } catch {
            throw CommandError("login refused: \(error)")
        }
        let saved = SessionFile(session: answer.session, account: answer.account, role: answer.role, expiresAt: answer.expiresAt,
                                agreementSigned: answer.agreementSigned, client: caller.identity.name)
        if let sessionOut { try saved.write(sessionOut) }
        // The token is printed only when it is not written to a file.
        var shown: [String: Any] = ["account": answer.account, "role": answer.role, "expires_at": answer.expiresAt,
                                    "second_factor": answer.secondFactor, "agreement_signed": answer.agreementSigned,
                                    "agreement_signed_at": answer.agreementSignedAt, "client": caller.identity.name]
        if let sessionOut { shown["session_file"] = sessionOut } else { shown["session"] = answer.session }
        if !answer.agreementSigned { shown["note"] = "the user agreement is not signed: every request will be refused; log in again with --accept-agreement" }
        print(Render.json(shown))
    }
}

struct ClientLogout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "End the session of a session file.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Session file written by `tanba client login`.") var sessionFile: String
    func run() async throws {
        let saved = try SessionFile.read(sessionFile)
        guard case .login(.logoutAnswer(let ended)) = try await client.call(.login(.logout(session: saved.session))) else {
            throw CommandError("the coordinator did not answer the logout")
        }
        try? FileManager.default.removeItem(atPath: sessionFile)
        print(Render.json(["ended": ended, "account": saved.account]))
    }
}

struct ClientUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Re-enroll: the old record is archived and stops matching.")
    @OptionGroup var client: ClientOptions
    @Option(help: "The person's IIN (default with --synthetic-person: that person's).") var iin: String?
    @Option(help: "Reason (recorded).") var reason: String = "re-enrollment"
    @OptionGroup var input: FingerInput
    @OptionGroup var consent: ConsentOptions
    func run() async throws {
        let iin = try IIN.resolve(iin, person: input.syntheticPerson)
        // Re-enrollment needs fresh written consent [BIO 8]: a new form is sent first.
        let record = try input.record()
        let update = WireMessage.update(UpdateRequest(iin: iin, record: record, reason: reason,
                                                      exceptions: try input.exceptions(for: record)))
        let messages = consent.noConsent ? [update] : [try client.consent(iin: iin, consent: consent), update]
        print(Render.answer(try await client.call(messages).last!))
    }
}

struct ClientDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a person's biometric data (store and every worker).")
    @OptionGroup var client: ClientOptions
    @Option(help: "The person's IIN.") var iin: String?
    @Option(help: "Synthetic person N's IIN instead of --iin.") var syntheticPerson: Int?
    @Option(help: "Reason / basis (recorded).") var reason: String = "subject's request"
    func run() async throws {
        let iin = try IIN.resolve(iin, person: syntheticPerson)
        print(Render.answer(try await client.call(.delete(DeleteRequest(iin: iin, reason: reason)))))
    }
}

/// The examiner's side of held enrollments: the client config's `name` must be listed in
/// the coordinator's `examiners`.
struct ClientHeld: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "held", abstract: "List the enrollments held for adjudication (possible duplicates, with scores).")
    @OptionGroup var client: ClientOptions
    @Option(help: "The examiner's login recorded in the audit log (default: the client's node name).") var examiner: String?
    func run() async throws {
        let (_, c, transport) = try client.caller()
        transport.shutdown()
        print(Render.answer(try await client.call(.adjudicate(AdjudicateRequest(.list, examiner: examiner ?? c.name)))))
    }
}

struct ClientAdjudicate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adjudicate",
        abstract: "Decide a held enrollment: --accept enrolls the person as a new person, --reject discards the held templates.")
    @OptionGroup var client: ClientOptions
    @Option(help: "The held enrollment's IIN.") var iin: String?
    @Option(help: "Synthetic person N's IIN instead of --iin.") var syntheticPerson: Int?
    @Flag(help: "Not a duplicate: enroll as a new person.") var accept = false
    @Flag(help: "A duplicate: discard the held templates (a record of the decision is kept without biometrics).") var reject = false
    @Option(help: "Why (required; kept sealed with the decision).") var reason: String
    @Option(help: "The examiner's login recorded with the decision (default: the client's node name).") var examiner: String?

    func validate() throws {
        guard accept != reject else { throw ValidationError("give exactly one of --accept and --reject") }
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must not be empty") }
    }

    func run() async throws {
        let iin = try IIN.resolve(iin, person: syntheticPerson)
        let (_, c, transport) = try client.caller()
        transport.shutdown()
        let action: AdjudicateRequest.Action = accept ? .accept(iin: iin, reason: reason) : .reject(iin: iin, reason: reason)
        print(Render.answer(try await client.call(.adjudicate(AdjudicateRequest(action, examiner: examiner ?? c.name)))))
    }
}

struct ClientStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The coordinator's STATUS.")
    @OptionGroup var client: ClientOptions
    func run() async throws { print(Render.answer(try await client.call(.status))) }
}

extension IIN {
    static func resolve(_ text: String?, person: Int?) throws -> IIN {
        if let text { return try parse(text) }
        guard let person else { throw ValidationError("give --iin (or --synthetic-person N)") }
        return Synthetic.iin(person: person)
    }

    static func parse(_ text: String) throws -> IIN {
        do { return try IIN(text) } catch { throw ValidationError("invalid IIN \(text): \(error)") }
    }
}

// MARK: tanba cluster

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Scale the cluster: add-worker, remove-worker, drain, status, reconcile (signed admin requests).",
        discussion: "The client config's `name` must be a node listed in the coordinator's `admins`; the request is signed with its key.",
        subcommands: [ClusterAdd.self, ClusterRemove.self, ClusterDrain.self, ClusterStatus.self, ClusterReconcile.self, ClusterSeed.self])
}

struct ClusterAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-worker", abstract: "Add a running worker; shards move to it while identification continues.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Worker node name.") var worker: String
    @Option(help: "Worker nng address.") var address: String
    func run() async throws {
        print(Render.answer(try await client.call(.cluster(.admin(AdminRequest(action: .addWorker, worker: worker, address: address))))))
    }
}

struct ClusterRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove-worker", abstract: "Move a worker's shards away, then forget it.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Worker node name.") var worker: String
    func run() async throws {
        print(Render.answer(try await client.call(.cluster(.admin(AdminRequest(action: .removeWorker, worker: worker))))))
    }
}

struct ClusterDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain", abstract: "Move a worker's shards away; it stays listed (draining).")
    @OptionGroup var client: ClientOptions
    @Option(help: "Worker node name.") var worker: String
    func run() async throws {
        print(Render.answer(try await client.call(.cluster(.admin(AdminRequest(action: .drain, worker: worker))))))
    }
}

struct ClusterStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Shard map, placement and serving replicas (JSON).")
    @OptionGroup var client: ClientOptions
    func run() async throws { print(Render.answer(try await client.call(.cluster(.admin(AdminRequest(action: .status)))))) }
}

struct ClusterReconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reconcile", abstract: "Reload every placed replica that is not serving now.")
    @OptionGroup var client: ClientOptions
    func run() async throws { print(Render.answer(try await client.call(.cluster(.admin(AdminRequest(action: .reconcile)))))) }
}

extension Output {
    static func quoted(_ s: String) -> String {
        String(decoding: (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
