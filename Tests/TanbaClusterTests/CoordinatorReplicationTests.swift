import Crypto
import Foundation
import Synchronization
import TanbaCluster
import TanbaCore
import TanbaReplication
import TanbaStore
import TanbaWire
import Testing

/// The coordinator writes through the embedded StorePrimary: with a synchronous standby a
/// write is answered only once the standby holds it; without the standby nothing is
/// acknowledged, and the retry is acknowledged (once) when it is back.
@Suite(.serialized) struct CoordinatorReplicationTests {
    @Test func enrollUpdateAndDeleteAreOnTheStandbyWhenAnswered() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 2, shards: 4, standby: true)
        defer { Task { await cluster.shutdown() } }
        #expect(cluster.coordinator.replicationStatus.mode == .synchronous)
        for p in 0..<3 { try await cluster.consent(p) }
        for p in 0..<3 {
            let a = try await cluster.enroll(p)
            #expect(a.outcome == .enrolled)
        }
        // Answered, hence on the standby: no wait, no polling.
        let standby = try cluster.openStandby()
        #expect(try standby.personCount == 3)
        #expect(try standby.currentEnrollment(iin: People.iin(1))?.record == People.enrollment(1))

        try await cluster.consent(1)   // re-enrollment: fresh consent [BIO 8]
        guard case .updateAnswer = try await cluster.ask(.update(UpdateRequest(iin: People.iin(1), record: People.record(1, impression: 2),
                                                                                  reason: "scarred", exceptions: People.exceptions))) else {
            throw TestFailure("not an update answer")
        }
        #expect(try standby.currentEnrollment(iin: People.iin(1))?.record == People.record(1, impression: 2))
        guard case .deleteAnswer(let deleted, _) = try await cluster.ask(.delete(DeleteRequest(iin: People.iin(2), reason: "BIO 11"))) else {
            throw TestFailure("not a delete answer")
        }
        #expect(deleted)
        #expect(try standby.person(iin: People.iin(2)) == nil)
        #expect(cluster.coordinator.replicationStatus.writable)
        #expect(cluster.coordinator.status().replication.states[Cluster.standbyName]?.hasPrefix("in step") == true)
    }

    @Test func deadStandbyRefusesToAcknowledgeAndTheRetryEnrollsOnce() async throws {
        let transport = EmbeddedTransport()
        let cluster = try await Cluster(transport: transport, workers: 2, shards: 4, standby: true)
        defer { Task { await cluster.shutdown() } }
        try await cluster.consent(0)
        try await cluster.consent(1)
        _ = try await cluster.enroll(0)
        #expect(cluster.coordinator.isReady)

        transport.setFault(.dead, for: cluster.standbyAddress!)
        let id = RequestID.random()
        let request = WireMessage.enroll(EnrollRequest(iin: People.iin(1), record: People.enrollment(1), exceptions: People.exceptions))
        do {
            _ = try await cluster.ask(request, requestID: id)
            Issue.record("an enrollment the standby does not hold was acknowledged")
        } catch SignedCaller.CallError.remote(let code, let message) {
            #expect(code == .unavailable)
            #expect(message.contains("NOT acknowledged") && message.contains(Cluster.standbyName))
        }
        // Visible: /readyz (isReady) and /cluster (status document).
        #expect(!cluster.coordinator.isReady)
        let status = cluster.coordinator.status()
        #expect(!status.ready && !status.replication.writable)
        #expect(status.replication.lastFailure?.contains("unreachable") == true)
        // Deletion and re-enrollment are refused the same way.
        await #expect(throws: SignedCaller.CallError.self) {
            _ = try await cluster.ask(.delete(DeleteRequest(iin: People.iin(0), reason: "BIO 11")))
        }

        // The standby is back: the station's retry (same request ID) is acknowledged, the
        // person is enrolled once, and the standby holds everything the primary committed.
        transport.setFault(nil, for: cluster.standbyAddress!)
        guard case .enrollAnswer(let answer) = try await cluster.ask(request, requestID: id) else { throw TestFailure("not an enroll answer") }
        #expect(answer.outcome == .enrolled)
        #expect(try cluster.coordinator.store.personCount == 1, "person 0 was deleted, person 1 enrolled once")
        #expect(try cluster.openStandby().personCount == 1)
        #expect(try cluster.openStandby().person(iin: People.iin(0)) == nil)
        #expect(cluster.coordinator.isReady && cluster.coordinator.replicationStatus.lastFailure == nil)
        // And it is searchable (pushed to the workers).
        #expect(try await cluster.identify(People.probe(1)).candidates.first?.iin == People.iin(1))
    }

    @Test func aCoordinatorOnTheStandbysFilesRebuildsItsDirectoryFromTheStore() async throws {
        let cluster = try await Cluster(transport: EmbeddedTransport(), workers: 1, shards: 2, standby: true)
        defer { Task { await cluster.shutdown() } }
        for p in 0..<3 { _ = try await cluster.enroll(p) }
        _ = try await cluster.ask(.delete(DeleteRequest(iin: People.iin(1), reason: "BIO 11")))
        // The directory file stays on the primary's host; the standby has the store only.
        let directory = SubjectDirectory()
        #expect(try directory.rebuild(from: cluster.openStandby()) == 2)
        #expect(directory.all == [People.iin(0), People.iin(2)].sorted() && directory.fingers == 8)
    }

    @Test func asynchronousStandbyNeverHoldsWritesBack() async throws {
        let transport = EmbeddedTransport()
        let cluster = try await Cluster(transport: transport, workers: 1, shards: 2, standby: true, asyncStandby: true)
        defer { Task { await cluster.shutdown() } }
        #expect(cluster.coordinator.replicationStatus.mode == .asynchronous)
        transport.setFault(.dead, for: cluster.standbyAddress!)
        try await cluster.consent(0)
        #expect(try await cluster.enroll(0).outcome == .enrolled)
        #expect(cluster.coordinator.isReady)
        transport.setFault(nil, for: cluster.standbyAddress!)
        // Fed in the background (every 20 ms here).
        var held = 0
        for _ in 0..<200 where held == 0 {
            held = try cluster.openStandby().personCount
            if held == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(held == 1)
    }
}

/// Answers to writes are kept in the store with the change they answer: a coordinator
/// restarted between a station's send and its retry returns the first answer and never
/// enrolls (or deletes, or records a consent) twice.
@Suite(.serialized) struct DurableRequestIDTests {
    @Test func restartedCoordinatorAnswersARetryFromTheStore() async throws {
        let transport = EmbeddedTransport()
        let cluster = try await Cluster(transport: transport, workers: 2, shards: 3, standby: true)
        defer { Task { await cluster.shutdown() } }
        try await cluster.consent(30)
        let iin = People.iin(30)
        let enroll = WireMessage.enroll(EnrollRequest(iin: iin, record: People.enrollment(30), exceptions: People.exceptions))
        let id = RequestID.random()
        // The station sends; the coordinator enrolls; the answer is lost on the way back.
        transport.injectOnce(.dropAnswer, for: cluster.coordinatorAddress)
        await #expect(throws: SignedCaller.CallError.transport(.timedOut)) { try await cluster.ask(enroll, requestID: id) }
        #expect(try cluster.coordinator.store.personCount == 1)
        let requestsBefore = cluster.coordinator.metrics.requests("enroll")

        // The coordinator process restarts: a new instance (empty in-memory caches) on the
        // same store, directory and map, behind a new listener.
        let directory = try SubjectDirectory(path: cluster.directory.appendingPathComponent("directory").path, master: cluster.master)
        let restarted = Coordinator(name: "coordinator", store: cluster.coordinator.store, directory: directory, map: cluster.coordinator.map,
                                    caller: SignedCaller(identity: cluster.identities["coordinator"]!, keyring: cluster.keyring, transport: transport),
                                    logger: Cluster.quietLogger, primary: cluster.coordinator.primary)
        _ = await restarted.reconcile()
        let service = SignedService.withContext(identity: cluster.identities["coordinator"]!, keyring: cluster.keyring) { context, message in
            await restarted.handle(context: context, message: message)
        }
        let listener = try await transport.listen(on: "coordinator-restarted", handler: service.requestHandler)
        defer { Task { await listener.close() } }
        func retry(_ message: WireMessage, _ id: RequestID) async throws -> WireMessage {
            try await cluster.station.call(message, to: "coordinator", at: "coordinator-restarted", deadline: .seconds(30), requestID: id)
        }

        // The station's retry (same request ID): the first answer, from the store.
        guard case .enrollAnswer(let first) = try await retry(enroll, id) else { throw TestFailure("not an enroll answer") }
        #expect(first.outcome == .enrolled && first.coverage.contributed == [restarted.map.shard(of: iin)])
        #expect(try restarted.store.personCount == 1, "enrolled once")
        #expect(restarted.metrics.requests("enroll") == 1 && restarted.metrics.counter("answer_from_store") == 1)
        #expect(cluster.coordinator.metrics.requests("enroll") == requestsBefore)
        // The kept answer was replicated with the enrollment.
        #expect(try cluster.openStandby().personCount == 1)
        // The same ID with other content is refused; a later deletion's retry is answered once.
        await #expect(throws: SignedCaller.CallError.self) {
            _ = try await retry(.enroll(EnrollRequest(iin: People.iin(31), record: People.enrollment(31), exceptions: People.exceptions)), id)
        }
        let deleteID = RequestID.random()
        let delete = WireMessage.delete(DeleteRequest(iin: iin, reason: "BIO 11"))
        guard case .deleteAnswer(true, _) = try await retry(delete, deleteID) else { throw TestFailure("not deleted") }
        // Another restart later: the deletion's retry still says "deleted", not "nothing to delete".
        let again = Coordinator(name: "coordinator", store: cluster.coordinator.store, directory: directory, map: cluster.coordinator.map,
                                caller: SignedCaller(identity: cluster.identities["coordinator"]!, keyring: cluster.keyring, transport: transport),
                                logger: Cluster.quietLogger, primary: cluster.coordinator.primary)
        let context = RequestContext(sender: "station-1", requestID: deleteID, fingerprint: Array(SHA256.hash(data: [delete.type.rawValue] + delete.encodedBody())))
        guard case .deleteAnswer(true, _) = await again.handle(context: context, message: delete) else { throw TestFailure("not the first answer") }
        #expect(try again.store.personCount == 0)
        #expect(try again.store.deletionRecords().count == 1, "deleted once")
    }
}
