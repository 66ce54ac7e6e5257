import ArgumentParser
import Dispatch
import Foundation
import TanbaCapture
import TanbaCore
import TanbaImaging
import TanbaMatch
import TanbaSynth
import TanbaWire

struct StationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "station",
        abstract: "The branch capture station: enroll ten-prints under the rules, consent, verification, offline outbox.",
        discussion: """
            Settings come from --config (see configs/station.json and docs/station.md); flags override them. \
            Every request is written to the station's outbox (SQLite) before it is sent, and resent with the \
            same request ID until the coordinator answers. Images never leave the station unless \
            imageExport is "encrypted".
            """,
        subcommands: [StationEnroll.self, StationVerify.self, StationRevoke.self, StationDelete.self,
                      StationOutbox.self, StationSend.self, StationDevices.self])
}

// MARK: - Settings and wiring

struct StationOptions: ParsableArguments {
    @Option(help: "Station config file (JSON, docs/station.md).") var config: String?
    @Option(help: "Station node name (its keys are <pki>/<name>.sign.key, <name>.crt, <name>.key).") var name: String?
    @Option(help: "Branch name for consent records.") var branch: String?
    @Option(name: .customLong("operator"), help: "Operator (employee) name for consent records.") var operatorName: String?
    @Option(help: "Coordinator address (tls+tcp://host:port; tcp:// for local tests).") var coordinator: String?
    @Option(help: "Coordinator node name.") var coordinatorName: String?
    @Option(help: "PKI folder (ca.crt, node certificates and keys, trusted *.sign.pub).") var pki: String?
    @Option(help: "Outbox database path.") var outbox: String?
    @Option(help: "Scanner: libfprint, virtual or files.") var scanner: String?
    @Option(help: "libfprint driver to use (default: the first capture device).") var scannerDriver: String?
    @Option(help: "Minimum quality 0-100 below which the operator retries or records an exception.") var minimumQuality: Int?
    @Option(help: "Seed of the synthetic persons shown to the virtual scanner.") var virtualSeed: UInt64?
    @Option(help: "Virtual scanner only: FINGER:ATTEMPT shows a smudged (blank) image on that attempt (repeatable).")
    var virtualSmudge: [String] = []
    @Option(help: "Seconds to wait for delivery before leaving requests queued.") var sendWait: Double?

    func resolved() throws -> StationConfig {
        var c = StationConfig()
        if let config { c = try StationConfig.load(path: config) }
        if let name { c.name = name }
        if let branch { c.branch = branch }
        if let operatorName { c.operatorEmployee = operatorName }
        if let coordinator { c.coordinatorAddress = coordinator }
        if let coordinatorName { c.coordinatorName = coordinatorName }
        if let pki { c.pki = pki }
        if let outbox { c.outbox = outbox }
        if let scanner { c.scanner = scanner }
        if let scannerDriver { c.scannerDriver = scannerDriver }
        if let minimumQuality { c.minimumQuality = minimumQuality }
        if let virtualSeed { c.virtualSeed = virtualSeed }
        if let sendWait { c.sendWaitSeconds = sendWait }
        try c.validate()
        return c
    }
}

/// Everything a station command needs, built from the settings.
struct StationContext {
    let config: StationConfig
    let identity: NodeIdentity
    let outbox: Outbox
    let caller: SignedCaller
    let sender: OutboxSender
    let desk: EnrollmentDesk
    let smudges: Set<String>

    init(_ options: StationOptions, needsKeys: Bool = true) throws {
        let config = try options.resolved()
        self.config = config
        self.smudges = Set(options.virtualSmudge.map { $0.lowercased() })
        do {
            identity = try DevelopmentPKI.loadIdentity(name: config.name, directory: config.pki)
            let keyring = try DevelopmentPKI.loadKeyring(directory: config.pki)
            let tls = config.coordinatorAddress.hasPrefix("tls+") ? try DevelopmentPKI.loadTLS(name: config.name, directory: config.pki) : nil
            let coordinatorName = config.coordinatorName
            let transport = NNGTransport(tls: tls, serverName: { _ in coordinatorName })
            caller = SignedCaller(identity: identity, keyring: keyring, transport: transport)
        } catch {
            throw CommandError("station \(config.name): cannot load keys from \(config.pki): \(error) (create them with tanba pki issue)")
        }
        outbox = try Outbox(path: config.outbox)
        sender = OutboxSender(outbox: outbox, caller: caller, peer: config.coordinatorName, address: config.coordinatorAddress,
                              policy: BackoffPolicy(initialMilliseconds: config.retryInitialMilliseconds,
                                                    maximumMilliseconds: config.retryMaximumMilliseconds),
                              requestDeadline: .milliseconds(Int64(config.requestTimeoutSeconds * 1000)))
        desk = EnrollmentDesk(identity: identity,
                              profile: StationProfile(branch: config.branch, operatorEmployee: config.operatorEmployee,
                                                      operatorOrganisation: config.operatorOrganisation, operatorBIN: config.operatorBIN),
                              outbox: outbox)
    }

    /// The synthetic person the virtual scanner shows for an IIN (the same fingers every time).
    static func virtualPerson(_ iin: IIN) -> Int { Int(UInt64(iin.digits)! % 1_000_003) }

    /// Opens the configured scanner. `files` maps fingers to image paths for scanner "files";
    /// `impressionOffset` picks other impressions of a virtual person (e.g. at the counter).
    func captureSource(iin: IIN, files: [FingerPosition: [String]] = [:], impressionOffset: Int = 0) throws -> (any CaptureSource, close: () -> Void) {
        switch config.scanner {
        case "files":
            return (ImageFileSource(files: files, dpi: config.dpi), {})
        case "virtual":
            let generator = SyntheticFingerprintGenerator(seed: config.virtualSeed)
            let person = StationContext.virtualPerson(iin)
            let smudges = self.smudges
            let scanner = try VirtualScanner(dpi: config.dpi) { position, attempt in
                let image = generator.impression(of: generator.master(finger: person * 10 + Int(position.rawValue)),
                                                 index: attempt + impressionOffset)
                return smudges.contains("\(position.slug):\(attempt)") ? FingerCapture.smudged(image) : image
            }
            return (scanner, { scanner.close() })
        default:
            let device = try LibfprintDevice(driver: config.scannerDriver, index: config.scannerIndex, dpi: config.dpi)
            return (device, { device.close() })
        }
    }

    func fingerCapture(_ source: any CaptureSource) throws -> FingerCapture {
        var exporter: EncryptedImageExporter?
        if config.imageExport == "encrypted", let dir = config.imageExportDirectory, let key = config.imageExportKeyFile {
            exporter = try EncryptedImageExporter(directory: dir, keyFile: key)
        }
        return FingerCapture(source: source, minimumQuality: config.minimumQuality, maximumAttempts: config.maximumAttempts,
                             dpi: config.dpi, exporter: exporter)
    }

    /// Sends the outbox with a progress line per item; true when nothing is left pending.
    func sendWithProgress(wait: Double, quiet: Bool = false) throws -> Bool {
        let sender = self.sender
        let total = try outbox.pending().count
        if total == 0 { return true }
        if !quiet { say("Sending \(total) request(s) to \(config.coordinatorName) at \(config.coordinatorAddress)…") }
        let counter = Counter()
        let done = try runBlocking {
            try await sender.drain(timeout: .milliseconds(Int64(wait * 1000))) { item, outcome in
                if quiet { return }
                let n = outcome.hasPrefix("delivered") || outcome.hasPrefix("failed") ? counter.next() : counter.value
                say("  [\(n)/\(total)] \(item.label): \(outcome)")
            }
        }
        return done
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

/// Prints a line at once (stdout may be a pipe or a pty).
func say(_ text: String) {
    print(text)
    fflush(nil)
}

private final class BlockingBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

/// Runs async work from a synchronous command (the root `tanba` command is synchronous).
func runBlocking<T>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = BlockingBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

// MARK: - Operator console

/// Line-oriented terminal dialogue: prompts, defaults, yes/no, choices.
struct Console {
    struct InputEnded: Error, CustomStringConvertible { var description: String { "input ended before the enrollment was complete" } }

    func ask(_ question: String, default value: String? = nil) throws -> String {
        print(question + (value.map { " [\($0)]" } ?? "") + ": ", terminator: "")
        fflush(nil)
        guard let line = readLine() else { throw InputEnded() }
        let answer = line.trimmingCharacters(in: .whitespaces)
        return answer.isEmpty ? (value ?? "") : answer
    }

    func yes(_ question: String, default value: Bool = false) throws -> Bool {
        while true {
            let a = try ask(question + (value ? " (Y/n)" : " (y/N)")).lowercased()
            if a.isEmpty { return value }
            if ["y", "yes", "д", "да", "и"].contains(a) { return true }
            if ["n", "no", "н", "нет", "ж"].contains(a) { return false }
            say("  Please answer y or n.")
        }
    }

    func choose<T>(_ question: String, _ options: [(String, T)], default index: Int = 0) throws -> T {
        let names = options.map(\.0)
        while true {
            let a = try ask("\(question) (\(names.joined(separator: "/")))", default: names[index]).lowercased()
            if let hit = options.first(where: { $0.0 == a }) ?? options.first(where: { $0.0.hasPrefix(a) }) { return hit.1 }
            if let n = Int(a), (1...options.count).contains(n) { return options[n - 1].1 }
            say("  Choose one of: \(names.joined(separator: ", ")).")
        }
    }

    func nonEmpty(_ question: String) throws -> String {
        while true {
            let a = try ask(question)
            if !a.isEmpty { return a }
            say("  Required.")
        }
    }

    func iin(_ question: String, today: IIN.BirthDate) throws -> IIN {
        while true {
            let text = try ask(question)
            do {
                let iin = try IIN(text)
                say("  IIN valid: born \(iin.birthDate) (age \(iin.birthDate.age(on: today))), \(iin.sex.rawValue)")
                return iin
            } catch {
                say("  \(error) — please re-enter.")
            }
        }
    }
}

func qualityWord(_ q: Int, minimum: Int) -> String {
    q < minimum ? "too low" : q < 60 ? "fair" : "good"
}

// MARK: - enroll

struct StationEnroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll a person: interactive operator workflow, or non-interactive with --request or flags.",
        discussion: """
            Interactive (default): identify the person (document, IIN checked and decoded), record consent, \
            capture finger by finger with the quality shown (up to the configured attempts, then an exception \
            with a reason), summary, send with progress. Non-interactive: --request FILE (JSON, docs/station.md) \
            or --iin/--name/--document-number/--form flags; fingers come from the configured scanner \
            (or the request file's images with scanner "files"). Exit status 2 when a rule refuses the enrollment.
            """)

    @OptionGroup var station: StationOptions
    @Option(help: "Non-interactive: JSON request file.") var request: String?
    @Option(help: "Non-interactive: the person's IIN.") var iin: String?
    @Option(name: .customLong("person-name"), help: "Non-interactive: the person's full name.") var personName: String?
    @Option(help: "Non-interactive: identity document number.") var documentNumber: String?
    @Option(help: "Non-interactive: consent form reference (the person signed it).") var form: String?
    @Option(help: "Non-interactive: exception FINGER:KIND:REASON (KIND: missing, bandaged, wound, deformed, no-pattern); repeatable.")
    var exception: [String] = []
    @Flag(help: "Print the result as JSON (non-interactive).") var json = false
    @Flag(help: "Non-interactive: only write to the outbox; a running `tanba station send --watch` sends it.") var queueOnly = false

    func run() throws {
        let context = try StationContext(station)
        if request == nil && iin == nil {
            try InteractiveEnrollment(context: context).run()
        } else {
            try scripted(context)
        }
    }

    func scripted(_ context: StationContext) throws {
        var req: EnrollmentRequestFile
        if let request {
            let data = try Output.readFile(request)
            do { req = try JSONDecoder().decode(EnrollmentRequestFile.self, from: Data(data)) } catch {
                throw CommandError("\(request): \(error)")
            }
        } else {
            guard let personName, let documentNumber, let form else {
                throw CommandError("non-interactive enrollment needs --iin, --person-name, --document-number and --form (or --request FILE)")
            }
            req = EnrollmentRequestFile(iin: iin!, name: personName, documentNumber: documentNumber,
                                        consent: .init(form: form, signed: true))
        }
        for e in exception {
            let parts = e.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { throw CommandError("--exception \(e): expected FINGER:KIND:REASON") }
            req.exceptions = (req.exceptions ?? []) + [.init(finger: parts[0], kind: parts[1], reason: parts[2])]
        }
        let outcome = try ScriptedEnrollment(context: context, request: req, queueOnly: queueOnly).run(json: json)
        if !outcome { throw ExitCode(2) }
    }
}

/// The JSON request file of non-interactive enrollment (docs/station.md).
struct EnrollmentRequestFile: Codable {
    struct GuardianFile: Codable { var name: String; var iin: String; var application: String }
    struct ConsentFile: Codable {
        var form: String
        var term: String?
        var thirdParty: Bool?
        var crossBorder: Bool?
        var publication: Bool?
        /// The person (or guardian) signed the form; false refuses the enrollment.
        var signed: Bool
    }
    struct ExceptionFile: Codable { var finger: String; var kind: String; var reason: String }

    var iin: String
    var name: String
    var documentType: String?
    var documentNumber: String
    var citizenship: String?
    var purpose: String?
    var incapable: Bool?
    var guardian: GuardianFile?
    /// Re-enrollment after irreversible damage: the damage (sent as UPDATE; the old record is archived).
    var reenrollment: String?
    var previousConsentID: String?
    var consent: ConsentFile
    /// Image files per finger ("right-thumb": ["a.png", "b.png"]) for scanner "files".
    var fingers: [String: [String]]?
    var exceptions: [ExceptionFile]?

    init(iin: String, name: String, documentNumber: String, consent: ConsentFile) {
        self.iin = iin
        self.name = name
        self.documentNumber = documentNumber
        self.consent = consent
    }
}

struct ScriptedEnrollment {
    let context: StationContext
    let request: EnrollmentRequestFile
    var queueOnly = false

    struct Report: Encodable {
        var status: String
        var iin: String
        var message: String?
        var fingers: [String: Int] = [:]
        var exceptions: [String: String] = [:]
        var requests: [String] = []
        var pending: Int = 0
    }

    func refuse(_ message: String, json: Bool) throws -> Bool {
        if json { say(try Output.json(Report(status: "refused", iin: request.iin, message: message))) } else { say(message) }
        return false
    }

    /// Returns false when a rule refused the enrollment.
    func run(json: Bool) throws -> Bool {
        let iin: IIN
        do { iin = try IIN(request.iin) } catch { return try refuse("refused: invalid IIN: \(error)", json: json) }
        func parse<T: RawRepresentable>(_ text: String?, _ fallback: T, _ what: String) throws -> T where T.RawValue == String {
            guard let text else { return fallback }
            guard let v = T(rawValue: text) else { throw CommandError("unknown \(what) \"\(text)\"") }
            return v
        }
        var guardian: Guardian?
        if let g = request.guardian {
            do { guardian = Guardian(name: g.name, iin: try IIN(g.iin), applicationNumber: g.application) } catch {
                return try refuse("refused: invalid guardian IIN: \(error)", json: json)
            }
        }
        let subject = Subject(name: request.name, iin: iin,
                              citizenship: try parse(request.citizenship, .citizen, "citizenship"),
                              documentType: try parse(request.documentType, .idCard, "document type"),
                              documentNumber: request.documentNumber, declaredIncapable: request.incapable ?? false,
                              guardian: guardian)
        let purpose: EnrollmentPurpose = try parse(request.purpose, .publicServices, "purpose")
        let rules = context.desk.rules
        do { try rules.checkSubject(subject, purpose: purpose) } catch { return try refuse(error.description, json: json) }
        guard request.consent.signed else {
            return try refuse("refused: the person has not signed the written consent [BIO 3]", json: json)
        }
        var exceptions: [FingerException] = []
        for e in request.exceptions ?? [] {
            guard let p = FingerPosition(slug: e.finger) else { throw CommandError("unknown finger \"\(e.finger)\"") }
            guard let k = FingerException.Kind(rawValue: e.kind) else { throw CommandError("unknown exception kind \"\(e.kind)\"") }
            exceptions.append(FingerException(position: p, kind: k, reason: e.reason))
        }
        var files: [FingerPosition: [String]] = [:]
        for (k, v) in request.fingers ?? [:] {
            guard let p = FingerPosition(slug: k) else { throw CommandError("unknown finger \"\(k)\"") }
            files[p] = v
        }
        let excepted = Set(exceptions.map(\.position))
        var report = Report(status: "", iin: iin.digits)
        var templates: [FingerTemplate] = []
        let toCapture = FingerPosition.tenPrint.filter { !excepted.contains($0) }
        if !toCapture.isEmpty {
            let (source, close) = try context.captureSource(iin: iin, files: files)
            defer { close() }
            let capture = try context.fingerCapture(source)
            for position in toCapture {
                let (best, ok) = try capture.best(position, onAttempt: { a in
                    if !json { say("\(position.displayName): attempt \(a.number), quality \(a.quality) (\(qualityWord(a.quality, minimum: capture.minimumQuality)))") }
                }, onFailure: { n, error in
                    if !json { say("\(position.displayName): attempt \(n) failed: \(error)") }
                })
                guard ok, let best else {
                    return try refuse("refused: \(position.displayName) reached quality \(best?.quality ?? 0) after \(capture.maximumAttempts) attempts, below the minimum \(capture.minimumQuality); record an exception for it", json: json)
                }
                templates.append(best.template)
                report.fingers[position.slug] = best.quality
            }
        }
        let kind: EnrollmentKind = request.reenrollment.map { .reenrollment(reason: $0) } ?? .new
        let submitted: EnrollmentDesk.Submitted
        do {
            let consent = try context.desk.consent(for: subject, purpose: purpose, term: request.consent.term ?? "until revoked",
                                                   thirdPartyTransfer: request.consent.thirdParty ?? false,
                                                   crossBorderTransfer: request.consent.crossBorder ?? false,
                                                   publication: request.consent.publication ?? false,
                                                   formReference: request.consent.form)
            submitted = try context.desk.submit(EnrollmentCase(subject: subject, purpose: purpose, kind: kind, consent: consent,
                                                               captured: templates, exceptions: exceptions,
                                                               previousConsentID: request.previousConsentID))
        } catch let violation as RuleViolation {
            return try refuse(violation.description, json: json)
        }
        for e in submitted.exceptions { report.exceptions[e.position.slug] = "\(e.kind.rawValue): \(e.reason)" }
        report.requests = submitted.requestIDs.map(\.description)
        if !json { say("Queued \(submitted.sequenceNumbers.count) request(s) in the outbox.") }
        let delivered = queueOnly ? false : try context.sendWithProgress(wait: context.config.sendWaitSeconds, quiet: json)
        report.pending = try context.outbox.pending().count
        let failed = try submitted.sequenceNumbers.compactMap { try context.outbox.item(seq: $0) }.filter { $0.state == .failed }
        if !failed.isEmpty {
            report.status = "failed"
            report.message = failed.map { "\($0.label): \($0.lastError ?? "")" }.joined(separator: "; ")
        } else {
            report.status = delivered ? "sent" : "queued"
        }
        if json { say(try Output.json(report)) } else {
            say(report.status == "sent" ? "Sent." : report.status == "queued"
                ? "Queued: the coordinator is unreachable; \(report.pending) request(s) pending, the station keeps retrying (tanba station send)."
                : "Failed: \(report.message ?? "")")
        }
        return true
    }
}

/// The interactive operator workflow.
struct InteractiveEnrollment {
    let context: StationContext
    let console = Console()

    func heading(_ s: String) { say(""); say("== \(s) ==") }

    func run() throws {
        let c = context.config
        let rules = context.desk.rules
        say("Tanba capture station \(c.name) — \(c.branch) — operator \(c.operatorEmployee)")
        say("Today (Astana): \(rules.today). Outbox: \(try context.outbox.pending().count) pending request(s).")
        if c.scanner == "libfprint" {
            // Find out now, not after the consent is signed, that no scanner is connected.
            let devices = try LibfprintDevice.list().filter { $0.canCapture && (c.scannerDriver == nil || $0.driver == c.scannerDriver) }
            guard !devices.isEmpty else {
                throw CommandError("no fingerprint scanner found\(c.scannerDriver.map { " with driver \($0)" } ?? ""): connect one (tanba station devices)")
            }
            say("Scanner: \(devices[min(c.scannerIndex, devices.count - 1)].name)")
        }

        heading("1. Identify the person")
        let documentType: Subject.DocumentType = try console.choose("Document type",
            Subject.DocumentType.allCases.map { ($0.rawValue, $0) })
        let documentNumber = try console.nonEmpty("Document number")
        let iin = try console.iin("IIN (12 digits)", today: rules.today)
        let name = try console.nonEmpty("Full name (as in the document)")
        let citizenship: Subject.Citizenship = try console.choose("Citizenship", Subject.Citizenship.allCases.map { ($0.rawValue, $0) })
        let purpose: EnrollmentPurpose = citizenship == .citizen ? .publicServices
            : try console.choose("Purpose", EnrollmentPurpose.allCases.map { ($0.rawValue, $0) })
        var guardian: Guardian?
        let incapable = try console.yes("Declared legally incapable (or of limited capacity) by a court?")
        if incapable {
            say("  The guardian must be present and file a written application [BIO 5].")
            if try console.yes("Is the guardian present?") {
                let gIIN = try console.iin("Guardian's IIN", today: rules.today)
                let gName = try console.nonEmpty("Guardian's full name")
                let application = try console.ask("Guardian's written application number")
                guardian = Guardian(name: gName, iin: gIIN, applicationNumber: application)
            }
        }
        let subject = Subject(name: name, iin: iin, citizenship: citizenship, documentType: documentType,
                              documentNumber: documentNumber, declaredIncapable: incapable, guardian: guardian)
        do { try rules.checkSubject(subject, purpose: purpose) } catch {
            say(""); say("ENROLLMENT REFUSED: \(error.description)")
            throw ExitCode(2)
        }
        var kind = EnrollmentKind.new
        if try console.yes("Re-enrollment (patterns irreversibly damaged: skin disease, scars)?") {
            kind = .reenrollment(reason: try console.nonEmpty("Describe the irreversible damage"))
            say("  Fresh written consent is required; the previous record will be archived by the cluster.")
        }

        heading("2. Consent")
        say("Explain the grounds and conditions of biometric data collection, then fill in the consent form.")
        let form = try console.nonEmpty("Consent form reference")
        let term = try console.ask("Term of consent", default: "until revoked")
        let thirdParty = try console.yes("May the data be passed to third parties?")
        let crossBorder = try console.yes("Cross-border transfer?")
        let publication = try console.yes("Publication in public sources?")
        guard try console.yes("Has \(guardian == nil ? "the person" : "the guardian") signed the consent form?") else {
            say(""); say("ENROLLMENT REFUSED: no written consent [BIO 3]")
            throw ExitCode(2)
        }
        let consent = try context.desk.consent(for: subject, purpose: purpose, term: term, thirdPartyTransfer: thirdParty,
                                               crossBorderTransfer: crossBorder, publication: publication, formReference: form)
        say("  Consent \(consent.record.id) signed by station \(c.name).")

        heading("3. Fingers")
        let (source, close) = try context.captureSource(iin: iin)
        defer { close() }
        say("Scanner: \(source.name). Minimum quality \(c.minimumQuality), up to \(c.maximumAttempts) attempts per finger.")
        let capture = try context.fingerCapture(source)
        var templates: [FingerTemplate] = []
        var exceptions: [FingerException] = []
        for (i, position) in FingerPosition.tenPrint.enumerated() {
            var accepted: FingerCapture.Attempt?
            var attempt = 0
            fingerLoop: while accepted == nil {
                let answer = try console.ask("[\(i + 1)/10] Place the \(position.displayName) on the scanner and press Enter (x = record an exception)")
                if answer.lowercased() == "x" { break fingerLoop }
                attempt += 1
                do {
                    let a = try capture.attempt(position, number: attempt)
                    say("  attempt \(attempt): quality \(a.quality) (\(qualityWord(a.quality, minimum: capture.minimumQuality))), \(a.template.minutiae.count) minutiae")
                    if a.quality >= capture.minimumQuality { accepted = a; break fingerLoop }
                } catch {
                    say("  attempt \(attempt): \(error)")
                }
                if attempt >= capture.maximumAttempts {
                    say("  \(capture.maximumAttempts) attempts below the minimum quality: record an exception.")
                    break fingerLoop
                }
                say("  Below the minimum quality \(capture.minimumQuality): clean the scanner and the finger, retry.")
            }
            if let accepted {
                templates.append(accepted.template)
            } else {
                let kind: FingerException.Kind = try console.choose("  Exception for \(position.displayName)",
                    FingerException.Kind.allCases.map { ($0.rawValue, $0) })
                let reason = try console.nonEmpty("  Reason")
                exceptions.append(FingerException(position: position, kind: kind, reason: reason))
            }
        }

        heading("4. Summary")
        say("Person:    \(name), IIN \(iin) (born \(iin.birthDate), \(iin.sex.rawValue)), \(citizenship.rawValue)")
        say("Document:  \(documentType.rawValue) \(documentNumber)")
        if let guardian { say("Guardian:  \(guardian.name), IIN \(guardian.iin), application \(guardian.applicationNumber)") }
        say("Consent:   form \(form), term \(term); third parties \(thirdParty ? "yes" : "no"), cross-border \(crossBorder ? "yes" : "no"), publication \(publication ? "yes" : "no")")
        if case .reenrollment(let reason) = kind { say("Re-enrollment: \(reason)") }
        for position in FingerPosition.tenPrint {
            if let t = templates.first(where: { $0.position == position }) {
                say("  \(position.displayName.padding(toLength: 13, withPad: " ", startingAt: 0)) quality \(t.quality)")
            } else if let e = exceptions.first(where: { $0.position == position }) {
                say("  \(position.displayName.padding(toLength: 13, withPad: " ", startingAt: 0)) EXCEPTION \(e.kind.rawValue): \(e.reason)")
            }
        }
        let enrollmentCase = EnrollmentCase(subject: subject, purpose: purpose, kind: kind, consent: consent,
                                            captured: templates, exceptions: exceptions)
        do { try rules.check(enrollmentCase) } catch {
            say(""); say("ENROLLMENT REFUSED: \(error.description)")
            throw ExitCode(2)
        }
        guard try console.yes("Send the enrollment?", default: true) else {
            say("Cancelled: nothing was queued.")
            return
        }

        heading("5. Sending")
        let submitted = try context.desk.submit(enrollmentCase)
        say("Queued \(submitted.sequenceNumbers.count) request(s) in the outbox.")
        let delivered = try context.sendWithProgress(wait: c.sendWaitSeconds)
        let failed = try submitted.sequenceNumbers.compactMap { try context.outbox.item(seq: $0) }.filter { $0.state == .failed }
        if !failed.isEmpty {
            say("FAILED: " + failed.map { "\($0.label): \($0.lastError ?? "")" }.joined(separator: "; "))
        } else if delivered {
            say("Sent.")
        } else {
            say("Queued: the coordinator is unreachable; \(try context.outbox.pending().count) request(s) pending, retried automatically (tanba station send).")
        }
    }
}

// MARK: - verify, revoke, delete

struct StationVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "1:1 verification at the counter: capture fingers and check them against the claimed IIN.")
    @OptionGroup var station: StationOptions
    @Option(help: "The claimed IIN.") var iin: String
    @Option(help: "Fingers to capture, comma-separated (right-thumb, right-index, …).") var fingers = "right-thumb,right-index"
    @Option(help: "With scanner \"files\": FINGER=IMAGE (repeatable).") var image: [String] = []
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let context = try StationContext(station)
        let claimed: IIN
        do { claimed = try IIN(iin) } catch { throw CommandError("invalid IIN: \(error)") }
        let positions = try fingers.split(separator: ",").map { s -> FingerPosition in
            guard let p = FingerPosition(slug: String(s)) else { throw CommandError("unknown finger \"\(s)\"") }
            return p
        }
        var files: [FingerPosition: [String]] = [:]
        for i in image {
            let kv = i.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, let p = FingerPosition(slug: kv[0]) else { throw CommandError("--image \(i): expected FINGER=PATH") }
            files[p, default: []].append(kv[1])
        }
        let (source, close) = try context.captureSource(iin: claimed, files: files, impressionOffset: 20)
        defer { close() }
        let capture = try context.fingerCapture(source)
        var probe: [FingerTemplate] = []
        for p in positions {
            let (best, _) = try capture.best(p, onAttempt: { a in if !json { say("\(p.displayName): quality \(a.quality)") } })
            if let best { probe.append(best.template) }
        }
        guard !probe.isEmpty else { throw CommandError("no finger could be captured") }
        let verification = CounterVerification(caller: context.caller, peer: context.config.coordinatorName,
                                               address: context.config.coordinatorAddress,
                                               deadline: .milliseconds(Int64(context.config.requestTimeoutSeconds * 1000)))
        let result: CounterVerification.Result
        let finalProbe = probe
        do { result = try runBlocking { try await verification.verify(claimed, probe: finalProbe) } } catch {
            throw CommandError("verification failed: \(error)")
        }
        if json {
            struct Out: Encodable { var iin: String; var match: Bool; var score: Float; var threshold: Float; var fingers: [String: Float]; var partial: Bool }
            say(try Output.json(Out(iin: claimed.digits, match: result.isMatch, score: result.score, threshold: result.threshold,
                                    fingers: Dictionary(uniqueKeysWithValues: result.fingerScores.map { ($0.position.slug, $0.score) }),
                                    partial: result.partial)))
        } else {
            say("\(result.isMatch ? "MATCH" : "NO MATCH"): IIN \(claimed), score \(String(format: "%.4f", result.score)) (threshold \(String(format: "%.4f", result.threshold)))"
                + (result.partial ? " — PARTIAL coverage" : ""))
            for s in result.fingerScores { say("  \(s.position.displayName): \(String(format: "%.4f", s.score))") }
        }
    }
}

struct StationRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a person's consent (optionally with deletion of their biometric data the same day).")
    @OptionGroup var station: StationOptions
    @Option(help: "The person's IIN.") var iin: String
    @Option(name: .customLong("person-name"), help: "The person's full name.") var personName: String
    @Option(help: "Reference of the written revocation.") var form: String
    @Option(help: "Filed by a legal representative or guardian (name, IIN).") var filedBy: String?
    @Flag(help: "Also delete the biometric data (DELETE request).") var delete = false

    func run() throws {
        let context = try StationContext(station)
        let subject: IIN
        do { subject = try IIN(iin) } catch { throw CommandError("invalid IIN: \(error)") }
        try context.desk.revokeConsent(ConsentRevocation(subjectIIN: subject, subjectName: personName, date: context.desk.rules.today,
                                                         operatorEmployee: context.config.operatorEmployee, branch: context.config.branch,
                                                         station: context.config.name, formReference: form, filedBy: filedBy,
                                                         deleteData: delete))
        say(try context.sendWithProgress(wait: context.config.sendWaitSeconds) ? "Sent." : "Queued: will be sent when the coordinator is reachable.")
    }
}

struct StationDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "File a request to delete a person's biometric data (deleted the day it is received).")
    @OptionGroup var station: StationOptions
    @Option(help: "The person's IIN.") var iin: String
    @Option(help: "Reason and reference of the written request.") var reason: String

    func run() throws {
        let context = try StationContext(station)
        let subject: IIN
        do { subject = try IIN(iin) } catch { throw CommandError("invalid IIN: \(error)") }
        try context.desk.requestDeletion(iin: subject, reason: reason)
        say(try context.sendWithProgress(wait: context.config.sendWaitSeconds) ? "Sent." : "Queued: will be sent when the coordinator is reachable.")
    }
}

// MARK: - outbox, send, devices

struct StationOutbox: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outbox", abstract: "Show what is waiting to be sent (and, with --all, the history).")
    @Option(help: "Station config file.") var config: String?
    @Option(help: "Outbox database path.") var outbox: String?
    @Flag(help: "Every item, not only pending and failed ones.") var all = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        var c = StationConfig()
        if let config { c = try StationConfig.load(path: config) }
        if let outbox { c.outbox = outbox }
        let box = try Outbox(path: c.outbox)
        let items = try box.items().filter { all || $0.state != .delivered }
        let counts = try box.counts()
        if json {
            struct Item: Encodable {
                var seq: Int64; var requestID: String; var type: String; var state: String; var attempts: Int
                var label: String; var createdAt: String; var lastError: String?; var answer: String?
            }
            struct Out: Encodable { var pending: Int; var delivered: Int; var failed: Int; var items: [Item] }
            say(try Output.json(Out(pending: counts[.pending] ?? 0, delivered: counts[.delivered] ?? 0, failed: counts[.failed] ?? 0,
                                    items: items.map { Item(seq: $0.seq, requestID: $0.requestID.description, type: "\($0.type)",
                                                            state: $0.state.rawValue, attempts: $0.attempts, label: $0.label,
                                                            createdAt: $0.createdAt, lastError: $0.lastError, answer: $0.answer) })))
            return
        }
        say("Outbox \(c.outbox): \(counts[.pending] ?? 0) pending, \(counts[.failed] ?? 0) failed, \(counts[.delivered] ?? 0) delivered")
        for i in items {
            var line = "#\(i.seq) \(i.state.rawValue.uppercased()) \(i.label) — written \(i.createdAt), \(i.attempts) attempt(s)"
            if let e = i.lastError, i.state != .delivered { line += " — last error: \(e)" }
            if let a = i.answer { line += " — \(a)" }
            say(line)
        }
    }
}

struct StationSend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send the outbox, retrying with back-off until it is empty (or forever with --watch).")
    @OptionGroup var station: StationOptions
    @Option(help: "Give up after this many seconds (default: the config's sendWaitSeconds).") var timeout: Double?
    @Flag(help: "Keep running: send new items as they are written (the station's sender service).") var watch = false

    func run() throws {
        let context = try StationContext(station)
        if watch {
            while true {
                _ = try context.sendWithProgress(wait: 3600)
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        let done = try context.sendWithProgress(wait: timeout ?? context.config.sendWaitSeconds)
        say(done ? "Outbox empty." : "\(try context.outbox.pending().count) request(s) still pending.")
        if !done { throw ExitCode(3) }
    }
}

struct StationDevices: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "List the fingerprint devices libfprint finds.")
    @Flag(help: "Include libfprint's virtual_image test device.") var virtual = false

    func run() throws {
        let list = try LibfprintDevice.list(virtualImageSocket: virtual ? VirtualImageFeeder.temporarySocketPath() : nil)
        if list.isEmpty { say("No fingerprint device found.") }
        for (i, d) in list.enumerated() { say("\(i): \(d.name) (driver \(d.driver))\(d.canCapture ? "" : " — cannot capture images")") }
    }
}
