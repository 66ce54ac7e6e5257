import Foundation
import TanbaCore
import TanbaReplication
import TanbaStore
import TanbaWire

/// `tanba chaos --scenario primary-kill --through-coordinator`: the store primary is the
/// one the coordinator embeds. A station-like client streams CONSENT + ENROLL through the
/// coordinator (synchronous standby `store-b`, one worker); the coordinator is killed -9 at
/// a random acknowledgement; the standby is promoted, stopped, and a new coordinator is
/// started on its files (its IIN directory rebuilt from the store); every request not
/// acknowledged is retried **with its original request ID**, so a request the old primary
/// committed and replicated but never answered is answered from the kept answers, never
/// executed twice. Then the new primary's files are checked like `primaryKill`'s.
extension ChaosRun {
    /// A TCP port free right now on 127.0.0.1 (for processes whose config needs one).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CommandError("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts `tanba ARGS…` as `name` (log in the run directory).
    func spawn(_ name: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        let log = "\(dir)/\(name).log"
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = FileHandle(forWritingAtPath: log)!
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes[name] = process
    }

    func writeJSON(_ name: String, _ object: [String: Any]) throws -> String {
        let path = "\(dir)/\(name).json"
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Starts a coordinator on `db` and waits until it answers STATUS ready (every shard
    /// loaded, standby in step).
    func startCoordinator(db: String, address: String, worker: String, standby: String?, caller: SignedCaller) async throws {
        var config: [String: Any] = [
            "name": "coordinator", "listen": address, "pki": pki, "store": db, "masterKeyFile": masterFile,
            "shards": 2, "replicas": 1, "workers": [["name": "worker-1", "address": worker]],
            "shardDeadlineMs": 5000, "reconcileIntervalMs": 300, "syncTimeoutMs": 2000, "logLevel": "notice",
        ]
        if let standby { config["standby"] = ["name": "store-b", "address": standby] }
        try spawn("coordinator", ["coordinator", "--config", try writeJSON("coordinator-\(standby == nil ? "b" : "a")", config)])
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            if case .statusAnswer(let s)? = try? await caller.call(.status, to: "coordinator", at: address, deadline: .seconds(2)), s.ready {
                return
            }
            guard processes["coordinator"]?.isRunning == true else { throw CommandError("the coordinator exited; see \(dir)/coordinator.log") }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw CommandError("the coordinator was not ready within 90 s; see \(dir)/coordinator.log")
    }

    func coordinatorKill() throws -> Result {
        try FileManager.default.createDirectory(atPath: "\(dir)/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/b", withIntermediateDirectories: true)
        var standbyConfig = config("store-b", db: "\(dir)/b/store.db", standby: nil)
        standbyConfig.primaries = ["coordinator"]
        let b = try start("store-b", role: "standby", config: standbyConfig)
        let coordinatorAddress = "tls+tcp://127.0.0.1:\(try Self.freePort())"
        let workerAddress = "tls+tcp://127.0.0.1:\(try Self.freePort())"
        try spawn("worker-1", ["worker", "--config", try writeJSON("worker-1", [
            "name": "worker-1", "listen": workerAddress, "pki": pki, "coordinators": ["coordinator"], "logLevel": "notice",
        ])])
        let caller = try self.caller([coordinatorAddress: "coordinator", b: "store-b", workerAddress: "worker-1"])
        // Each person's CONSENT and ENROLL, with fixed request IDs: a retry is the same request.
        let identity = caller.identity
        let today = EnrollmentRules(now: Date()).today
        let requests: [(consent: WireMessage, enroll: WireMessage)] = try (0..<count).map { i in
            let form = ConsentRecord(operatorEmployee: "chaos", branch: "chaos", station: identity.name, subjectName: "Chaos person \(i)",
                                     subjectIIN: iin(i), date: today, formReference: "chaos-\(runIndex)-\(i)")
            let document = form.canonicalJSON()
            return (.consent(ConsentRequest(iin: iin(i), action: .granted, document: document,
                                            signature: Array(try identity.signingKey.signature(for: document)))),
                    .enroll(EnrollRequest(iin: iin(i), record: record(i))))
        }
        @Sendable func ids(_ i: Int) -> (RequestID, RequestID) {
            (RequestID(high: UInt64(runIndex) << 32 | 0xC0, low: UInt64(i)), RequestID(high: UInt64(runIndex) << 32 | 0xE0, low: UInt64(i)))
        }
        @Sendable func send(_ i: Int, at address: String) async -> Bool {
            let (consentID, enrollID) = ids(i)
            do {
                _ = try await caller.call(requests[i].consent, to: "coordinator", at: address, deadline: .seconds(10), requestID: consentID)
                let answer = try await caller.call(requests[i].enroll, to: "coordinator", at: address, deadline: .seconds(10), requestID: enrollID)
                if case .enrollAnswer(let a) = answer, a.outcome == .enrolled { return true }
            } catch {}
            return false
        }
        var rng = SystemRandomNumberGenerator()
        let killAt = Int.random(in: max(1, count / 10)...max(1, count * 9 / 10), using: &rng)
        let count = self.count, clients = self.clients
        let (acked, note) = try blocking { [self] () async throws -> (Set<Int>, String) in
            try await startCoordinator(db: "\(dir)/a/store.db", address: coordinatorAddress, worker: workerAddress, standby: b, caller: caller)
            let coordinatorPID = processes["coordinator"]!.processIdentifier
            let next = Locked(0), acked = Locked(Set<Int>()), killed = Locked(false)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        while !killed.with({ $0 }) {
                            guard let i = next.with({ n -> Int? in defer { n += 1 }; return n < count ? n : nil }) else { return }
                            guard await send(i, at: coordinatorAddress) else { continue }
                            let n = acked.with { $0.insert(i); return $0.count }
                            if n == killAt, killed.with({ k in defer { k = true }; return !k }) { kill(coordinatorPID, SIGKILL) }
                        }
                    }
                }
            }
            let first = acked.with { $0 }
            // Failover: promote the standby, release its files, start a coordinator on them.
            let link = NetworkReplicationLink(caller: caller, peer: "store-b", address: b, deadline: .seconds(30))
            let position = try await link.promote()
            stop("store-b")
            stop("coordinator")
            try await startCoordinator(db: "\(dir)/b/store.db", address: coordinatorAddress, worker: workerAddress, standby: nil,
                                       caller: caller)
            var second = Set<Int>()
            for i in 0..<count where !first.contains(i) {
                if await send(i, at: coordinatorAddress) { second.insert(i) }
            }
            caller.transport.shutdownIfNNG()
            return (first.union(second), "coordinator killed -9 after \(min(killAt, first.count)) acks; \(first.count) acknowledged before, "
                    + "\(second.count) after the failover (standby promoted at entry \(position.seq)); \(count - first.union(second).count) never acknowledged")
        }
        stop("coordinator")
        stop("worker-1")
        var result = Result()
        result.acknowledged = acked.count
        result.note = note
        let check = try verify(db: "\(dir)/b/store.db", acknowledged: acked)
        result.lost = check.lost
        result.duplicated = check.duplicated
        if !check.auditOK { result.diverged = true }
        if check.persons != acked.count { result.note += "; \(check.persons) persons for \(acked.count) acknowledged" }
        return result
    }
}
