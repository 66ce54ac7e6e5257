import Crypto
import Foundation
import Logging
import TanbaAccess
import TanbaCluster
import TanbaCore
import TanbaStore
import TanbaSynth
import TanbaWire

/// A real cluster in one process: the coordinator (encrypted store, subject directory,
/// shard map) and two matching workers, each behind a `SignedService`, over
/// `EmbeddedTransport` — the same request path as nng (signed envelopes, request IDs,
/// replica retry), without sockets, so the check is fast and needs no PKI. The station is a
/// `SignedCaller` with its own Ed25519 identity in the coordinator's keyring. The
/// coordinator runs with an access layer (`access`): authorities and examiners ask with a
/// session and a basis, the station as a branch operator on the person's consent.
final class LocalCluster: @unchecked Sendable {
    let access: AccessWorld
    /// Live session tokens of the cluster's accounts, by login.
    private var sessions: [String: String] = [:]
    let transport: EmbeddedTransport
    let coordinator: Coordinator
    let station: SignedCaller
    /// A node with a valid key that the coordinator's keyring does not trust.
    let intruder: SignedCaller
    let master: MasterKey
    let storePath: String
    let directoryPath: String
    private var listeners: [any TransportListener]
    private let identities: [String: NodeIdentity]
    private let keyring: Keyring

    static let coordinatorAddress = "coordinator"
    /// Synthetic ten-prints: person p's finger f is master p·16+f; impression 0 is enrolled,
    /// later impressions are probes (a different capture of the same finger).
    static let generator = SyntheticTemplateGenerator(seed: 20_261_206)
    static let fingers: [FingerPosition] = [.rightThumb, .rightIndex, .leftThumb, .leftIndex]

    private init(transport: EmbeddedTransport, coordinator: Coordinator, station: SignedCaller, intruder: SignedCaller,
                 master: MasterKey, storePath: String, directoryPath: String, listeners: [any TransportListener], access: AccessWorld,
                 identities: [String: NodeIdentity], keyring: Keyring) {
        self.identities = identities
        self.keyring = keyring
        self.access = access
        self.transport = transport
        self.coordinator = coordinator
        self.station = station
        self.intruder = intruder
        self.master = master
        self.storePath = storePath
        self.directoryPath = directoryPath
        self.listeners = listeners
    }

    static func start(directory: String, access: AccessWorld) async throws -> LocalCluster {
        var quiet = Logger(label: "tanba.compliance")
        quiet.logLevel = .critical
        let transport = EmbeddedTransport()
        var ids: [String: NodeIdentity] = [:]
        var keyring = Keyring()
        for name in ["coordinator", "station-1", "worker-1", "worker-2"] {
            ids[name] = try NodeIdentity(name: name, signingKey: Curve25519.Signing.PrivateKey())
            try keyring.trust(name, key: ids[name]!.publicKey)
        }
        var listeners: [any TransportListener] = []
        var workers: [ShardMap.Worker] = []
        var workerOptions = ClusterWorker.Options()
        workerOptions.bucketBits = 10   // a few dozen fingers: small prefilter tables
        for name in ["worker-1", "worker-2"] {
            let worker = ClusterWorker(name: name, coordinators: ["coordinator"], options: workerOptions, logger: quiet)
            let service = SignedService(identity: ids[name]!, keyring: keyring) { sender, message in
                await worker.handle(sender: sender, message: message)
            }
            listeners.append(try await transport.listen(on: name, handler: service.requestHandler))
            workers.append(ShardMap.Worker(name: name, address: name))
        }
        let master = MasterKey.generate(id: "compliance-cluster")
        let storePath = (directory as NSString).appendingPathComponent("store.db")
        let directoryPath = (directory as NSString).appendingPathComponent("directory")
        let store = try Store(path: storePath, master: master)
        let subjects = try SubjectDirectory(path: directoryPath, master: master)
        var options = Coordinator.Options()
        options.branch = "Astana-Esil-3"
        options.access = CoordinatorAccess(control: access.control, journal: access.journal, clock: access.clock.clock)
        let coordinator = Coordinator(name: "coordinator", store: store, directory: subjects,
                                      map: ShardMap(shardCount: 4, workers: workers),
                                      caller: SignedCaller(identity: ids["coordinator"]!, keyring: keyring, transport: transport),
                                      options: options, logger: quiet)
        let service = SignedService(identity: ids["coordinator"]!, keyring: keyring) { sender, message in
            await coordinator.handle(sender: sender, message: message)
        }
        listeners.append(try await transport.listen(on: coordinatorAddress, handler: service.requestHandler))
        await coordinator.reconcile()
        guard coordinator.isReady else { throw RuleBroken("the local cluster did not become ready: shards \(coordinator.unservedShards)") }
        let outsider = try NodeIdentity(name: "station-9", signingKey: Curve25519.Signing.PrivateKey())
        return LocalCluster(transport: transport, coordinator: coordinator,
                            station: SignedCaller(identity: ids["station-1"]!, keyring: keyring, transport: transport),
                            intruder: SignedCaller(identity: outsider, keyring: keyring, transport: transport),
                            master: master, storePath: storePath, directoryPath: directoryPath, listeners: listeners, access: access,
                            identities: ids, keyring: keyring)
    }

    func shutdown() async {
        for l in listeners { await l.close() }
        listeners = []
    }

    /// Stops `worker` the way a crashed process disappears (its listener closes) and
    /// returns a closure that starts it again, empty (the coordinator reloads it).
    func stopWorker(_ name: String) async throws -> () async throws -> Void {
        guard let i = listeners.firstIndex(where: { $0.address == name }) else { throw RuleBroken("no worker \(name)") }
        await listeners.remove(at: i).close()
        return { [self] in
            var quiet = Logger(label: "tanba.compliance")
            quiet.logLevel = .critical
            var options = ClusterWorker.Options()
            options.bucketBits = 10
            let worker = ClusterWorker(name: name, coordinators: ["coordinator"], options: options, logger: quiet)
            let service = SignedService(identity: self.identities[name]!, keyring: self.keyring) { sender, message in
                await worker.handle(sender: sender, message: message)
            }
            self.listeners.append(try await self.transport.listen(on: name, handler: service.requestHandler))
        }
    }

    var store: Store { coordinator.store }

    // MARK: Persons

    /// Person `p`'s four-finger record; `impression` 0 is the enrollment capture.
    static func record(_ p: Int, impression: Int, masterOffset: UInt64 = 0) -> FingerprintRecord {
        FingerprintRecord(views: fingers.map { position in
            let master = generator.master(finger: UInt64(p) * 16 + UInt64(position.rawValue) + masterOffset)
            return generator.impression(of: master, index: impression, position: position)
        })
    }

    // MARK: Requests, as a branch station sends them

    func ask(_ message: WireMessage, from caller: SignedCaller? = nil) async throws -> WireMessage {
        try await (caller ?? station).call(message, to: "coordinator", at: Self.coordinatorAddress, deadline: .seconds(30))
    }

    /// The consent form a station fills in for `iin` (dated today, every [PD 8.4] field).
    func consentForm(_ iin: IIN, name: String = "Compliance Person", date: IIN.BirthDate = EnrollmentRules(now: Date()).today,
                     term: String = "until revoked", purpose: EnrollmentPurpose = .publicServices,
                     citizenship: Subject.Citizenship? = nil, declaredIncapable: Bool? = nil, guardian: Guardian? = nil) -> ConsentRecord {
        ConsentRecord(operatorOrganisation: "NAO Government for Citizens", operatorBIN: "021240001789", operatorEmployee: "op-0001",
                      branch: "Astana-Esil-3", station: station.identity.name, subjectName: name, subjectIIN: iin, date: date, term: term,
                      formReference: "form-\(UUID().uuidString.prefix(8))", purpose: purpose, guardian: guardian,
                      citizenship: citizenship, declaredIncapable: declaredIncapable)
    }

    /// CONSENT of `form` for `iin`, signed by the station (or by `signer`), as it goes on the wire.
    func consentMessage(_ form: ConsentRecord, iin: IIN? = nil, signer: NodeIdentity? = nil) throws -> WireMessage {
        let document = form.canonicalJSON()
        return .consent(ConsentRequest(iin: try iin ?? IIN(form.subjectIIN), action: .granted, document: document,
                                       signature: Array(try (signer ?? station.identity).signingKey.signature(for: document))))
    }

    /// The station's signed consent for `iin`, dated today: the coordinator refuses ENROLL
    /// and UPDATE without a valid consent on record (ERROR 14) [BIO 3].
    func consent(_ iin: IIN, name: String = "Compliance Person") async throws {
        try await consent(consentForm(iin, name: name))
    }

    func consent(_ form: ConsentRecord) async throws {
        guard case .consentAnswer = try await ask(try consentMessage(form)) else {
            throw RuleBroken("CONSENT was not answered with a consent answer")
        }
    }

    /// The coordinator's typed refusal of `message` (code and text), or nil when it was answered.
    func wireRefusal(_ message: WireMessage, from caller: SignedCaller? = nil) async throws -> (code: WireErrorCode, text: String)? {
        do {
            _ = try await ask(message, from: caller)
            return nil
        } catch SignedCaller.CallError.remote(let code, let text) {
            return (code, text)
        }
    }

    /// Expects `message` refused with `code` and a text containing `fragment`; returns
    /// "ERROR n: text" for the evidence.
    func expectRefusal(_ what: String, _ message: WireMessage, _ code: WireErrorCode, containing fragment: String = "",
                       from caller: SignedCaller? = nil) async throws -> String {
        guard let (got, text) = try await wireRefusal(message, from: caller) else { throw RuleBroken("\(what) was accepted by the coordinator") }
        try require(got == code && (fragment.isEmpty || text.contains(fragment)),
                    "\(what): ERROR \(got.rawValue) '\(text)', expected \(code.rawValue) containing '\(fragment)'")
        let short = text.count > 90 ? String(text.prefix(90)) + "…" : text
        return "ERROR \(got.rawValue) (\(short))"
    }

    /// ENROLL of `record` with `exceptions` (default: the fingers the record lacks).
    func enrollMessage(_ iin: IIN, _ record: FingerprintRecord, exceptions: [FingerException]? = nil) -> WireMessage {
        .enroll(EnrollRequest(iin: iin, record: record, exceptions: exceptions ?? Self.exceptions(for: record)))
    }

    // MARK: Login over the wire

    /// LOGIN_CHALLENGE + LOGIN from the station node as `login` of the cluster's access
    /// layer (certificate key + the current one-time code, agreement accepted), or the typed
    /// refusal. The access clock moves on one TOTP step afterwards (a code is good once).
    func wireLogin(_ login: String, key: P256.Signing.PrivateKey? = nil, factor: LoginRequest.SecondFactor? = nil,
                   from caller: SignedCaller? = nil) async throws -> Result<LoginAnswer, SignedCaller.CallError> {
        let k = key ?? access.keys[login] ?? P256.Signing.PrivateKey()
        let code = factor ?? access.totps[login].map { .totp($0.code(at: access.clock.now)) } ?? LoginRequest.SecondFactor.none
        defer { access.clock.advance(30) }
        do {
            let (_, session) = try await (caller ?? station).login(
                account: login, secondFactor: code, acceptAgreement: true, sign: { Array(try k.signature(for: $0).derRepresentation) },
                to: "coordinator", at: Self.coordinatorAddress, deadline: .seconds(30))
            return .success(session)
        } catch let e as SignedCaller.CallError {
            return .failure(e)
        }
    }

    /// The six fingers the four-finger records do not capture, excepted with a reason: the
    /// coordinator refuses a ten-print with fingers neither captured nor excepted [BIO 6, 7].
    static func exceptions(for record: FingerprintRecord) -> [FingerException] {
        let captured = Set(record.views.map(\.position))
        return FingerPosition.tenPrint.filter { !captured.contains($0) }
            .map { FingerException(position: $0, kind: .bandaged, reason: "compliance fixture: four-finger record") }
    }

    func enroll(_ iin: IIN, _ record: FingerprintRecord) async throws -> EnrollAnswer {
        try await consent(iin)
        guard case .enrollAnswer(let a) = try await ask(.enroll(EnrollRequest(iin: iin, record: record,
                                                                              exceptions: Self.exceptions(for: record)))) else {
            throw RuleBroken("ENROLL was not answered with an enroll answer")
        }
        return a
    }

    // MARK: Requests with a session, as an authority's or examiner's client sends them

    /// A live session of `login` (an account of the cluster's access layer, created with
    /// `role` on first use; the agreement signed). Sessions last 30 minutes of the access
    /// clock, which only logins move, so one per login serves the whole check.
    func session(_ login: String, _ role: Role) async throws -> String {
        if let token = sessions[login], try access.auth.session(token) != nil { return token }
        if try access.registry.account(login) == nil { try access.account(login, role) }
        let token = try await access.session(login)
        sessions[login] = token
        return token
    }

    func requester(_ login: String, _ role: Role, _ basis: Requester.BasisKind, _ caseNumber: String) async throws -> Requester {
        Requester(session: try await session(login, role), account: login, role: role.rawValue, basis: basis, caseNumber: caseNumber)
    }

    /// 1:N search by an examiner for an adjudication (branch stations may not search).
    func identify(_ probe: FingerprintRecord) async throws -> IdentifyAnswer {
        try await identify(probe, as: try await requester("ex-1", .examiner, .adjudication, "adj-2026-0001"))
    }

    func identify(_ probe: FingerprintRecord, as requester: Requester) async throws -> IdentifyAnswer {
        let answer = try await ask(.identify(IdentifyRequest(probe: probe, topK: 5, requester: requester)))
        guard case .identifyAnswer(let a) = answer else {
            throw RuleBroken("IDENTIFY by \(requester.role) was not answered with an identify answer: \(answer)")
        }
        return a
    }

    /// Sends `message` and expects a refusal with `code` whose text starts with `refusal`;
    /// returns the refusal text.
    func refusedOverTheWire(_ message: WireMessage, _ code: WireErrorCode, _ refusal: String) async throws -> String {
        let answer: WireMessage
        do { answer = try await ask(message) } catch SignedCaller.CallError.remote(let code, let text) {
            answer = .error(code: code, message: text)
        }
        guard case .error(let got, let text) = answer else { throw RuleBroken("\(message.type) was answered: \(answer)") }
        try require(got == code && text.hasPrefix(refusal), "refused with ERROR \(got.rawValue) '\(text)', expected \(code.rawValue) \(refusal)")
        return "ERROR \(got.rawValue) \(refusal)"
    }

    /// The audit entries written since `count`.
    func auditEntries(after count: Int) throws -> [AuditEntry] {
        try store.audit.entries().dropFirst(count).map(\.entry)
    }
    var auditCount: Int { get throws { try store.audit.entries().count } }

    func verify(_ iin: IIN, _ probe: FingerprintRecord) async throws -> VerifyAnswer {
        guard case .verifyAnswer(let a) = try await ask(.verify(VerifyRequest(claimedIIN: iin, probe: probe))) else {
            throw RuleBroken("VERIFY was not answered with a verify answer")
        }
        return a
    }

    func update(_ iin: IIN, _ record: FingerprintRecord, reason: String) async throws {
        try await consent(iin)   // re-enrollment needs fresh written consent [BIO 8]
        guard case .updateAnswer(let archived, _) = try await ask(.update(UpdateRequest(iin: iin, record: record, reason: reason,
                                                                                          exceptions: Self.exceptions(for: record)))),
              archived else { throw RuleBroken("UPDATE did not archive the previous enrollment") }
    }

    func delete(_ iin: IIN, reason: String) async throws -> Bool {
        guard case .deleteAnswer(let deleted, _) = try await ask(.delete(DeleteRequest(iin: iin, reason: reason))) else {
            throw RuleBroken("DELETE was not answered with a delete answer")
        }
        return deleted
    }
}
