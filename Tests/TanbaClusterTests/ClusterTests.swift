import Foundation
import Synchronization
import TanbaCluster
import TanbaCore
import TanbaSQLite
import TanbaStore
import Testing
import TanbaWire

@Suite struct ShardMapTests {
    @Test func placementPutsTwoDistinctReplicasPerShardAndBalancesLoads() {
        let map = ShardMap(shardCount: 16, workers: (1...3).map { ShardMap.Worker(name: "worker-\($0)", address: "a\($0)") })
        #expect(map.placement.count == 16)
        for list in map.placement { #expect(list.count == 2 && Set(list).count == 2) }
        let loads = (1...3).map { map.shards(on: "worker-\($0)").count }
        #expect(loads.reduce(0, +) == 32 && loads.max()! - loads.min()! <= 1)
        // One worker: one replica each.
        let single = ShardMap(shardCount: 4, workers: [ShardMap.Worker(name: "w", address: "a")])
        #expect(single.placement == Array(repeating: ["w"], count: 4))
    }

    @Test func addingAWorkerMovesFewReplicasAndRemovingOneKeepsTwoReplicas() {
        let three = ShardMap.balance(current: [], shardCount: 16, replicas: 2, workers: ["w1", "w2", "w3"])
        let four = ShardMap.balance(current: three, shardCount: 16, replicas: 2, workers: ["w1", "w2", "w3", "w4"])
        let moved = zip(three, four).reduce(0) { $0 + Set($1.1).subtracting($1.0).count }
        #expect(moved == 8, "only the new worker's share moves")
        #expect(four.allSatisfy { Set($0).count == 2 })
        let back = ShardMap.balance(current: four, shardCount: 16, replicas: 2, workers: ["w1", "w2", "w4"])
        #expect(back.allSatisfy { Set($0).count == 2 && !$0.contains("w3") })
        #expect(ShardMap.balance(current: four, shardCount: 16, replicas: 2, workers: ["w1", "w2", "w3", "w4"]) == four)
    }

    @Test func subjectsAreIINValuesAndShardsAreStable() throws {
        let iin = People.iin(0)
        #expect(ShardMap.subject(of: iin) == UInt64(iin.digits)!)
        #expect(ShardMap.iin(ofSubject: UInt64(iin.digits)!) == iin)
        let counts = (0..<4000).reduce(into: [Int](repeating: 0, count: 8)) { c, p in
            c[Int(ShardMap.shard(ofSubject: ShardMap.subject(of: People.iin(p)), shardCount: 8))] += 1
        }
        #expect(counts.min()! > 400, "consecutive IINs spread over the shards: \(counts)")
        #expect(ShardMap.shard(ofSubject: 850_417_400_127, shardCount: 8) == ShardMap.shard(ofSubject: 850_417_400_127, shardCount: 8))
    }
}

/// Whole-cluster behaviour over EmbeddedTransport: deterministic, no sockets, no sleeps.
@Suite struct ClusterOverEmbeddedTransportTests {
    static let persons = 16

    func makeCluster(workers: Int = 3, shards: Int = 6, standby: Bool = false) async throws -> (Cluster, EmbeddedTransport) {
        let transport = EmbeddedTransport()
        let cluster = try await Cluster(transport: transport, workers: workers, shards: shards,
                                        extraNames: ["worker-4", "intruder"], standby: standby)
        #expect(cluster.coordinator.isReady)
        for p in 0..<Self.persons {
            let answer = try await cluster.enroll(p)
            #expect(answer.outcome == .enrolled, "person \(p): \(answer)")
            #expect(!answer.coverage.isPartial)
        }
        return (cluster, transport)
    }

    @Test func enrollIdentifyVerifyUpdateDelete() async throws {
        let (cluster, _) = try await makeCluster(standby: true)
        defer { Task { await cluster.shutdown() } }
        // IDENTIFY: every mated probe finds its person first, with every shard contributing.
        for p in [0, 5, 11, 15] {
            let answer = try await cluster.identify(People.probe(p))
            #expect(answer.candidates.first?.iin == People.iin(p), "person \(p): \(answer.candidates)")
            #expect(answer.coverage.contributed == (0..<6).map { UInt16($0) } && !answer.coverage.isPartial)
            #expect(answer.candidates.first?.fingerScores.count == People.fingers.count)
        }
        // A one-finger probe works too.
        let one = try await cluster.identify(People.record(7, impression: 2, fingers: [.rightIndex]))
        #expect(one.candidates.first?.iin == People.iin(7))
        // A stranger: nobody above the threshold.
        let stranger = try await cluster.identify(People.probe(500))
        #expect(stranger.candidates.isEmpty && !stranger.coverage.isPartial)

        // VERIFY: the right person matches, another claim does not.
        guard case .verifyAnswer(let yes) = try await cluster.ask(.verify(VerifyRequest(claimedIIN: People.iin(3), probe: People.probe(3)))),
              case .verifyAnswer(let no) = try await cluster.ask(.verify(VerifyRequest(claimedIIN: People.iin(4), probe: People.probe(3)))) else {
            Issue.record("not verify answers"); return
        }
        #expect(yes.isMatch && yes.fusedScore >= yes.threshold && yes.coverage.contributed.count == 1)
        #expect(!no.isMatch)
        await #expect(throws: SignedCaller.CallError.self) {
            try await cluster.ask(.verify(VerifyRequest(claimedIIN: People.iin(900), probe: People.probe(3))))
        }

        // UPDATE: person 2 re-enrolls with other fingers; the old record stops matching.
        try await cluster.consent(2)   // re-enrollment needs fresh consent [BIO 8]
        guard case .updateAnswer(let archived, let coverage) = try await cluster.ask(.update(UpdateRequest(
            iin: People.iin(2), record: People.record(2, impression: 0, seedOffset: 7_000_000), reason: "scars", exceptions: People.exceptions))) else {
            Issue.record("not an update answer"); return
        }
        #expect(archived && !coverage.isPartial)
        #expect(try await cluster.identify(People.probe(2)).candidates.first?.iin != People.iin(2))
        #expect(try await cluster.identify(People.record(2, impression: 1, seedOffset: 7_000_000)).candidates.first?.iin == People.iin(2))
        #expect(try cluster.coordinator.store.archivedEnrollments(iin: People.iin(2), by: Actor(login: "t", role: "supervisor", basis: "test")).count == 1)

        // DELETE [BIO 11]: once answered, gone from every node. A backup is taken first.
        let victim = People.iin(5)
        let subject = ShardMap.subject(of: victim)
        let shard = cluster.coordinator.map.shard(of: victim)
        let replicas = cluster.coordinator.map.placement[Int(shard)]
        #expect(replicas.count == 2)
        for w in replicas { #expect(cluster.workers[w]!.shards(holding: subject) == [shard], "\(w) holds the person before") }
        let backup = cluster.directory.appendingPathComponent("before-deletion.db").path
        try cluster.coordinator.store.backup(to: backup)
        let standbyShreddedBefore = try cluster.openStandby().keys.shreddedOwners()
        guard case .deleteAnswer(let deleted, let deleteCoverage) = try await cluster.ask(.delete(DeleteRequest(iin: victim, reason: "subject's request"))) else {
            Issue.record("not a delete answer"); return
        }
        #expect(deleted && deleteCoverage.contributed == [shard] && !deleteCoverage.isPartial)
        // No worker holds the person in any shard: neither replica's gallery, nor any other.
        for (name, w) in cluster.workers { #expect(w.shards(holding: subject).isEmpty, "\(name) still holds the deleted person") }
        // Asked directly over the wire, as the coordinator would: both replicas say "not found".
        for w in replicas {
            guard case .cluster(.shardVerifyAnswer(let a)) = try await cluster.coordinator.caller.call(
                .cluster(.shardVerify(ShardVerify(shard: shard, subject: subject, probe: People.probe(5)))),
                to: w, at: w, deadline: .seconds(5)) else { Issue.record("\(w): no SHARD_VERIFY answer"); continue }
            #expect(!a.found && a.coverage.contributed == [shard], "\(w) still verifies the deleted person")
        }
        // IDENTIFY by every one of the person's fingers, alone and together: nothing.
        for finger in People.fingers {
            let answer = try await cluster.identify(People.record(5, impression: 1, fingers: [finger]))
            #expect(!answer.coverage.isPartial && answer.candidates.allSatisfy { $0.iin != victim }, "finger \(finger)")
        }
        #expect(try await cluster.identify(People.probe(5)).candidates.allSatisfy { $0.iin != victim })
        // VERIFY of that IIN: unknown.
        do {
            _ = try await cluster.ask(.verify(VerifyRequest(claimedIIN: victim, probe: People.probe(5))))
            Issue.record("VERIFY of a deleted person answered")
        } catch SignedCaller.CallError.remote(let code, _) {
            #expect(code == .notFound)
        }
        // The store and the synchronous standby: no such person; on the standby the person's
        // data key (and their consent document's) is tombstoned.
        #expect(try cluster.coordinator.store.person(iin: victim) == nil)
        let standbyStore = try cluster.openStandby()
        #expect(try standbyStore.person(iin: victim) == nil && standbyStore.currentEnrollment(iin: victim) == nil)
        let standbyShredded = try standbyStore.keys.shreddedOwners()
        #expect(standbyShredded.subtracting(standbyShreddedBefore).count == 2, "the person's and the consent document's keys")
        #expect(standbyShredded == (try cluster.coordinator.store.keys.shreddedOwners()))
        // The backup from before the deletion still holds the ciphertext, but neither node's
        // key store can open it; a restore removes those rows.
        for (label, keys) in [("primary", cluster.directory.appendingPathComponent("store.db.keys").path),
                              ("standby", cluster.directory.appendingPathComponent("standby.db.keys").path)] {
            let restoredPath = cluster.directory.appendingPathComponent("restored-\(label).db").path
            try Database.restore(from: backup, to: restoredPath)
            let restored = try Store(path: restoredPath, keyStorePath: keys, master: cluster.master, replication: false)
            #expect(throws: KeyError.dataKeyDestroyed, "\(label)") { _ = try restored.person(iin: victim) }
            #expect(throws: KeyError.dataKeyDestroyed, "\(label)") { _ = try restored.currentEnrollment(iin: victim) }
            #expect(try restored.person(iin: People.iin(6)) != nil, "\(label): others still readable")
            #expect(try restored.reconcileShredded(by: Actor(login: "t", role: "ops", basis: "restore")) == 1)
            #expect(try restored.person(iin: victim) == nil)
        }
        // REFERENCE_COUNT, STATUS, PING, PENDING_JOBS.
        guard case .referenceCountAnswer(let persons, let fingers, let rc) = try await cluster.ask(.referenceCount) else { Issue.record("rc"); return }
        #expect(persons == UInt64(Self.persons - 1) && fingers == persons * 4 && !rc.isPartial)
        guard case .statusAnswer(let status) = try await cluster.ask(.status) else { Issue.record("status"); return }
        #expect(status.role == .coordinator && status.ready && status.persons == persons && status.shards.count == 6)
        guard case .pong(let nonce, _) = try await cluster.ask(.ping(nonce: 77)) else { Issue.record("ping"); return }
        #expect(nonce == 77)
        // Total fingers over the replicas: two copies of each enrolled person's four fingers.
        #expect(cluster.workers.values.reduce(0) { $0 + $1.fingers } == Int(fingers) * 2)
    }

    @Test func deadWorkerIsReplacedByTheOtherReplica() async throws {
        let (cluster, transport) = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        transport.setFault(.dead, for: "worker-1")
        for p in [1, 8, 15] {
            let answer = try await cluster.identify(People.probe(p))
            #expect(!answer.coverage.isPartial, "replicas cover a dead worker")
            #expect(answer.candidates.first?.iin == People.iin(p))
        }
        #expect(transport.events.contains { $0.address == "worker-1" && $0.outcome == .refused })
        #expect(cluster.coordinator.metrics.counter("replica_failure") > 0)
        // A worker that swallows requests: the deadline expires, the other replica answers.
        transport.setFault(nil, for: "worker-1")
        transport.setFault(.dropRequest, for: "worker-2")
        let answer = try await cluster.identify(People.probe(9))
        #expect(!answer.coverage.isPartial && answer.candidates.first?.iin == People.iin(9))
        #expect(transport.events.contains { $0.address == "worker-2" && $0.outcome == .timedOut })
    }

    @Test func bothReplicasDeadGivesAPartialAnswerNamingTheShard() async throws {
        let (cluster, transport) = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        transport.setFault(.dead, for: "worker-1")
        transport.setFault(.dead, for: "worker-2")
        let map = cluster.coordinator.map
        let lost = map.allShards.filter { Set(map.placement[Int($0)]).isSubset(of: ["worker-1", "worker-2"]) }
        #expect(!lost.isEmpty)
        // A person in a lost shard: never a silent "no match".
        let victim = (0..<Self.persons).first { lost.contains(map.shard(of: People.iin($0))) }!
        let answer = try await cluster.identify(People.probe(victim))
        #expect(answer.coverage.isPartial)
        #expect(answer.coverage.missing == lost)
        #expect(Set(answer.coverage.contributed).isDisjoint(with: lost))
        #expect(answer.coverage.contributed.count + lost.count == map.shardCount)
        // Enrollment refuses to run on an incomplete de-duplication.
        await #expect(throws: SignedCaller.CallError.self) { try await cluster.enroll(600) }
        #expect(try cluster.coordinator.store.person(iin: People.iin(600)) == nil)
        // VERIFY of a person in a lost shard is partial, not a "no match".
        guard case .verifyAnswer(let v) = try await cluster.ask(.verify(VerifyRequest(claimedIIN: People.iin(victim),
                                                                                      probe: People.probe(victim)))) else {
            Issue.record("verify"); return
        }
        #expect(v.coverage.isPartial && v.coverage.missing == [map.shard(of: People.iin(victim))])
    }

    @Test func repeatedRequestIDGetsTheFirstAnswerAndNeverEnrollsTwice() async throws {
        let (cluster, transport) = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        let id = RequestID.random()
        try await cluster.consent(700)
        let request = WireMessage.enroll(EnrollRequest(iin: People.iin(700), record: People.record(700, impression: 0), exceptions: People.exceptions))
        // The first answer is lost on the way back: the station retries with the same ID.
        transport.injectOnce(.dropAnswer, for: "coordinator")
        await #expect(throws: SignedCaller.CallError.transport(.timedOut)) { try await cluster.ask(request, requestID: id) }
        let second = try await cluster.ask(request, requestID: id)
        let third = try await cluster.ask(request, requestID: id)
        guard case .enrollAnswer(let a) = second else { Issue.record("answer"); return }
        #expect(a.outcome == .enrolled)
        #expect(second == third)
        #expect(try cluster.coordinator.store.personCount == Self.persons + 1)
        #expect(cluster.coordinator.metrics.requests("enroll") == Self.persons + 1)
        // A fresh ID with the same record (a station that lost its request ID): acknowledged
        // as the enrollment already stored, still one person.
        guard case .enrollAnswer(let again) = try await cluster.ask(request) else { Issue.record("answer"); return }
        #expect(again.outcome == .enrolled)
        #expect(try cluster.coordinator.store.personCount == Self.persons + 1)
        // Other fingers under the same IIN: "already enrolled" (re-enrollment is UPDATE).
        guard case .enrollAnswer(let other) = try await cluster.ask(.enroll(EnrollRequest(iin: People.iin(700), record: People.record(700, impression: 1), exceptions: People.exceptions)))
        else { Issue.record("answer"); return }
        #expect(other.outcome == .alreadyEnrolled)
        // The same ID for different content is refused.
        await #expect(throws: SignedCaller.CallError.self) {
            try await cluster.ask(.enroll(EnrollRequest(iin: People.iin(701), record: People.record(701, impression: 0), exceptions: People.exceptions)), requestID: id)
        }
    }

    @Test func possibleDuplicateIsHeldForAdjudicationWithScores() async throws {
        let (cluster, _) = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        // Person 4's fingers presented under a new IIN.
        try await cluster.consent(800)
        let answer = try await cluster.ask(.enroll(EnrollRequest(iin: People.iin(800), record: People.record(4, impression: 2), exceptions: People.exceptions)))
        guard case .enrollAnswer(let held) = answer else { Issue.record("answer"); return }
        #expect(held.outcome == .heldForAdjudication)
        #expect(held.possibleDuplicates.first?.iin == People.iin(4))
        #expect((held.possibleDuplicates.first?.fingerScores.count ?? 0) == 4)
        #expect(!held.coverage.isPartial)
        #expect(try cluster.coordinator.store.person(iin: People.iin(800)) == nil, "nothing stored or merged")
        #expect(try cluster.coordinator.heldEnrollments().map(\.iin) == [People.iin(800)])
        guard case .pendingJobsAnswer(let pending) = try await cluster.ask(.pendingJobs) else { Issue.record("pending"); return }
        #expect(pending == 1)
    }

    @Test func restartedWorkerIsReloadedBeforeItServesAgain() async throws {
        let (cluster, transport) = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        // worker-3 restarts empty at the same address.
        await cluster.stopWorker("worker-3")
        let (fresh, listener) = try await cluster.startWorker("worker-3", at: "worker-3")
        cluster.workerListeners["worker-3"] = listener
        #expect(fresh.servedShards.isEmpty)
        // Searches stay complete (the other replicas answer; worker-3 says "not served").
        for p in [2, 13] {
            let answer = try await cluster.identify(People.probe(p))
            #expect(!answer.coverage.isPartial && answer.candidates.first?.iin == People.iin(p))
        }
        let loaded = await cluster.coordinator.reconcile()
        #expect(loaded == cluster.coordinator.map.shards(on: "worker-3").count)
        #expect(fresh.servedShards == cluster.coordinator.map.shards(on: "worker-3"))
        // Now worker-3 alone can serve its shards.
        transport.setFault(.dead, for: "worker-1")
        transport.setFault(.dead, for: "worker-2")
        let only = cluster.coordinator.map.shards(on: "worker-3")
        let p = (0..<Self.persons).first { only.contains(cluster.coordinator.map.shard(of: People.iin($0))) }!
        let answer = try await cluster.identify(People.probe(p))
        #expect(answer.candidates.first?.iin == People.iin(p))
        #expect(Set(answer.coverage.contributed) == Set(only))
    }

    /// A worker that stops answering status calls is shown unreachable at once and, after
    /// `outOfServiceAfter`, loses its replicas (no longer reported as serving, never asked);
    /// when it answers again they are reloaded from the store and serve again.
    @Test func unreachableWorkerIsTakenOutOfServiceAndReloadedWhenBack() async throws {
        let transport = EmbeddedTransport()
        var options = Coordinator.Options()
        options.outOfServiceAfter = .zero
        let cluster = try await Cluster(transport: transport, workers: 3, shards: 6, options: options)
        defer { Task { await cluster.shutdown() } }
        for p in 0..<Self.persons { #expect(try await cluster.enroll(p).outcome == .enrolled) }
        let placed = cluster.coordinator.map.shards(on: "worker-2")
        func worker2() -> Coordinator.StatusDocument.WorkerStatus { cluster.coordinator.status().workers.first { $0.name == "worker-2" }! }
        #expect(worker2().reachable && worker2().serving == placed && worker2().unreachableForMs == nil)

        transport.setFault(.dead, for: "worker-2")
        #expect(await cluster.coordinator.reconcile() == 0)
        #expect(!worker2().reachable && worker2().unreachableForMs != nil)
        #expect(worker2().serving.isEmpty, "a dead worker's replicas are not reported as serving")
        #expect(worker2().placed == placed, "placement is unchanged: the worker may come back")
        #expect(cluster.coordinator.prometheusText().contains("tanba_worker_reachable{worker=\"worker-2\"} 0"))
        let refusedBefore = transport.events.filter { $0.address == "worker-2" && $0.outcome == .refused }.count
        for p in [1, 8, 15] {
            let answer = try await cluster.identify(People.probe(p))
            #expect(!answer.coverage.isPartial && answer.candidates.first?.iin == People.iin(p))
        }
        #expect(transport.events.filter { $0.address == "worker-2" && $0.outcome == .refused }.count == refusedBefore,
                "searches no longer go to the out-of-service worker")

        // Back (it kept its memory, but it missed writes meanwhile): reloaded, then serving.
        transport.setFault(nil, for: "worker-2")
        #expect(await cluster.coordinator.reconcile() == placed.count)
        #expect(worker2().reachable && worker2().serving == placed)
        transport.setFault(.dead, for: "worker-1")
        transport.setFault(.dead, for: "worker-3")
        let p = (0..<Self.persons).first { placed.contains(cluster.coordinator.map.shard(of: People.iin($0))) }!
        #expect(try await cluster.identify(People.probe(p)).candidates.first?.iin == People.iin(p))
    }

    @Test func addingAndDrainingWorkersWhileIdentifyingNeverMissesSilently() async throws {
        let (cluster, _) = try await makeCluster(workers: 2, shards: 6)
        defer { Task { await cluster.shutdown() } }
        let (newcomer, listener) = try await cluster.startWorker("worker-4", at: "worker-4")
        cluster.workerListeners["worker-4"] = listener
        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                guard case .cluster(.adminAnswer) = try await cluster.admin.call(
                    .cluster(.admin(AdminRequest(action: .addWorker, worker: "worker-4", address: "worker-4"))),
                    to: "coordinator", at: cluster.coordinatorAddress, deadline: .seconds(60)) else { throw TestFailure("admin") }
            }
            for round in 0..<3 {
                for p in stride(from: round, to: Self.persons, by: 4) {
                    group.addTask {
                        let answer = try await cluster.identify(People.probe(p))
                        if answer.coverage.isPartial { tally.add("partial") }
                        else if answer.candidates.first?.iin == People.iin(p) { tally.add("complete") }
                        else { tally.add("miss") }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(tally["miss"] == 0, "a complete answer always finds the mate")
        #expect(tally["complete"] + tally["partial"] == 3 * (Self.persons / 4))
        // The newcomer serves its share, the map moved on, every shard has two serving replicas.
        let map = cluster.coordinator.map
        #expect(map.version > 1)
        #expect(!map.shards(on: "worker-4").isEmpty)
        #expect(newcomer.servedShards == map.shards(on: "worker-4"))
        #expect(cluster.coordinator.serving.allSatisfy { $0.count == 2 })
        for p in [0, 9] {
            let answer = try await cluster.identify(People.probe(p))
            #expect(!answer.coverage.isPartial && answer.candidates.first?.iin == People.iin(p))
        }
        // Drain worker-1 and remove it: its shards move, nothing is lost.
        guard case .cluster(.adminAnswer(let document)) = try await cluster.admin.call(
            .cluster(.admin(AdminRequest(action: .removeWorker, worker: "worker-1"))),
            to: "coordinator", at: cluster.coordinatorAddress, deadline: .seconds(60)) else { Issue.record("admin"); return }
        #expect(document.contains("\"mapVersion\""))
        #expect(cluster.coordinator.map.worker(named: "worker-1") == nil)
        #expect(cluster.workers["worker-1"]!.servedShards.isEmpty, "dropped after the move")
        #expect(cluster.coordinator.serving.allSatisfy { $0.count == 2 && !$0.contains("worker-1") })
        for p in [3, 14] {
            let answer = try await cluster.identify(People.probe(p))
            #expect(!answer.coverage.isPartial && answer.candidates.first?.iin == People.iin(p))
        }
    }

    @Test func enrollmentsDuringAMoveReachTheNewReplica() async throws {
        let (cluster, _) = try await makeCluster(workers: 2, shards: 4)
        defer { Task { await cluster.shutdown() } }
        let (newcomer, listener) = try await cluster.startWorker("worker-4", at: "worker-4")
        cluster.workerListeners["worker-4"] = listener
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try await cluster.admin.call(.cluster(.admin(AdminRequest(action: .addWorker, worker: "worker-4", address: "worker-4"))),
                                                 to: "coordinator", at: cluster.coordinatorAddress, deadline: .seconds(60))
            }
            for p in 100..<108 { group.addTask { _ = try await cluster.enroll(p) } }
            try await group.waitForAll()
        }
        // Every person of the newcomer's shards is on the newcomer.
        let map = cluster.coordinator.map
        let expected = (Array(0..<Self.persons) + Array(100..<108)).filter { map.shards(on: "worker-4").contains(map.shard(of: People.iin($0))) }
        #expect(newcomer.persons == expected.count)
    }

    @Test func onlyAdminsMayScaleAndOnlyTheCoordinatorMayTouchShards() async throws {
        let (cluster, _) = try await makeCluster()
        defer { Task { await cluster.shutdown() } }
        await #expect(throws: SignedCaller.CallError.remote(code: .unauthenticated, message: "station-1 is not a cluster administrator")) {
            try await cluster.ask(.cluster(.admin(AdminRequest(action: .drain, worker: "worker-1"))))
        }
        let intruder = SignedCaller(identity: cluster.identities["intruder"]!, keyring: cluster.keyring, transport: cluster.transport)
        await #expect(throws: SignedCaller.CallError.remote(code: .unauthenticated, message: "intruder may not send shard operations to worker-1")) {
            try await intruder.call(.cluster(.shardDrop(shard: 0)), to: "worker-1", at: "worker-1", deadline: .seconds(1))
        }
        #expect(!cluster.workers["worker-1"]!.servedShards.isEmpty)
        guard case .cluster(.adminAnswer(let document)) = try await cluster.admin.call(
            .cluster(.admin(AdminRequest(action: .status))), to: "coordinator", at: cluster.coordinatorAddress,
            deadline: .seconds(5)) else { Issue.record("status"); return }
        let status = try JSONDecoder().decode(Coordinator.StatusDocument.self, from: Data(document.utf8))
        #expect(status.ready && status.persons == Self.persons && status.workers.count == 3)
    }
}

@Suite struct CoordinatorInputTests {
    @Test func malformedUnsignedAndOversizedRequestsAreRejectedAndTheCoordinatorKeepsServing() async throws {
        let transport = EmbeddedTransport()
        let cluster = try await Cluster(transport: transport, workers: 2, shards: 2)
        defer { Task { await cluster.shutdown() } }
        // Garbage: a typed, signed ERROR answer.
        let garbage = try await transport.request(Array("GET / HTTP/1.1\r\n\r\n".utf8), to: "coordinator", deadline: .seconds(1))
        guard case .error(let code, _) = try Envelope.decode(garbage).message() else { Issue.record("not an error"); return }
        #expect(code == .malformed)
        // Truncated: a valid request cut short.
        let valid = Cluster.identity("station-1").seal(.ping(nonce: 1), requestID: .random())
        let cut = try await transport.request(Array(valid.dropLast(10)), to: "coordinator", deadline: .seconds(1))
        guard case .error(let cutCode, _) = try Envelope.decode(cut).message() else { Issue.record("not an error"); return }
        #expect(cutCode == .malformed)
        // Signed by a key the coordinator does not trust.
        let stranger = try NodeIdentity(name: "station-1", signingKey: .init())
        let forged = SignedCaller(identity: stranger, keyring: cluster.keyring, transport: transport)
        await #expect(throws: SignedCaller.CallError.self) {
            try await forged.call(.status, to: "coordinator", at: "coordinator", deadline: .seconds(1))
        }
        // Oversized: refused before it is sent.
        let huge = [UInt8](repeating: 0x54, count: WireLimits.maximumMessage + 1)
        await #expect(throws: WireError.messageTooLarge(size: huge.count, limit: WireLimits.maximumMessage)) {
            try await transport.request(huge, to: "coordinator", deadline: .seconds(1))
        }
        // Still serving.
        guard case .pong(let nonce, _) = try await cluster.ask(.ping(nonce: 9)) else { Issue.record("no pong"); return }
        #expect(nonce == 9)
    }
}

@Suite struct SubjectDirectoryTests {
    @Test func directorySurvivesReopeningIsSealedAndForgetsDeletedPersons() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("directory").path
        let master = MasterKey.generate(id: "k1")
        let d = try SubjectDirectory(path: path, master: master)
        try d.insert(People.iin(1), fingers: 10)
        try d.insert(People.iin(2), fingers: 8)
        try d.insert(People.iin(3), fingers: 10)
        try d.remove(People.iin(2))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(People.iin(1).digits), "IINs are sealed")
        let reopened = try SubjectDirectory(path: path, master: master)
        #expect(reopened.all == [People.iin(1), People.iin(3)].sorted())
        #expect(reopened.fingers == 20)
        #expect(throws: SubjectDirectory.DirectoryError.self) { try SubjectDirectory(path: path, master: MasterKey.generate(id: "k2")) }
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// Bulk seeding appends many persons with one fsync; they must read back like single inserts.
    @Test func bulkInsertedDirectoryEntriesSurviveReopening() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-dir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let master = MasterKey.generate(id: "k1")
        let d = try SubjectDirectory(path: path, master: master)
        try d.insert(People.iin(0), fingers: 10)
        try d.insertMany((1..<50).map { (iin: People.iin($0), fingers: 10) })
        try d.insertMany([])
        let reopened = try SubjectDirectory(path: path, master: master)
        #expect(reopened.count == 50)
        #expect(reopened.all == (0..<50).map(People.iin).sorted())
        #expect(reopened.fingers == 500)
    }
}

@Suite struct CoordinatorRestartTests {
    @Test func restartedCoordinatorReloadsEveryShardFromTheStore() async throws {
        let transport = EmbeddedTransport()
        let cluster = try await Cluster(transport: transport, workers: 2, shards: 3)
        defer { Task { await cluster.shutdown() } }
        for p in 0..<6 { _ = try await cluster.enroll(p) }
        _ = try await cluster.ask(.delete(DeleteRequest(iin: People.iin(4), reason: "request")))
        // A new coordinator process: same store, the sealed directory reopened, the saved map.
        let directory = try SubjectDirectory(path: cluster.directory.appendingPathComponent("directory").path, master: cluster.master)
        #expect(directory.count == 5)
        let restarted = Coordinator(name: "coordinator", store: cluster.coordinator.store, directory: directory,
                                    map: cluster.coordinator.map,
                                    caller: SignedCaller(identity: cluster.identities["coordinator"]!, keyring: cluster.keyring, transport: transport),
                                    logger: Cluster.quietLogger)
        #expect(!restarted.isReady, "nothing serves until reloaded")
        let loaded = await restarted.reconcile()
        #expect(loaded == 6 && restarted.isReady)
        #expect(cluster.workers.values.reduce(0) { $0 + $1.persons } == 10, "5 persons × 2 replicas")
        let service = SignedService(identity: cluster.identities["coordinator"]!, keyring: cluster.keyring) { sender, message in
            await restarted.handle(sender: sender, message: message)
        }
        let listener = try await transport.listen(on: "coordinator-b", handler: service.requestHandler)
        defer { Task { await listener.close() } }
        guard case .identifyAnswer(let a) = try await cluster.station.call(.identify(IdentifyRequest(probe: People.probe(2), topK: 3)),
                                                                           to: "coordinator", at: "coordinator-b", deadline: .seconds(30)) else {
            Issue.record("identify"); return
        }
        #expect(a.candidates.first?.iin == People.iin(2) && !a.coverage.isPartial)
    }
}
