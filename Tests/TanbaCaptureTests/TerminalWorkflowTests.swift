import Foundation
import Testing
import TanbaCore
import TanbaImaging
import TanbaMatch
import TanbaSynth
import TanbaWire
import Synchronization
@testable import TanbaCapture

/// The operator workflow as a person uses it: `tanba station enroll` runs in a tmux pane,
/// the test types with send-keys and reads the screen with capture-pane, from the first
/// question to "Sent.". The cluster is the real one, as processes: `cluster/local-up` starts
/// the coordinator, its synchronous store standby and two workers from this build's `tanba`
/// binary, with mutual TLS on every listener; the station talks to it as a branch would.
@Suite(.serialized) struct TerminalWorkflowTests {
    static let binary: String? = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [exe.appendingPathComponent("tanba").path,
                          exe.deletingLastPathComponent().appendingPathComponent("tanba").path]
        where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return nil
    }()
    static let tmux: String? = ["/usr/bin/tmux", "/usr/local/bin/tmux"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs tmux with posix_spawn and waitpid (Foundation's Process can miss the exit of a
    /// short-lived child here). Output is read only when asked for: the tmux server that
    /// `new-session` starts would inherit the pipe and keep it open for ever.
    @discardableResult
    static func run(_ args: [String], output: Bool = false) throws -> String {
        try spawn(tmux!, args, output: output).output
    }

    static func spawnOffPool(_ executable: String, _ args: [String], output: Bool = false) async throws -> (status: Int32, output: String) {
        try await offPool { try spawn(executable, args, output: output) }
    }

    /// Starts `executable` without waiting (stdout and stderr to `log`); returns its pid.
    static func start(_ executable: String, _ args: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw CaptureError.device("posix_spawn \(executable): \(rc)") }
        return pid
    }

    /// Runs `executable` and waits; returns its exit status and (when asked) its stdout.
    static func spawn(_ executable: String, _ args: [String], output: Bool = false) throws -> (status: Int32, output: String) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var fds: [Int32] = [-1, -1]
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        if output {
            guard pipe(&fds) == 0 else { throw CaptureError.device("pipe failed") }
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
            posix_spawn_file_actions_addclose(&actions, fds[0])
            // Only fd 1 may hold the pipe: a copy under its original number would be inherited
            // by daemons the child starts (cluster/local-up's nohup'ed nodes) and the read
            // below would never see the end of the output.
            posix_spawn_file_actions_addclose(&actions, fds[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        let argv = ([executable] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        if output { close(fds[1]) }
        guard rc == 0 else { throw CaptureError.device("posix_spawn \(executable): \(rc)") }
        var text = [UInt8]()
        if output {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fds[0], &buffer, buffer.count)
                if n <= 0 { break }
                text += buffer[0..<n]
            }
            close(fds[0])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
        return (exitStatus, String(decoding: text, as: UTF8.self))
    }

    struct Pane {
        let session: String
        func screen() throws -> String { try TerminalWorkflowTests.run(["capture-pane", "-p", "-J", "-t", session, "-S", "-1000"], output: true) }
        func type(_ text: String) throws {
            if !text.isEmpty { try TerminalWorkflowTests.run(["send-keys", "-t", session, "-l", text]) }
            try TerminalWorkflowTests.run(["send-keys", "-t", session, "Enter"])
        }
        /// Waits until `text` appears on screen at least `count` times (sleeping, not blocking).
        func wait(for text: String, count: Int = 1, timeout: Double = 30) async throws {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end {
                if try screen().components(separatedBy: text).count - 1 >= count { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("timed out waiting for \"\(text)\" (×\(count)); screen:\n\(try screen())")
            throw CancellationError()
        }
        /// Waits for the prompt, then answers it.
        func answer(_ prompt: String, _ text: String, count: Int = 1) async throws {
            try await wait(for: prompt, count: count)
            try type(text)
        }
    }

    /// `cluster/local-up` in a temporary run directory on a random base port: real processes,
    /// this build's binary. `down()` runs `cluster/local-down` (SIGTERM, then SIGKILL).
    struct LocalUp {
        static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let run: String
        let base: Int
        var address: String { "tls+tcp://127.0.0.1:\(base)" }
        var nodes: String { run + "/pki/nodes" }

        static func start(binary: String) async throws -> LocalUp {
            let run = CaptureFixtures.temporaryPath("local-up")
            let base = 20_000 + Int.random(in: 0..<400) * 100
            let up = try await TerminalWorkflowTests.spawnOffPool("/usr/bin/env", [
                "TANBA_BIN=\(binary)", "/bin/bash", repository + "/cluster/local-up", "--workers", "2", "--spare", "0",
                "--base-port", "\(base)", "--run-dir", run], output: true)
            let cluster = LocalUp(run: run, base: base)
            guard up.status == 0 else {
                let log = (try? String(contentsOfFile: run + "/logs/coordinator.log", encoding: .utf8)) ?? ""
                cluster.down()
                throw CaptureError.device("cluster/local-up failed (\(up.status)): \(up.output)\n\(log.suffix(2000))")
            }
            return cluster
        }

        func down() {
            _ = try? TerminalWorkflowTests.spawn("/bin/bash", [Self.repository + "/cluster/local-down", "--run-dir", run])
        }

        /// A station's signed caller over nng mutual TLS with `name`'s keys from the run's PKI.
        func caller(_ name: String = "station-1") throws -> SignedCaller {
            SignedCaller(identity: try DevelopmentPKI.loadIdentity(name: name, directory: nodes),
                         keyring: try DevelopmentPKI.loadKeyring(directory: nodes),
                         transport: NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: nodes)))
        }
    }

    @Test func operatorEnrollsAPersonFromFirstQuestionToSent() async throws {
        guard let binary = Self.binary, Self.tmux != nil else {
            print("skipping: needs tmux and the tanba binary (swift build --build-tests)")
            return
        }
        // The real cluster as processes; its PKI issued the station's certificate and keys.
        let cluster = try await LocalUp.start(binary: binary)
        defer { cluster.down() }
        let root = CaptureFixtures.temporaryPath("terminal")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

        var config = StationConfig()
        config.name = "station-1"
        config.branch = "branch 17"
        config.operatorEmployee = "A. Operator"
        config.coordinatorAddress = cluster.address
        config.pki = cluster.nodes
        config.outbox = root + "/outbox.db"
        config.scanner = "virtual"
        config.minimumQuality = 30
        let configPath = root + "/station.json"
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: configPath))

        let session = "tanba-station-\(getpid())"
        try Self.run(["new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                      "\(binary) station enroll --config \(configPath) --virtual-smudge left-ring:1; echo EXIT=$?; sleep 30"])
        defer { _ = try? Self.run(["kill-session", "-t", session]) }
        let pane = Pane(session: session)

        let person = CaptureFixtures.adult
        var mistyped = Array(person.digits)
        mistyped[11] = mistyped[11] == "0" ? "1" : "0"

        try await pane.wait(for: "Tanba capture station station-1")
        try await pane.answer("Document type", "")
        try await pane.answer("Document number", "N0123456")
        try await pane.answer("IIN (12 digits)", String(mistyped))
        try await pane.wait(for: "please re-enter")
        try await pane.answer("IIN (12 digits)", person.digits, count: 2)
        try await pane.wait(for: "IIN valid: born 1990-03-14 (age 36), male")
        try await pane.answer("Full name", "Aigerim Test")
        try await pane.answer("Citizenship", "")
        try await pane.answer("Declared legally incapable", "")
        try await pane.answer("Re-enrollment", "n")
        try await pane.answer("Consent form reference", "F-17/2026/0001")
        try await pane.answer("Term of consent", "")
        try await pane.answer("third parties", "n")
        try await pane.answer("Cross-border transfer", "n")
        try await pane.answer("Publication in public sources", "n")
        try await pane.answer("signed the consent form", "y")
        try await pane.wait(for: "signed by station station-1")
        for (i, position) in FingerPosition.tenPrint.enumerated() where position != .leftLittle {
            try await pane.answer("[\(i + 1)/10] Place the \(position.displayName) on the scanner", "")
            if position == .leftRing {
                // The first placement is smudged: quality shown, too low, retry.
                try await pane.wait(for: "Below the minimum quality")
                try await pane.answer("[9/10] Place the LEFT RING on the scanner", "", count: 2)
                try await pane.wait(for: "attempt 2: quality")
            }
        }
        // The left little finger is bandaged: exception with a reason.
        try await pane.answer("[10/10] Place the LEFT LITTLE on the scanner", "x")
        try await pane.answer("Exception for LEFT LITTLE", "bandaged")
        try await pane.answer("Reason", "bandage after a cut")
        try await pane.wait(for: "== 4. Summary ==")
        try await pane.wait(for: "EXCEPTION bandaged: bandage after a cut")
        try await pane.answer("Send the enrollment?", "")
        try await pane.wait(for: "Sent.", timeout: 30)
        try await pane.wait(for: "EXIT=0")
        let screen = try pane.screen()
        if ProcessInfo.processInfo.environment["TANBA_SHOW_SCREEN"] != nil { print(screen) }
        #expect(screen.contains("[2/2] ENROLL \(person.digits) (9 fingers)"))
        #expect(screen.contains("delivered: enrolled"))

        #expect(!screen.contains("Queued:"))   // delivered, not left queued for the sender
        // The outbox is empty and says so.
        let outbox = try Outbox(path: config.outbox)
        #expect(try outbox.pending().isEmpty && (try outbox.counts()[.delivered]) == 2)
        let listing = try await Self.spawnOffPool(binary, ["station", "outbox", "--config", configPath, "--all"], output: true)
        #expect(listing.status == 0 && listing.output.contains("0 pending, 0 failed, 2 delivered"))
        #expect(listing.output.contains("DELIVERED ENROLL \(person.digits)"))

        // At the counter: the same person (other impressions) matches; a claim on another IIN is not found.
        let verify = try await Self.spawnOffPool(binary, ["station", "verify", "--config", configPath, "--iin", person.digits, "--json"], output: true)
        #expect(verify.status == 0 && verify.output.contains("\"match\":true"), "\(verify.output)")
        let stranger = CaptureFixtures.iin(born: .init(year: 1975, month: 2, day: 2), serial: 77)
        let notEnrolled = try await Self.spawnOffPool(binary, ["station", "verify", "--config", configPath, "--iin", stranger.digits], output: true)
        #expect(notEnrolled.status != 0)

        // 1:N at the cluster: two fresh impressions of the virtual person (as the station's
        // virtual scanner renders them, impressions the enrollment never used) identify them.
        let virtualSeed = config.virtualSeed
        let probe = try await offPool { () throws -> [FingerTemplate] in
            let generator = SyntheticFingerprintGenerator(seed: virtualSeed)
            let virtualPerson = Int(UInt64(person.digits)! % 1_000_003)
            return try [FingerPosition.rightThumb, .rightIndex].map { position in
                try MinutiaeExtractor().extract(generator.impression(of: generator.master(finger: virtualPerson * 10 + Int(position.rawValue)),
                                                                     index: 33), dpi: 500, position: position)
            }
        }
        let answer = try await cluster.caller().call(.identify(IdentifyRequest(probe: FingerprintRecord(views: probe), topK: 5)),
                                                     to: "coordinator", at: cluster.address, deadline: .seconds(30))
        guard case .identifyAnswer(let identified) = answer else { Issue.record("no IDENTIFY answer: \(answer)"); return }
        #expect(identified.candidates.first?.iin == person && !identified.coverage.isPartial, "\(identified)")
        // The standby holds the enrollment too (synchronous replication): the coordinator's
        // /cluster view reports the standby writable and in step.
        let replication = try await Self.spawnOffPool("/usr/bin/curl", ["-fsS", "http://127.0.0.1:\(cluster.base + 80)/cluster"], output: true)
        #expect(replication.output.contains("\"writable\":true") || replication.output.contains("\"writable\" : true"), "\(replication.output)")
    }

    /// A real kill -9 of the station's sender while the coordinator is executing its ENROLL:
    /// the restarted sender resends the same request ID and the person is enrolled once.
    @Test func killMinus9OfTheSenderMidRequestNeverEnrollsTwice() async throws {
        guard let binary = Self.binary else { print("skipping: needs the tanba binary"); return }
        let root = CaptureFixtures.temporaryPath("kill9")
        let nodes = root + "/nodes"
        try DevelopmentPKI.initialize(directory: root + "/ca")
        for name in ["coordinator", "station-17"] { try DevelopmentPKI.issue(name: name, caDirectory: root + "/ca", directory: nodes) }
        // The real coordinator (in-process, over nng) takes 1.5 s more over each ENROLL: the
        // station is killed in that window.
        let cluster = try await RealCluster(coordinatorIdentity: try DevelopmentPKI.loadIdentity(name: "coordinator", directory: nodes),
                                            keyring: try DevelopmentPKI.loadKeyring(directory: nodes),
                                            listen: (NNGTransport(), "tcp://127.0.0.1:0"), enrollDelay: .milliseconds(1500),
                                            today: { EnrollmentRules(now: Date()).today })
        defer { Task { await cluster.shutdown() } }
        let enrollReceived = cluster.enrollRequests

        let outboxPath = root + "/outbox.db"
        let station = try DevelopmentPKI.loadIdentity(name: "station-17", directory: nodes)
        let desk = EnrollmentDesk(identity: station, profile: CaptureFixtures.profile, outbox: try Outbox(path: outboxPath))
        let subject = CaptureFixtures.subject()
        _ = try desk.submit(EnrollmentCase(subject: subject, consent: try desk.consent(for: subject, formReference: "F-1"),
                                           captured: CaptureFixtures.tenTemplates()))
        let args = ["station", "send", "--name", "station-17", "--pki", nodes, "--outbox", outboxPath,
                    "--coordinator", cluster.address]
        let pid = try Self.start(binary, args + ["--watch"], log: root + "/sender.log")
        let end = Date().addingTimeInterval(20)
        while enrollReceived.value == 0 && Date() < end { try await Task.sleep(for: .milliseconds(20)) }
        #expect(enrollReceived.value == 1)
        kill(pid, SIGKILL)
        let status = try await offPool { () -> Int32 in
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status
        }
        #expect((status & 0x7F) == SIGKILL)
        // The ENROLL is still pending in the outbox (the answer never arrived)...
        #expect(try Outbox(path: outboxPath).pending().map(\.type) == [.enroll])
        // ...and `tanba station outbox` shows it as pending work.
        let listing = try await Self.spawnOffPool(binary, ["station", "outbox", "--outbox", outboxPath], output: true)
        #expect(listing.status == 0 && listing.output.contains("1 pending, 0 failed, 1 delivered")
                && listing.output.contains("PENDING ENROLL \(subject.iin)"), "\(listing.output)")
        try await Task.sleep(for: .milliseconds(1600)) // ...while the coordinator finished executing it.
        #expect(try cluster.audit(subject.iin, operation: "enroll") == ["ok"])

        // Restart: the same request ID is resent and answered from the answers the
        // coordinator keeps in its store with the change (durable request IDs).
        let again = try await Self.spawnOffPool(binary, args + ["--timeout", "20"], output: true)
        #expect(again.status == 0 && again.output.contains("Outbox empty."), "\(again.output)")
        // The resend is answered by the coordinator's request de-duplication (its in-memory
        // cache while the process lives; the answers kept in the store after a restart, which
        // loadtest/branch-outage exercises with kill -9): executed once, one store enrollment.
        #expect(enrollReceived.value == 1)
        #expect(try cluster.audit(subject.iin, operation: "enroll") == ["ok"])
        #expect(try cluster.archived(subject.iin).isEmpty && cluster.enrolledIINs() == [subject.iin.digits])
        #expect(try Outbox(path: outboxPath).items().last?.answer == "enrolled")
    }

    @Test func operatorSeesTheAgeRefusalBeforeAnyFingerIsCaptured() async throws {
        guard let binary = Self.binary, Self.tmux != nil else { print("skipping: needs tmux and the tanba binary"); return }
        let root = CaptureFixtures.temporaryPath("terminal-refusal")
        try DevelopmentPKI.initialize(directory: root + "/ca")
        try DevelopmentPKI.issue(name: "station-17", caDirectory: root + "/ca", directory: root + "/nodes")
        let session = "tanba-refusal-\(getpid())"
        try Self.run(["new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                      "\(binary) station enroll --name station-17 --pki \(root)/nodes --outbox \(root)/outbox.db --coordinator tcp://127.0.0.1:1 --scanner virtual; echo EXIT=$?; sleep 30"])
        defer { _ = try? Self.run(["kill-session", "-t", session]) }
        let pane = Pane(session: session)
        let seventeen = CaptureFixtures.iin(born: .init(year: 2009, month: 1, day: 5), sex: .female)
        try await pane.answer("Document type", "")
        try await pane.answer("Document number", "N77")
        try await pane.answer("IIN (12 digits)", seventeen.digits)
        try await pane.wait(for: "(age 17), female")
        try await pane.answer("Full name", "Young Person")
        try await pane.answer("Citizenship", "")
        try await pane.answer("Declared legally incapable", "n")
        try await pane.wait(for: "ENROLLMENT REFUSED: refused: the person is 17; enrollment for public services is from age 18")
        try await pane.wait(for: "EXIT=2")
        #expect(!(try pane.screen()).contains("Place the"))
    }

    @Test func scriptedEnrollmentRefusesWithExitStatus2AndQueuesNothing() async throws {
        guard let binary = Self.binary else { print("skipping: needs the tanba binary"); return }
        let root = CaptureFixtures.temporaryPath("scripted")
        try DevelopmentPKI.initialize(directory: root + "/ca")
        try DevelopmentPKI.issue(name: "station-17", caDirectory: root + "/ca", directory: root + "/nodes")
        let minor = CaptureFixtures.iin(born: .init(year: 2010, month: 6, day: 1))
        let request = """
            {"iin": "\(minor.digits)", "name": "Minor Person", "documentNumber": "N1",
             "consent": {"form": "F-1", "signed": true}}
            """
        try Data(request.utf8).write(to: URL(fileURLWithPath: root + "/request.json"))
        let args = ["station", "enroll", "--name", "station-17", "--pki", root + "/nodes", "--outbox", root + "/outbox.db",
                    "--coordinator", "tcp://127.0.0.1:1", "--scanner", "virtual", "--request", root + "/request.json", "--json"]
        let result = try await Self.spawnOffPool(binary, args, output: true)
        #expect(result.status == 2)
        #expect(result.output.contains("\"status\":\"refused\""))
        #expect(result.output.contains("from age 18"))
        let outbox = try await Self.spawnOffPool(binary, ["station", "outbox", "--outbox", root + "/outbox.db", "--json"], output: true)
        #expect(outbox.status == 0 && outbox.output.contains("\"pending\":0"))

        // Every finger missing: refused by the ten-finger rule, nothing captured.
        let exceptions = FingerPosition.tenPrint.map { "--exception=\($0.slug):missing:amputation" }
        let all = try await Self.spawnOffPool(binary, ["station", "enroll", "--name", "station-17", "--pki", root + "/nodes",
                                          "--outbox", root + "/outbox.db", "--coordinator", "tcp://127.0.0.1:1",
                                          "--iin", CaptureFixtures.adult.digits, "--person-name", "A", "--document-number", "N2",
                                          "--form", "F-2", "--json"] + exceptions, output: true)
        #expect(all.status == 2 && all.output.contains("BIO 10"))
    }
}

@Suite struct StationConfigTests {
    @Test func theSampleConfigParsesAndMissingKeysTakeDefaults() throws {
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/station.json").path
        let config = try StationConfig.load(path: sample)
        #expect(config.name == "station-17" && config.imageExport == "none" && config.maximumAttempts == 3)
        let partial = try JSONDecoder().decode(StationConfig.self, from: Data(#"{"name": "station-2", "minimumQuality": 55}"#.utf8))
        #expect(partial.name == "station-2" && partial.minimumQuality == 55 && partial.scanner == "libfprint"
                && partial.retryMaximumMilliseconds == 30_000)
    }

    @Test func imagesCannotBeSetToLeaveUnencrypted() {
        #expect(throws: StationConfigError.self) {
            try JSONDecoder().decode(StationConfig.self, from: Data(#"{"imageExport": "plain"}"#.utf8))
        }
        #expect(throws: StationConfigError.self) {
            try JSONDecoder().decode(StationConfig.self, from: Data(#"{"imageExport": "encrypted"}"#.utf8))
        }
        #expect(FingerPosition(slug: "left-little") == .leftLittle && FingerPosition(slug: "3") == .rightMiddle)
        #expect(FingerPosition(slug: "nose") == nil)
    }
}

/// A thread-safe counter for handlers.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
