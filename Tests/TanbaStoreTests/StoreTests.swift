import TanbaSQLite
import Foundation
import Testing
import TanbaCore
@testable import TanbaStore

@Suite struct StoreTests {
    @Test func enrollsAndReadsBackEverything() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<3)
        let iin = Fixtures.iin(1)
        #expect(try store.person(iin: iin) == PersonIdentity(fullName: Fixtures.name(1), iin: iin))
        #expect(try store.currentEnrollment(iin: iin) == Fixtures.enrollment(seed: 1))
        #expect(try store.consents(iin: iin) == [Fixtures.consent()])
        #expect(try store.personCount == 3)
        #expect(try store.person(iin: Fixtures.iin(77)) == nil)
        let enrollEntries = try store.audit.entries().filter { $0.entry.operation == "enroll" }
        #expect(enrollEntries.count == 3)
        #expect(enrollEntries[1].entry.subjectRef == store.subjectReference(iin))
    }

    @Test func refusesDuplicatesAndEmptyEnrollments() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<1)
        let iin = Fixtures.iin(0)
        #expect(throws: StoreError.alreadyEnrolled) {
            try store.enroll(PersonIdentity(fullName: "x", iin: iin), iin: iin, enrollment: Fixtures.enrollment(seed: 9),
                             consent: Fixtures.consent(), by: Fixtures.operatorActor)
        }
        let other = Fixtures.iin(5)
        #expect(throws: StoreError.noFingers) {
            try store.enroll(PersonIdentity(fullName: "x", iin: other), iin: other,
                             enrollment: Fixtures.enrollment(seed: 9, fingers: []), consent: Fixtures.consent(), by: Fixtures.operatorActor)
        }
        #expect(throws: StoreError.self) {
            try store.enroll(PersonIdentity(fullName: "x", iin: other), iin: other,
                             enrollment: Fixtures.enrollment(seed: 9, fingers: [.leftLittle]), consent: Fixtures.consent(),
                             by: Fixtures.operatorActor)
        }
        #expect(try store.personCount == 1)
    }

    @Test func noColumnHoldsPlaintextPersonalOrBiometricData() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<2)
        let iin = Fixtures.iin(0)
        let template = try TemplateCodec.encode(FingerprintRecord(views: [Fixtures.template(.rightThumb, seed: 0 &* 31 &+ 1)]), as: .native)
        let needles: [[UInt8]] = [Array(iin.digits.utf8), Array(Fixtures.name(0).utf8), Array("open wound".utf8),
                                  Array(template[13..<60]), Array("doc-7781".utf8)]
        let tables = try store.db.query("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0[0].string }
        var cells = 0
        for table in tables {
            for row in try store.db.query("SELECT * FROM \(table)") {
                for value in row {
                    cells += 1
                    let bytes: [UInt8] = switch value {
                    case .text(let s): Array(s.utf8)
                    case .blob(let b): b
                    default: []
                    }
                    for needle in needles { #expect(!Fixtures.contains(bytes, needle), "plaintext found in \(table)") }
                }
            }
        }
        #expect(cells > 50)
    }

    @Test func reenrollmentArchivesThePreviousEnrollment() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<2)
        let iin = Fixtures.iin(0)
        let newer = Fixtures.enrollment(seed: 1000, fingers: Array(FingerPosition.tenPrint), missing: [])
        try store.reenroll(iin: iin, enrollment: newer, consent: Fixtures.consent(), by: Fixtures.operatorActor)
        #expect(try store.currentEnrollment(iin: iin) == newer)
        let supervisor = Actor(login: "sup-1", role: "supervisor", basis: "BIO 9")
        #expect(try store.archivedEnrollments(iin: iin, by: supervisor) == [Fixtures.enrollment(seed: 0)])
        #expect(try store.consents(iin: iin).count == 2)
        // Matching sees only current enrollments: two persons, the re-enrolled one with the new templates.
        var loaded: [FingerprintRecord] = []
        try store.forEachCurrentEnrollment { _, record in loaded.append(record) }
        #expect(loaded.count == 2)
        #expect(loaded.contains(newer.record))
        #expect(!loaded.contains(Fixtures.enrollment(seed: 0).record))
        #expect(try store.audit.entries().map(\.entry.operation).suffix(2) == ["reenroll", "read-archive"])
        #expect(throws: StoreError.notEnrolled) {
            try store.reenroll(iin: Fixtures.iin(50), enrollment: newer, consent: Fixtures.consent(), by: Fixtures.operatorActor)
        }
    }

    @Test func ciphertextMovedToAnotherPersonDoesNotAuthenticate() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<2)
        let rows = try store.db.query("SELECT person_id, sealed_identity FROM persons")
        try store.db.run("UPDATE persons SET sealed_identity = ? WHERE person_id = ?", [rows[1][1], rows[0][0]])
        var failures = 0
        for s in 0..<2 {
            do { _ = try store.person(iin: Fixtures.iin(s)) } catch let error as KeyError {
                guard case .integrity = error else { throw error }
                failures += 1
            }
        }
        #expect(failures == 1)
    }

    @Test func fullDiskFailsTheEnrollmentCleanly() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<1)
        let pages = try store.db.query("PRAGMA page_count")[0][0].int ?? 1
        _ = try store.db.query("PRAGMA max_page_count = \(pages)")
        let audit = try store.audit.entries().count
        let head = try store.replicationLog.head().seq
        var failed = 0
        for s in 1..<20 {   // fills whatever free pages there are, then fails
            let iin = Fixtures.iin(s)
            do {
                try store.enroll(PersonIdentity(fullName: Fixtures.name(s), iin: iin), iin: iin,
                                 enrollment: Fixtures.enrollment(seed: UInt64(s)), consent: Fixtures.consent(), by: Fixtures.operatorActor)
            } catch let error as SQLiteError {
                guard case .diskFull = error else { throw error }
                #expect(try store.person(iin: iin) == nil)
                failed += 1
            }
        }
        #expect(failed > 0)
        // Every enrollment that was not refused has exactly one audit entry and one changeset.
        let persons = try store.personCount
        #expect(try store.audit.entries().count == audit + persons - 1)
        #expect(try store.replicationLog.head().seq == head + Int64(persons - 1))
        #expect(try store.audit.verify().ok)
    }

    @Test func accountsKeepTheirProfileSealed() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir)
        let profile = AccountProfile(fullName: "Ерлан Касымов", iin: Fixtures.iin(300), organisation: "Prosecutor General",
                                     unit: "Dept 4", position: "prosecutor", contacts: "+7 700 000 0000")
        try store.createAccount(login: "pr-17", role: "prosecutor", profile: profile,
                                by: Actor(login: "admin", role: "admin", basis: "LEX 13"))
        let account = try #require(try store.account(login: "pr-17"))
        #expect(account.profile == profile && account.role == "prosecutor" && account.status == "active")
        #expect(throws: StoreError.accountExists("pr-17")) {
            try store.createAccount(login: "pr-17", role: "judge", profile: profile, by: Actor(login: "admin", role: "admin", basis: "LEX 13"))
        }
        let raw = try store.db.query("SELECT sealed_profile FROM accounts")[0][0].bytes ?? []
        #expect(!Fixtures.contains(raw, Array("Касымов".utf8)))
    }
}

@Suite struct MasterKeyTests {
    @Test func loadsFromEnvironmentAndFile() throws {
        let key = MasterKey.generate(id: "k1")
        let fromEnv = try MasterKey.load(environment: [MasterKey.environmentVariable: key.exported])
        #expect(fromEnv.id == "k1" && fromEnv.checkValue == key.checkValue)
        let dir = TempDir()
        try key.write(to: dir.path("master.key"))
        #expect(try MasterKey.load(file: dir.path("master.key"), environment: [:]).checkValue == key.checkValue)
    }

    @Test func clearErrorsWhenMissingMalformedOrExposed() throws {
        #expect(throws: KeyError.self) { _ = try MasterKey.load(environment: [:]) }
        let missing = #expect(throws: KeyError.self) { _ = try MasterKey.load(environment: [:]) }
        #expect(missing?.description.contains(MasterKey.environmentVariable) == true)
        #expect(throws: KeyError.self) { _ = try MasterKey.parse("no-colon") }
        #expect(throws: KeyError.self) { _ = try MasterKey.parse("k1:" + Data([1, 2, 3]).base64EncodedString()) }
        let dir = TempDir()
        let path = dir.path("loose.key")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(MasterKey.generate(id: "k1").exported.utf8),
                                       attributes: [.posixPermissions: 0o644]))
        let error = #expect(throws: KeyError.self) { _ = try MasterKey.load(file: path, environment: [:]) }
        #expect(error == .insecureFile(path: path, mode: "644"))
    }

    @Test func wrongOrUnknownKeyIsDetectedByCheckValue() throws {
        let dir = TempDir()
        _ = try Fixtures.store(in: dir, serials: 0..<1)
        let impostor = MasterKey.generate(id: Fixtures.master.id)
        #expect(throws: KeyError.wrongMasterKey(id: Fixtures.master.id)) { _ = try Fixtures.store(in: dir, master: impostor) }
        #expect(throws: KeyError.unknownMasterKey(id: "other", known: [Fixtures.master.id])) {
            _ = try Fixtures.store(in: dir, master: MasterKey.generate(id: "other"))
        }
        #expect(try Fixtures.store(in: dir).person(iin: Fixtures.iin(0))?.fullName == Fixtures.name(0))
    }

    @Test func rotationRewrapsInBatchesWhileServing() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<5)
        let next = MasterKey.generate(id: "k2027")
        #expect(try store.keys.beginRotation(to: next) == 6)   // 5 data keys + the index key
        #expect(try store.keys.rotateBatch(limit: 2) == 3)
        // Mid-rotation: old and new wrappings coexist; reads and writes work.
        #expect(try store.person(iin: Fixtures.iin(0))?.fullName == Fixtures.name(0))
        #expect(try store.person(iin: Fixtures.iin(4))?.fullName == Fixtures.name(4))
        let iin = Fixtures.iin(9)
        try store.enroll(PersonIdentity(fullName: Fixtures.name(9), iin: iin), iin: iin, enrollment: Fixtures.enrollment(seed: 9),
                         consent: Fixtures.consent(), by: Fixtures.operatorActor)
        #expect(try store.keys.rotateBatch(limit: 2) == 1)
        #expect(try store.keys.rotateBatch(limit: 2) == 0)
        #expect(try store.keys.masterKeys().map(\.state) == ["retired", "current"])
        // Reopen with only the new key: everything readable, same look-up hashes.
        let reopened = try Fixtures.store(in: dir, master: next)
        for s in [0, 1, 2, 3, 4, 9] { #expect(try reopened.person(iin: Fixtures.iin(s))?.fullName == Fixtures.name(s)) }
        #expect(reopened.subjectReference(iin) == store.subjectReference(iin))
        // The retired key no longer opens the store.
        #expect(throws: KeyError.self) { _ = try Fixtures.store(in: dir, master: Fixtures.master) }
    }
}

@Suite struct DeletionTests {
    @Test func deletionShredsTheKeyAndKeepsARecord() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<3)
        let iin = Fixtures.iin(1)
        let person = try #require(try store.db.query("SELECT person_id FROM persons WHERE iin_hash = ?", [.blob(store.iinHash(iin))]).first?[0].bytes)
        let wrapped = try #require(try store.keys.db.query("SELECT wrapped FROM data_keys WHERE owner_id = ?", [.blob(person)]).first?[0].bytes)
        let request = DeletionRequest(requestedBy: "subject", branch: "Almaty-Bostandyk-1", basis: "BIO 11 request 2026-11-21")
        let clerk = Actor(login: "op-0099", role: "operator", basis: "BIO 11")
        #expect(try store.delete(iin: iin, request: request, by: clerk))
        #expect(try store.person(iin: iin) == nil)
        #expect(try store.currentEnrollment(iin: iin) == nil)
        #expect(throws: KeyError.dataKeyDestroyed) { _ = try store.keys.dataKey(owner: person) }
        #expect(try store.person(iin: Fixtures.iin(2))?.fullName == Fixtures.name(2))
        let record = try #require(try store.deletionRecords().first)
        #expect(record.subjectRef == store.subjectReference(iin))
        #expect(record.branch == "Almaty-Bostandyk-1" && record.requestedBy == "subject" && record.actor == "op-0099")
        #expect(try store.db.query("SELECT COUNT(*) FROM enrollment_templates et JOIN enrollments e USING (enrollment_id) WHERE e.person_id = ?",
                                   [.blob(person)])[0][0].int == 0)
        // The wrapped key is gone from the key store file and its WAL.
        let keyFiles = Fixtures.fileBytes(store.keys.db.path) + Fixtures.fileBytes(store.keys.db.path + "-wal")
        #expect(keyFiles.count > 0)
        #expect(!Fixtures.contains(keyFiles, wrapped))
        #expect(try store.audit.entries().last?.entry.operation == "delete")
        #expect(try !store.delete(iin: iin, request: request, by: clerk))
    }

    @Test func backupTakenBeforeDeletionCannotDecryptTheDeletedPerson() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<3)
        let iin = Fixtures.iin(1)
        try store.backup(to: dir.path("before.db"))
        try store.delete(iin: iin, request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"),
                         by: Fixtures.operatorActor)
        // The backup still holds the person's ciphertext, but with the live key store it is dead data.
        try Database.restore(from: dir.path("before.db"), to: dir.path("restored.db"))
        let restored = try Store(path: dir.path("restored.db"), keyStorePath: Store.keyStorePath(for: dir.path("store.db")),
                                 master: Fixtures.master)
        #expect(try restored.personCount == 3)
        #expect(throws: KeyError.dataKeyDestroyed) { _ = try restored.person(iin: iin) }
        #expect(throws: KeyError.dataKeyDestroyed) { _ = try restored.currentEnrollment(iin: iin) }
        #expect(try restored.person(iin: Fixtures.iin(0))?.fullName == Fixtures.name(0))
        // Reconciling removes the undecryptable rows.
        #expect(try restored.reconcileShredded(by: Fixtures.operatorActor) == 1)
        #expect(try restored.person(iin: iin) == nil)
        #expect(try restored.personCount == 2)
    }

    @Test func restoreOpensAndReconciles() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<3)
        try store.backup(to: dir.path("b.db"))
        try store.delete(iin: Fixtures.iin(0), request: DeletionRequest(requestedBy: "court", branch: "b", basis: "court 2-17/2026"),
                         by: Fixtures.operatorActor)
        let restored = try Store.restore(from: dir.path("b.db"), to: dir.path("r.db"),
                                         keyStorePath: Store.keyStorePath(for: dir.path("store.db")),
                                         master: Fixtures.master, by: Fixtures.operatorActor)
        #expect(try restored.personCount == 2)
        #expect(try restored.person(iin: Fixtures.iin(2))?.fullName == Fixtures.name(2))
        #expect(try restored.currentEnrollment(iin: Fixtures.iin(2)) == Fixtures.enrollment(seed: 2))
        #expect(try restored.audit.verify().ok)
    }

    @Test func oldKeyStoreCopyIsShreddedAgainByReplay() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<2)
        try store.keys.db.backup(to: dir.path("keys-copy.db"))
        let iin = Fixtures.iin(0)
        try store.delete(iin: iin, request: DeletionRequest(requestedBy: "subject", branch: "b", basis: "BIO 11"), by: Fixtures.operatorActor)
        try store.backup(to: dir.path("data-after.db"))
        // Disaster: both are restored, the key store from a copy older than the deletion.
        try Database.restore(from: dir.path("data-after.db"), to: dir.path("r.db"))
        try FileManager.default.copyItem(atPath: dir.path("keys-copy.db"), toPath: dir.path("r.db.keys"))
        let restored = try Store(path: dir.path("r.db"), master: Fixtures.master)
        #expect(try restored.replayDeletionsIntoKeyStore() == 1)
        let person = try #require(try restored.db.query("SELECT owner_id FROM deletion_records").first?[0].bytes)
        #expect(throws: KeyError.dataKeyDestroyed) { _ = try restored.keys.dataKey(owner: person) }
        #expect(try restored.person(iin: Fixtures.iin(1))?.fullName == Fixtures.name(1))
    }

    @Test func backupIsOneSelfContainedFile() throws {
        let dir = TempDir()
        let store = try Fixtures.store(in: dir, serials: 0..<2)
        try store.backup(to: dir.path("b.db"))
        #expect(!FileManager.default.fileExists(atPath: dir.path("b.db-wal")))
        let copy = try Database(path: dir.path("b.db"), options: { var o = Database.Options(); o.readOnly = true; return o }())
        #expect(try copy.query("PRAGMA journal_mode")[0][0].string == "delete")
        #expect(try copy.query("SELECT COUNT(*) FROM persons")[0][0].int == 2)
        #expect(throws: BackupError.destinationExists(dir.path("b.db"))) { try store.backup(to: dir.path("b.db")) }
    }

    @Test func backupOfACorruptFileIsRefused() throws {
        let dir = TempDir()
        #expect(FileManager.default.createFile(atPath: dir.path("junk.db"), contents: Data(repeating: 0x41, count: 8192)))
        #expect(throws: BackupError.self) { try Database.restore(from: dir.path("junk.db"), to: dir.path("x.db")) }
        #expect(throws: BackupError.self) { try Database.restore(from: dir.path("none.db"), to: dir.path("x.db")) }
        #expect(!FileManager.default.fileExists(atPath: dir.path("x.db")))
    }
}
