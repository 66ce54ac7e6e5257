import Foundation
import Synchronization
import TanbaCluster
import TanbaCore
import TanbaStore
import TanbaTestSupport
import TanbaWire
import Testing

/// No plaintext personal or biometric data anywhere an observer or a thief could look:
/// station → coordinator → 2 workers and a synchronous standby over real nng with mutual
/// TLS (DevelopmentPKI), a TCP recorder on every link (client, each coordinator → worker,
/// coordinator → standby), then every file of the coordinator and the standby and a
/// backup, searched for the IINs, the names sent in CONSENT and windows of template bytes.
/// A positive control shows the same search finds every needle in the unencrypted
/// envelopes that travelled inside TLS.
@Suite(.serialized) struct PlaintextScanTests {
    static func name(_ p: Int) -> String { "Айгерим Нурланқызы Сериккызы-\(p)" }

    @Test func noPlaintextOnAnyLinkOrInAnyFileThroughTheCoordinator() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-scan-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        let names = ["coordinator", "station-1", "admin-1", "worker-1", "worker-2", Cluster.standbyName]
        _ = try DevelopmentPKI.initialize(directory: pki + "/ca")
        for n in names { try DevelopmentPKI.issue(name: n, caDirectory: pki + "/ca", directory: pki + "/nodes") }
        let serverNames = Mutex<[String: String]>([:])
        let transports = Mutex<[String: NNGTransport]>([:])
        func transportOf(_ name: String) throws -> any Transport {
            if let t = transports.withLock({ $0[name] }) { return t }
            let t = NNGTransport(tls: try DevelopmentPKI.loadTLS(name: name, directory: pki + "/nodes"),
                                 serverName: { address in serverNames.withLock { $0[address] } })
            transports.withLock { $0[name] = t }
            return t
        }
        // A recorder in front of every listener: whoever dials a node goes through it.
        let recorders = Mutex<[String: TCPRecorder]>([:])
        func recorded(_ name: String, _ address: String) throws -> String {
            let recorder = try TCPRecorder(upstreamPort: UInt16(address.split(separator: ":").last!)!)
            recorders.withLock { $0[name] = recorder }
            return "tls+tcp://127.0.0.1:\(recorder.port)"
        }
        let listen = "tls+tcp://127.0.0.1:0"
        let cluster = try await Cluster(transport: try transportOf("station-1"), workers: 2, shards: 2, address: { _ in listen },
                                        coordinatorAddress: listen,
                                        register: { name, address in serverNames.withLock { $0[address] = name } },
                                        transportFor: transportOf, standby: true, standbyAddress: listen, syncTimeout: .seconds(5),
                                        dial: recorded)
        defer {
            for r in recorders.withLock({ Array($0.values) }) { r.stop() }
            for t in transports.withLock({ Array($0.values) }) { t.shutdown() }
        }
        #expect(cluster.coordinator.isReady, "\(cluster.coordinator.statusDocument())")
        #expect(Set(recorders.withLock { Array($0.keys) }) == ["coordinator", "worker-1", "worker-2", Cluster.standbyName])

        // Traffic: consent with names, enrollments, a held possible duplicate, identify,
        // verify, a re-enrollment and a deletion.
        let persons = 0..<5
        var envelopes: [UInt8] = []   // what travelled inside TLS, for the positive control
        let station = cluster.identities["station-1"]!
        func send(_ message: WireMessage) async throws -> WireMessage {
            envelopes += station.seal(message, requestID: .random())
            return try await cluster.ask(message)
        }
        for p in persons {
            guard case .consentAnswer(true) = try await send(cluster.consentMessage(People.iin(p), name: Self.name(p))) else {
                throw TestFailure("consent \(p)")
            }
            guard case .enrollAnswer(let a) = try await send(.enroll(EnrollRequest(iin: People.iin(p), record: People.enrollment(p),
                                                                                    exceptions: People.exceptions))),
                  a.outcome == .enrolled else { throw TestFailure("enroll \(p)") }
        }
        _ = try await send(cluster.consentMessage(People.iin(40), name: Self.name(40)))
        guard case .enrollAnswer(let held) = try await send(.enroll(EnrollRequest(iin: People.iin(40), record: People.record(1, impression: 2),
                                                                                  exceptions: People.exceptions))),
              held.outcome == .heldForAdjudication else { throw TestFailure("not held") }
        guard case .identifyAnswer(let found) = try await send(.identify(IdentifyRequest(probe: People.probe(2), topK: 3))),
              found.candidates.first?.iin == People.iin(2) else { throw TestFailure("identify") }
        guard case .verifyAnswer(let v) = try await send(.verify(VerifyRequest(claimedIIN: People.iin(3), probe: People.probe(3)))),
              v.isMatch else { throw TestFailure("verify") }
        _ = try await send(cluster.consentMessage(People.iin(0), name: Self.name(0)))
        guard case .updateAnswer = try await send(.update(UpdateRequest(iin: People.iin(0), record: People.record(0, impression: 0, seedOffset: 5_000_000),
                                                                        reason: "scars", exceptions: People.exceptions))) else {
            throw TestFailure("update")
        }
        guard case .deleteAnswer(true, _) = try await send(.delete(DeleteRequest(iin: People.iin(4), reason: "BIO 11"))) else {
            throw TestFailure("delete")
        }
        // What the coordinator sent the workers, in the clear inside TLS: SHARD_UPSERTs.
        let coordinator = cluster.identities["coordinator"]!
        for p in persons {
            let shard = cluster.coordinator.map.shard(of: People.iin(p))
            envelopes += coordinator.seal(.cluster(.shardUpsert(shard: shard, entry: ShardEntry(subject: ShardMap.subject(of: People.iin(p)),
                                                                                               record: People.enrollment(p)))),
                                          requestID: .random())
        }
        let backup = cluster.directory.appendingPathComponent("backup.db").path
        try cluster.coordinator.store.backup(to: backup)

        // Needles: every IIN (ASCII and as the workers' u64 subject), every name, and 24-byte
        // windows from the middle of each enrolled finger's native template.
        var needles: [(String, [UInt8])] = []
        for p in Array(persons) + [40] {
            let iin = People.iin(p)
            needles.append(("IIN \(p)", Array(iin.digits.utf8)))
            needles.append(("name \(p)", Array(Self.name(p).utf8)))
            // The workers' u64 subject (person 40 is only held: never sent to a worker).
            if p != 40 { needles.append(("subject \(p)", withUnsafeBytes(of: ShardMap.subject(of: iin).littleEndian, Array.init))) }
        }
        for p in persons {
            for view in People.enrollment(p).views {
                let native = try TemplateCodec.encode(FingerprintRecord(views: [view]), as: .native)
                needles.append(("template \(p)/\(view.position)", Array(native[(native.count / 2)..<(native.count / 2 + 24)])))
            }
        }
        // Positive control: each needle is found where it is in the clear.
        // (Booleans, not the byte arrays, go into #expect: a failure should name the needle,
        // not print megabytes.)
        let missed = needles.filter { !ByteSearch.contains(envelopes, $0.1) }.map(\.0)
        #expect(missed.isEmpty, "the search does not find \(missed) in the plaintext envelopes")

        // Haystacks: every link's capture, every file of both store nodes, the backup.
        // Every link must have carried at least the enrolled templates (both workers hold both
        // shards; the station sent them to the coordinator; the standby got them sealed):
        // a recorder that missed the traffic cannot pass the scan by being empty.
        let templateBytes = try persons.reduce(0) { $0 + (try TemplateCodec.encode(People.enrollment($1), as: .native)).count }
        var haystacks: [(String, [UInt8])] = []
        for (name, recorder) in recorders.withLock({ $0 }) {
            let bytes = recorder.bytes
            let size = bytes.count
            #expect(size > templateBytes, "the link to \(name) carried the traffic (\(size) bytes, templates \(templateBytes))")
            haystacks.append(("link to \(name)", bytes))
        }
        let dir = cluster.directory.path
        let files = ["store.db", "store.db-wal", "store.db.keys", "store.db.keys-wal", "directory",
                     "standby.db", "standby.db-wal", "standby.db.keys", "standby.db.keys-wal"].map { "\(dir)/\($0)" } + [backup]
        for path in files {
            let bytes = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
            haystacks.append((URL(fileURLWithPath: path).lastPathComponent, bytes))
        }
        for required in ["store.db", "standby.db", "backup.db", "directory", "store.db.keys"] {
            let size = haystacks.first { $0.0 == required }?.1.count ?? 0
            #expect(size > 0, "\(required) is searched")
        }
        for (what, bytes) in haystacks {
            let found = needles.filter { ByteSearch.contains(bytes, $0.1) }.map(\.0)
            #expect(found.isEmpty, "plaintext in \(what): \(found)")
        }
        // The files do hold the data: the standby serves the persons the station sent.
        #expect(try cluster.openStandby().person(iin: People.iin(1))?.fullName == Self.name(1) + " " + People.iin(1).digits)
        #expect(try cluster.openStandby().heldEnrollment(iin: People.iin(40)) != nil)
        await cluster.shutdown()
    }
}
