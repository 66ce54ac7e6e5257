import TanbaSQLite
import Foundation
import Testing
import TanbaCore
@testable import TanbaStore

@Suite struct ReplicationTests {
    static func dump(_ db: Database, _ table: String) throws -> [[SQLValue]] {
        try db.query("SELECT * FROM \(table) ORDER BY 1, 2")
    }

    @Test func standbyMirrorsThePrimary() async throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<3)
        try primary.reenroll(iin: Fixtures.iin(0), enrollment: Fixtures.enrollment(seed: 500), consent: Fixtures.consent(),
                             by: Fixtures.operatorActor)
        try primary.delete(iin: Fixtures.iin(1), request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                           by: Fixtures.operatorActor)
        try primary.archiveAuditSegment(through: 3)
        try primary.record(Fixtures.operatorActor, operation: "identify", subject: Fixtures.iin(2), result: "1 candidate")

        let standby = try StandbyApplier(path: dir.path("standby.db"))
        let link = InMemoryReplicationLink(standby: standby)
        let acked = try await primary.replicate(over: link, standbyPosition: try standby.position.seq)
        let head = try primary.replicationLog.head()
        #expect(acked == head.seq && head.seq >= 7)
        #expect(try standby.position == ReplicationAck(seq: head.seq, hash: head.hash))
        for table in StoreSchema.replicatedTables {
            #expect(try Self.dump(standby.db, table) == Self.dump(primary.db, table), "table \(table) differs")
        }
        // With the key store (replicated separately) the standby serves the same data.
        let served = try Store(path: dir.path("standby.db"), keyStorePath: Store.keyStorePath(for: dir.path("store.db")),
                               master: Fixtures.master, replication: false)
        #expect(try served.person(iin: Fixtures.iin(2))?.fullName == Fixtures.name(2))
        #expect(try served.currentEnrollment(iin: Fixtures.iin(0)) == Fixtures.enrollment(seed: 500))
        #expect(try served.person(iin: Fixtures.iin(1)) == nil)
        #expect(try served.audit.verify().ok)
        // Nothing new: shipping again sends nothing and keeps the position.
        #expect(try await primary.replicate(over: link, standbyPosition: acked) == acked)
    }

    @Test func logIsAHashChainOfOneEntryPerTransaction() throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<4)
        let entries = try primary.replicationLog.entries(after: 0)
        #expect(entries.map(\.seq) == [1, 2, 3, 4])
        var previous = ChangesetEntry.genesis
        for e in entries {
            #expect(e.hash == ChangesetEntry.chain(previous: previous, seq: e.seq, changeset: e.changeset))
            previous = e.hash
        }
        // A failed transaction leaves no entry.
        #expect(throws: StoreError.self) {
            try primary.enroll(PersonIdentity(fullName: "x", iin: Fixtures.iin(0)), iin: Fixtures.iin(0),
                               enrollment: Fixtures.enrollment(seed: 1), consent: Fixtures.consent(), by: Fixtures.operatorActor)
        }
        #expect(try primary.replicationLog.head().seq == 4)
    }

    @Test func gapIsRefusedUntilTheMissingEntryArrives() throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<3)
        let entries = try primary.replicationLog.entries(after: 0)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        #expect(throws: ReplicationError.gap(expected: 1, received: 2)) { try standby.apply(entries[1]) }
        try standby.apply(entries[0])
        #expect(throws: ReplicationError.gap(expected: 2, received: 3)) { try standby.apply(entries[2]) }
        try standby.apply(entries[1])
        try standby.apply(entries[1])   // a resend is acknowledged without re-applying
        try standby.apply(entries[2])
        #expect(try standby.position.seq == 3)
        #expect(try standby.divergedReason == nil)
        #expect(try standby.db.query("SELECT COUNT(*) FROM persons")[0][0].int == 3)
    }

    @Test func hashMismatchLatchesDivergence() throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<3)
        let entries = try primary.replicationLog.entries(after: 0)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        try standby.apply(entries[0])
        var bytes = entries[1].changeset
        bytes[bytes.count / 2] ^= 0xFF
        let tampered = ChangesetEntry(seq: 2, hash: entries[1].hash, changeset: bytes)
        let error = #expect(throws: ReplicationError.self) { try standby.apply(tampered) }
        guard case .diverged(let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("hash mismatch"))
        // Refuses even the genuine entry afterwards, and remembers it across restarts.
        #expect(throws: ReplicationError.diverged(reason)) { try standby.apply(entries[1]) }
        let reopened = try StandbyApplier(path: dir.path("standby.db"))
        #expect(try reopened.divergedReason == reason)
        #expect(throws: ReplicationError.diverged(reason)) { try reopened.apply(entries[1]) }
        #expect(try reopened.position.seq == 1)
    }

    @Test func applyConflictLatchesDivergence() throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<2)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        for e in try primary.replicationLog.entries(after: 0) { try standby.apply(e) }
        // Someone edits the standby behind the applier's back.
        try standby.db.run("UPDATE persons SET updated_at = 'x'")
        try primary.reenroll(iin: Fixtures.iin(0), enrollment: Fixtures.enrollment(seed: 7), consent: Fixtures.consent(),
                             by: Fixtures.operatorActor)
        let next = try #require(try primary.replicationLog.entries(after: 2).first)
        let error = #expect(throws: ReplicationError.self) { try standby.apply(next) }
        guard case .diverged(let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("conflict") && reason.contains("persons"))
        #expect(try standby.position.seq == 2)
        // The failed entry left nothing behind.
        #expect(try standby.db.query("SELECT COUNT(*) FROM archive")[0][0].int == 0)
    }

    @Test func linkAckMismatchIsReported() async throws {
        struct LyingLink: ReplicationLink {
            func send(_ entry: ChangesetEntry) async throws -> ReplicationAck {
                ReplicationAck(seq: entry.seq, hash: [UInt8](repeating: 0, count: 32))
            }
            func sendKeys(_ delta: KeyStoreDelta) async throws -> Int64 { delta.to }
        }
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<1)
        await #expect(throws: ReplicationError.self) { _ = try await primary.replicate(over: LyingLink(), standbyPosition: 0) }
    }

    @Test func noPlaintextInChangesetsFilesWALOrBackups() async throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<3)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        _ = try await primary.replicate(over: InMemoryReplicationLink(standby: standby), standbyPosition: 0)
        try primary.backup(to: dir.path("backup.db"))
        var needles: [(String, [UInt8])] = []
        for s in 0..<3 {
            needles.append(("IIN \(s)", Array(Fixtures.iin(s).digits.utf8)))
            needles.append(("name \(s)", Array(Fixtures.name(s).utf8)))
            for view in Fixtures.enrollment(seed: UInt64(s)).record.views {
                let bytes = try TemplateCodec.encode(FingerprintRecord(views: [view]), as: .native)
                needles.append(("template \(s)/\(view.position)", Array(bytes[13..<(bytes.count - 4)])))
            }
        }
        needles.append(("missing-finger reason", Array("open wound".utf8)))
        let changesets = try primary.replicationLog.entries(after: 0).flatMap(\.changeset)
        #expect(changesets.count > 1000)
        let walPath = dir.path("store.db-wal")
        #expect(Fixtures.fileBytes(walPath).count > 0, "the WAL should hold frames at this point")
        let haystacks: [(String, [UInt8])] = [
            ("changesets", changesets),
            ("database file", Fixtures.fileBytes(dir.path("store.db"))),
            ("WAL", Fixtures.fileBytes(walPath)),
            ("key store", Fixtures.fileBytes(dir.path("store.db.keys")) + Fixtures.fileBytes(dir.path("store.db.keys-wal"))),
            ("backup", Fixtures.fileBytes(dir.path("backup.db"))),
            ("standby", Fixtures.fileBytes(dir.path("standby.db")) + Fixtures.fileBytes(dir.path("standby.db-wal"))),
        ]
        for (where_, haystack) in haystacks {
            for (what, needle) in needles {
                #expect(!Fixtures.contains(haystack, needle), "\(what) found in \(where_)")
            }
        }
        // The search itself works: a value written in plaintext is found.
        try primary.db.run("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT)")
        try primary.db.run("INSERT INTO probe (v) VALUES (?)", [.text(Fixtures.iin(0).digits)])
        #expect(Fixtures.contains(Fixtures.fileBytes(walPath), Array(Fixtures.iin(0).digits.utf8)))
    }

    /// A link that fails while `down` is set, as a partitioned network would.
    final class FlakyLink: ReplicationLink, @unchecked Sendable {
        let inner: InMemoryReplicationLink
        var down = false
        init(_ inner: InMemoryReplicationLink) { self.inner = inner }
        func send(_ entry: ChangesetEntry) async throws -> ReplicationAck {
            if down { throw ReplicationError.link("partitioned") }
            return try await inner.send(entry)
        }
        func sendKeys(_ delta: KeyStoreDelta) async throws -> Int64 {
            if down { throw ReplicationError.link("partitioned") }
            return try await inner.sendKeys(delta)
        }
    }

    @Test func synchronousReplicaFlushesEveryCommitAndCatchesUp() async throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        let link = FlakyLink(InMemoryReplicationLink(standby: standby))
        let replica = SynchronousReplica(store: primary, link: link, standbyPosition: 0)
        for s in 0..<3 {
            let iin = Fixtures.iin(s)
            try primary.enroll(PersonIdentity(fullName: Fixtures.name(s), iin: iin), iin: iin,
                               enrollment: Fixtures.enrollment(seed: UInt64(s)), consent: Fixtures.consent(), by: Fixtures.operatorActor)
            let position = try await replica.flush()   // only now would the client get its acknowledgement
            #expect(try standby.position.seq == position)
            #expect(try standby.db.query("SELECT COUNT(*) FROM persons")[0][0].int == s + 1)
        }
        // Partition: the commit happens on the primary but cannot be acknowledged.
        link.down = true
        try primary.delete(iin: Fixtures.iin(0), request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                           by: Fixtures.operatorActor)
        await #expect(throws: ReplicationError.link("partitioned")) { try await replica.flush() }
        #expect(try standby.db.query("SELECT COUNT(*) FROM persons")[0][0].int == 3)
        // Healed: the standby catches up, and the deletion reaches it.
        link.down = false
        #expect(try await replica.flush() == primary.replicationLog.head().seq)
        #expect(try standby.db.query("SELECT COUNT(*) FROM persons")[0][0].int == 2)
        #expect(try standby.db.query("SELECT COUNT(*) FROM deletion_records")[0][0].int == 1)
    }

    @Test func pruningKeepsTheChainGoing() async throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<3)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        let link = InMemoryReplicationLink(standby: standby)
        let acked = try await primary.replicate(over: link, standbyPosition: 0)
        #expect(try primary.replicationLog.prune(through: acked) == 2)   // the head stays
        let iin = Fixtures.iin(3)
        try primary.enroll(PersonIdentity(fullName: Fixtures.name(3), iin: iin), iin: iin, enrollment: Fixtures.enrollment(seed: 3),
                           consent: Fixtures.consent(), by: Fixtures.operatorActor)
        #expect(try await primary.replicate(over: link, standbyPosition: acked) == 4)
        #expect(try standby.divergedReason == nil)
        #expect(try standby.db.query("SELECT COUNT(*) FROM persons")[0][0].int == 4)
    }

    @Test func standbyKeyStoreFollowsEnrollmentDeletionAndRotation() async throws {
        let dir = TempDir()
        let primary = try Fixtures.store(in: dir, serials: 0..<3)
        let standby = try StandbyApplier(path: dir.path("standby.db"))
        let standbyKeys = try KeyStoreReplica(path: dir.path("standby.db.keys"))
        let replica = SynchronousReplica(store: primary, link: InMemoryReplicationLink(standby: standby, keys: standbyKeys),
                                         standbyPosition: 0, keyVersion: try standbyKeys.version)
        try await replica.flush()
        func served(_ master: MasterKey, previous: [MasterKey] = []) throws -> Store {
            try Store(path: dir.path("standby.db"), master: master, previous: previous, replication: false)
        }
        // The standby serves with its own key store: same look-up hashes, same data keys.
        #expect(try served(Fixtures.master).person(iin: Fixtures.iin(2))?.fullName == Fixtures.name(2))

        // Deletion: the standby's key is shredded too, and gone from its files.
        let iin = Fixtures.iin(1)
        let person = try #require(try primary.db.query("SELECT person_id FROM persons WHERE iin_hash = ?",
                                                       [.blob(primary.iinHash(iin))]).first?[0].bytes)
        let wrapped = try #require(try standbyKeys.db.query("SELECT wrapped FROM data_keys WHERE owner_id = ?", [.blob(person)]).first?[0].bytes)
        try primary.delete(iin: iin, request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"), by: Fixtures.operatorActor)
        try await replica.flush()
        #expect(try standbyKeys.db.query("SELECT COUNT(*) FROM data_keys WHERE owner_id = ?", [.blob(person)])[0][0].int == 0)
        let files = Fixtures.fileBytes(dir.path("standby.db.keys")) + Fixtures.fileBytes(dir.path("standby.db.keys-wal"))
        #expect(!Fixtures.contains(files, wrapped))
        #expect(try served(Fixtures.master).person(iin: iin) == nil)

        // Rotation on the primary reaches the standby; afterwards only the new key opens it.
        let next = MasterKey.generate(id: "k2027")
        try primary.keys.beginRotation(to: next)
        while try primary.keys.rotateBatch(limit: 1) > 0 {}
        try await replica.flush()
        #expect(try served(next).person(iin: Fixtures.iin(0))?.fullName == Fixtures.name(0))
        #expect(throws: KeyError.self) { _ = try served(Fixtures.master) }

        // A delta that would skip changes is refused.
        let late = try primary.keys.delta(after: try standbyKeys.version + 5)
        #expect(throws: ReplicationError.self) { try standbyKeys.apply(late) }
    }
}
