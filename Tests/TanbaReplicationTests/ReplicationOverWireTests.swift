import Foundation
import Testing
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaWire
@testable import TanbaReplication

/// Primary, standby and copies over EmbeddedTransport: deterministic, no sockets.
@Suite(.serialized) struct ReplicationOverWireTests {
    static func tables(_ pair: Pair, _ name: String) throws -> [[SQLValue]] {
        let db = try Database(path: pair.dir.path("\(name).db"))
        var rows: [[SQLValue]] = []
        for table in StoreSchema.replicatedTables { rows += try db.query("SELECT * FROM \(table) ORDER BY 1, 2") }
        return rows
    }

    @Test func synchronousPrimaryAcknowledgesOnlyWhatTheStandbyHolds() async throws {
        let pair = Pair()
        let standby = try await pair.startStandby("store-b", primaries: ["store-a"])
        var options = StorePrimary.Options()
        options.syncTimeout = .milliseconds(300)
        let primary = try await pair.startPrimary("store-a", standby: "store-b", options: options)
        for s in 0..<3 { try await pair.enroll(primary, s) }
        let head = try primary.store.replicationLog.head()
        #expect(try standby.applier.position == ReplicationAck(seq: head.seq, hash: head.hash))
        #expect(try Self.tables(pair, "store-b") == Self.tables(pair, "store-a"))
        #expect(try standby.keys.version == primary.store.keys.version)

        // Standby away: committed on the primary, not acknowledged.
        pair.embedded!.setFault(.dead, for: "mem://store-b")
        await #expect(throws: StorePrimaryError.self) { try await pair.enroll(primary, 3) }
        #expect(try primary.store.person(iin: R.iin(3)) != nil)
        #expect(try standby.applier.position.seq == head.seq)
        if case .unreachable = await primary.standby!.state {} else { Issue.record("state \(await primary.standby!.state)") }
        let status = await primary.replicationStatus()
        #expect(status.detail.contains("unreachable"))

        // Back: the retry of the same enrollment is acknowledged, and stored once.
        pair.embedded!.setFault(nil, for: "mem://store-b")
        let again = try await primary.enroll(PersonIdentity(fullName: R.name(3), iin: R.iin(3)), iin: R.iin(3),
                                             enrollment: R.enrollment(seed: 3), consent: R.consent(), by: R.actor)
        #expect(again == .alreadyHeld)
        #expect(try Self.tables(pair, "store-b") == Self.tables(pair, "store-a"))
        // A different record under the same IIN is refused, not silently merged.
        await #expect(throws: StoreError.alreadyEnrolled) {
            try await primary.enroll(PersonIdentity(fullName: "x", iin: R.iin(3)), iin: R.iin(3),
                                     enrollment: R.enrollment(seed: 99), consent: R.consent(), by: R.actor)
        }
        await pair.stop()
    }

    @Test func concurrentEnrollmentsShareShippingRounds() async throws {
        let pair = Pair()
        let standby = try await pair.startStandby("store-b")
        let primary = try await pair.startPrimary("store-a", standby: "store-b")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<24 { group.addTask { try await pair.enroll(primary, s) } }
            try await group.waitForAll()
        }
        #expect(try standby.applier.position.seq == primary.store.replicationLog.head().seq)
        #expect(try primary.store.personCount == 24)
        let replicates = pair.embedded!.events.filter { $0.address == "mem://store-b" }.count
        #expect(replicates < 24 * 2 + 1, "\(replicates) requests for 24 enrollments")
        await pair.stop()
    }

    @Test func gapAndDivergenceAreReportedOverTheWire() async throws {
        let pair = Pair()
        let source = try Store(path: pair.dir.path("source.db"), master: R.master)
        for s in 0..<3 {
            try source.enroll(PersonIdentity(fullName: R.name(s), iin: R.iin(s)), iin: R.iin(s),
                              enrollment: R.enrollment(seed: UInt64(s)), consent: R.consent(), by: R.actor)
        }
        let entries = try source.replicationLog.entries(after: 0)
        let standby = try await pair.startStandby("store-b", primaries: ["store-a"])
        let link = NetworkReplicationLink(caller: pair.caller("store-a"), peer: "store-b", address: "mem://store-b")
        await #expect(throws: ReplicationError.gap(expected: 1, received: 2)) { try await link.send(entries[1]) }
        #expect(try await link.send(batch: Array(entries[0...1])).seq == 2)
        #expect(try await link.send(entries[1]).seq == 2)    // resend: acknowledged, not applied twice

        // Only configured primaries may replicate.
        let intruder = NetworkReplicationLink(caller: pair.caller("station-1"), peer: "store-b", address: "mem://store-b")
        await #expect(throws: ReplicationError.self) { try await intruder.send(entries[2]) }

        var forged = entries[2]
        forged = ChangesetEntry(seq: forged.seq, hash: [UInt8](repeating: 7, count: 32), changeset: forged.changeset)
        await #expect(throws: ReplicationError.self) { try await link.send(forged) }
        let status = try await link.status()
        #expect(status.role == .standby && !status.serving)
        #expect(status.divergedReason?.contains("running hash mismatch") == true)
        // Latched: even the genuine entry is refused now, with the reason.
        do {
            _ = try await link.send(entries[2])
            Issue.record("a diverged standby applied an entry")
        } catch ReplicationError.diverged(let why) {
            #expect(why.contains("entry 3"))
        }
        // It refuses to serve and says why.
        let answer = try? await pair.caller("station-1").call(.status, to: "store-b", at: "mem://store-b", deadline: .seconds(1))
        if case .statusAnswer(let s) = answer { #expect(!s.ready) } else { Issue.record("no status") }
        do {
            _ = try await pair.caller("station-1").call(.enroll(EnrollRequest(iin: R.iin(9), record: R.enrollment(seed: 9).record)),
                                                        to: "store-b", at: "mem://store-b", deadline: .seconds(1))
            Issue.record("a diverged standby served")
        } catch {
            #expect("\(error)".contains("diverged"))
        }
        _ = standby
        await pair.stop()
    }

    @Test func promotedStandbyServesAndTheOldPrimaryRejoinsAndCatchesUp() async throws {
        let pair = Pair()
        try await pair.startStandby("store-b", plan: pair.promotionPlan(caller: "store-b"))
        let primaryA = try await pair.startPrimary("store-a", standby: "store-b")
        for s in 0..<4 { try await pair.enroll(primaryA, s) }
        _ = try await primaryA.delete(iin: R.iin(1), request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                                      by: R.actor)
        // The primary goes away; an operator promotes the standby.
        await pair.nodes["store-a"]!.stop()
        await pair.listeners["store-a"]!.close()
        let ops = NetworkReplicationLink(caller: pair.caller("ops"), peer: "store-b", address: "mem://store-b")
        let position = try await ops.promote()
        #expect(position.seq == (try primaryA.store.replicationLog.head().seq))
        // A station may not promote.
        let station = NetworkReplicationLink(caller: pair.caller("station-1"), peer: "store-b", address: "mem://store-b")
        await #expect(throws: ReplicationError.self) { try await station.promote() }

        let b = try #require(pair.nodes["store-b"]!.primary)
        #expect(try b.store.person(iin: R.iin(2))?.fullName == R.name(2))
        #expect(try b.store.person(iin: R.iin(1)) == nil)
        #expect(try b.store.audit.verify().ok)
        for s in 4..<6 { try await pair.enroll(b, s) }
        // Entries continue the old primary's chain.
        let entries = try b.store.replicationLog.entries(after: position.seq)
        #expect(entries.first?.seq == position.seq + 1)

        // The old primary rejoins as a standby of B and catches up.
        pair.listeners["store-a"] = nil
        let rejoined = try await pair.startStandby("store-a", primaries: ["store-b"], rejoin: true)
        let bWithStandby = StorePrimary(store: b.store, caller: pair.caller("store-b"),
                                        standby: StorePrimary.Peer(node: "store-a", address: "mem://store-a"))
        try await bWithStandby.acknowledge()
        #expect(try rejoined.applier.position.seq == b.store.replicationLog.head().seq)
        #expect(try Self.tables(pair, "store-a") == Self.tables(pair, "store-b"))
        let aStore = try pair.open("store-a")
        #expect(try aStore.person(iin: R.iin(5))?.fullName == R.name(5))
        #expect(try aStore.person(iin: R.iin(1)) == nil)
        await pair.stop()
    }

    @Test func oldPrimaryWithUnreplicatedWritesIsRefusedOnRejoin() async throws {
        let pair = Pair()
        try await pair.startStandby("store-b", plan: pair.promotionPlan(caller: "store-b"))
        let primaryA = try await pair.startPrimary("store-a", standby: "store-b")
        for s in 0..<2 { try await pair.enroll(primaryA, s) }
        // A commits a write that never reaches B (it dies before shipping).
        pair.embedded!.setFault(.dead, for: "mem://store-b")
        try primaryA.store.enroll(PersonIdentity(fullName: R.name(7), iin: R.iin(7)), iin: R.iin(7),
                                  enrollment: R.enrollment(seed: 7), consent: R.consent(), by: R.actor)
        await pair.nodes["store-a"]!.stop()
        await pair.listeners["store-a"]!.close()
        pair.listeners["store-a"] = nil
        pair.embedded!.setFault(nil, for: "mem://store-b")
        _ = try await NetworkReplicationLink(caller: pair.caller("ops"), peer: "store-b", address: "mem://store-b").promote()
        let b = try #require(pair.nodes["store-b"]!.primary)

        // Case 1: B wrote nothing yet; A stands ahead of B's log → refused.
        let rejoined = try await pair.startStandby("store-a", primaries: ["store-b"], rejoin: true)
        let channel = StorePrimary(store: b.store, caller: pair.caller("store-b"),
                                   standby: StorePrimary.Peer(node: "store-a", address: "mem://store-a"))
        do {
            try await channel.acknowledge()
            Issue.record("a diverged old primary was accepted")
        } catch {
            #expect(await channel.standby!.state.isRefused)
            #expect("\(await channel.standby!.state)".contains("history this primary never had"))
        }
        // Case 2: B moves on past A's position; the histories fork at A's last entry.
        try await pair.enroll(b, 8)
        try await pair.enroll(b, 9)
        let second = StorePrimary(store: b.store, caller: pair.caller("store-b"),
                                  standby: StorePrimary.Peer(node: "store-a", address: "mem://store-a"))
        await #expect(throws: StorePrimaryError.self) { try await second.acknowledge() }
        #expect("\(await second.standby!.state)".contains("forked"))
        // A latched the divergence itself and says so.
        #expect(try rejoined.applier.divergedReason?.contains("hash mismatch") == true)
        #expect(try b.store.person(iin: R.iin(7)) == nil)   // never acknowledged, never on B
        await pair.stop()
    }

    @Test func asynchronousCopyCatchesUpAndIsDroppedBeyondTheBacklog() async throws {
        let pair = Pair()
        let copy = try await pair.startStandby("store-c")
        var options = StorePrimary.Options()
        options.copyInterval = .milliseconds(10)
        options.maxBacklog = 6
        let primary = try await pair.startPrimary("store-a", standby: nil, copies: ["store-c"], options: options)
        pair.embedded!.setFault(.dead, for: "mem://store-c")
        for s in 0..<3 { try await pair.enroll(primary, s) }   // no standby: acknowledged at once
        #expect(try copy.applier.position.seq == 0)
        pair.embedded!.setFault(nil, for: "mem://store-c")
        let head = try primary.store.replicationLog.head().seq
        for _ in 0..<500 where await primary.copies[0].acknowledged < head { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try copy.applier.position.seq == head)
        try await primary.prune()
        // All held by the copy: pruned, except the entry at its position (checked on reconnection).
        #expect(try primary.store.replicationLog.entries(after: 0).map(\.seq) == [head])

        // Away for longer than the backlog allows: dropped, needs a rebuild.
        pair.embedded!.setFault(.dead, for: "mem://store-c")
        for s in 3..<12 { try await pair.enroll(primary, s) }
        for _ in 0..<500 where !(await primary.copies[0].state.isRefused) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await primary.copies[0].state.isRefused)
        try await primary.prune()   // a dropped copy holds nothing back
        #expect(try primary.store.replicationLog.entries(after: 0).map(\.seq) == [try primary.store.replicationLog.head().seq])
        await pair.stop()
    }

    @Test func deletionAcknowledgedMeansTheStandbyCannotDecryptThePerson() async throws {
        let pair = Pair()
        let standby = try await pair.startStandby("store-b")
        let primary = try await pair.startPrimary("store-a", standby: "store-b")
        for s in 0..<3 { try await pair.enroll(primary, s) }
        // Keep a sealed row of person 1 as it was on the standby before the deletion.
        let db = try Database(path: pair.dir.path("store-b.db"))
        let before = try db.query("SELECT person_id, sealed_identity FROM persons")
        #expect(try await primary.delete(iin: R.iin(1), request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                                         by: R.actor))
        let after = Set(try db.query("SELECT person_id FROM persons").compactMap { $0[0].bytes })
        let gone = try #require(before.first { !after.contains($0[0].bytes!) })
        let owner = gone[0].bytes!
        // The standby's key store holds a tombstone and no key for that person.
        let keys = try Database(path: pair.dir.path("store-b.db.keys"))
        #expect(try keys.query("SELECT COUNT(*) FROM data_keys WHERE owner_id = ?", [.blob(owner)])[0][0].int == 0)
        #expect(try keys.query("SELECT COUNT(*) FROM shredded WHERE owner_id = ?", [.blob(owner)])[0][0].int == 1)
        // Opened with the master key, the standby serves the others and not the deleted person.
        let served = try pair.open("store-b")
        #expect(try served.person(iin: R.iin(1)) == nil)
        #expect(try served.person(iin: R.iin(2))?.fullName == R.name(2))
        _ = standby
        await pair.stop()
    }

    @Test func shardsStreamEveryCurrentEnrollmentExactlyOnce() async throws {
        let pair = Pair()
        let store = try Store(path: pair.dir.path("s.db"), master: R.master)
        let batch = (0..<40).map { s in
            Store.BulkEnrollment(identity: PersonIdentity(fullName: R.name(s), iin: R.iin(s)), iin: R.iin(s),
                                 enrollment: R.enrollment(seed: UInt64(s)), consent: R.consent())
        }
        try store.enrollMany(Array(batch[0..<20]), by: R.actor)
        try store.enrollMany(Array(batch[20...]), by: R.actor)
        try store.reenroll(iin: R.iin(3), enrollment: R.enrollment(seed: 1003), consent: R.consent(), by: R.actor)
        try store.delete(iin: R.iin(4), request: DeletionRequest(requestedBy: "s", branch: "b", basis: "BIO 11"), by: R.actor)
        var seen: [IIN: FingerprintRecord] = [:]
        for shard in 0..<4 {
            try store.forEachCurrentEnrollment(shard: shard, of: 4) { member in
                #expect(PersonShard.shard(of: member.iin, count: 4) == shard)
                #expect(seen[member.iin] == nil)
                seen[member.iin] = member.record
            }
        }
        #expect(seen.count == 39)
        #expect(seen[R.iin(4)] == nil)
        #expect(seen[R.iin(3)]?.views == R.enrollment(seed: 1003).record.views)
        #expect(seen[R.iin(7)]?.views == R.enrollment(seed: 7).record.views)
        // The shard function is stable (these values are part of the cluster's contract).
        #expect(PersonShard.key(try IIN("900308300012")) == 1265819836371389634)
        let counts = (0..<4).map { shard in (0..<40).filter { PersonShard.shard(of: R.iin($0), count: 4) == shard }.count }
        #expect(counts.allSatisfy { $0 > 3 }, "\(counts)")
    }
}
