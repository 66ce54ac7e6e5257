import Foundation
import TanbaAccess
import TanbaCapture
import TanbaCluster
import TanbaCore
import TanbaSQLite
import TanbaStore
import TanbaWire

/// Rules proved through the in-process cluster (a station's signed requests to the
/// coordinator, which stores, audits and pushes to the workers) and on the store's files.
enum ClusterScenarios {
    /// Person numbers (synthetic masters) per scenario, so that scenarios never share a person.
    enum P {
        static let reenroll = 1, link = 2, plaintext = 3, deletion = 4, audit = 5, report = 6, intruder = 7
    }

    static let all: [RuleScenario] = [
        RuleScenario(id: "ENR-7", title: "Re-enrollment replaces the data; the old record is archived, not matched, read only by authorised roles", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let iin = world.iin(age: 50)
            let old = LocalCluster.record(P.reenroll, impression: 0), new = LocalCluster.record(P.reenroll, impression: 0, masterOffset: 8)
            try require(try await c.enroll(iin, old).outcome == .enrolled, "first enrollment not stored")
            try await c.update(iin, new, reason: "irreversible damage: scars (BIO 8)")
            let found = try await c.identify(LocalCluster.record(P.reenroll, impression: 1, masterOffset: 8))
            try require(found.candidates.first?.iin == iin, "the new record does not identify the person: \(found.candidates.map(\.iin))")
            let read = AccessPolicy().decide(AccessRequest(login: "sup-1", role: .branchSupervisor, action: .viewArchive,
                                                           basis: .subjectRequest(reference: "req-7")))
            try allowed(read)
            let archive = try c.store.archivedEnrollments(iin: iin, by: Actor(login: "sup-1", role: "branch-supervisor", basis: "subject-request"))
            try require(archive.count == 1 && archive[0].record.views == old.views, "archive holds \(archive.count) enrollments")
            return "UPDATE archived the first record; the new one identifies the person (score \(found.candidates[0].fusedScore)); branch supervisor read 1 archived enrollment"
        }, violation: { world in
            let c = try await world.cluster()
            let iin = try await reenrolledPerson(world, c)
            let oldProbe = try await c.identify(LocalCluster.record(P.reenroll + 100, impression: 1))
            try require(!oldProbe.candidates.contains { $0.iin == iin }, "the archived record still matches: \(oldProbe.candidates)")
            let operatorRead = try refusal(AccessPolicy().decide(AccessRequest(login: "op-1", role: .branchOperator, action: .viewArchive,
                                                                               basis: .subjectRequest(reference: "req-7"))), "action-not-allowed")
            let s = try StationKit(world)
            let subject = s.subject(iin)
            let first = try s.consent(for: subject)
            let reused = try await refused("a re-enrollment on the first enrollment's consent") {
                try s.check(EnrollmentCase(subject: subject, kind: .reenrollment(reason: "scars"), consent: first,
                                           captured: s.captured(FingerPosition.tenPrint), previousConsentID: first.record.id))
            }
            return "probe of the archived fingers: no candidate; branch operator reading the archive: \(operatorRead); station: \(reused)"
        }),
        RuleScenario(id: "ENR-8", title: "Personal data are linked to the biometric record by the personal identifier", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let iin = world.iin(age: 41)
            try require(try await c.enroll(iin, LocalCluster.record(P.link, impression: 0)).outcome == .enrolled, "not enrolled")
            let v = try await c.verify(iin, LocalCluster.record(P.link, impression: 1))
            try require(v.isMatch, "VERIFY by IIN did not match the person's own fingers (score \(v.fusedScore))")
            try require(try c.store.person(iin: iin)?.iin == iin.digits && (try c.store.currentEnrollment(iin: iin)?.record.views.count) == 4,
                        "identity and enrollment not reachable by the identifier")
            return "VERIFY by IIN matched (score \(v.fusedScore) ≥ \(v.threshold)); identity and 4-finger enrollment reached through the same person identifier"
        }, violation: { world in
            let c = try await world.cluster()
            let iin = world.iin(age: 42)
            _ = try await c.enroll(iin, LocalCluster.record(P.link + 100, impression: 0))
            let twice = try await c.enroll(iin, LocalCluster.record(P.link + 101, impression: 0))
            try require(twice.outcome == .alreadyEnrolled, "a second record for the same IIN was \(twice.outcome)")
            // A template moved to another person's record no longer opens: each row is bound
            // to its person (AES-GCM associated data), so the link cannot be rewired.
            let (store, path, _) = try world.store()
            let a = world.iin(age: 30), b = world.iin(age: 31)
            for (who, p) in [(a, 200), (b, 201)] {
                try store.enroll(PersonIdentity(fullName: Sample.name(who), iin: who), iin: who,
                                 enrollment: Sample.enrollment(LocalCluster.record(p, impression: 0)), consent: Sample.consent(),
                                 by: Sample.operatorActor)
            }
            let raw = try Database(path: path)
            try raw.run("""
                UPDATE enrollment_templates SET sealed_template = (
                  SELECT t.sealed_template FROM enrollment_templates t JOIN enrollments e ON e.enrollment_id = t.enrollment_id
                  JOIN persons p ON p.person_id = e.person_id WHERE p.subject_ref = ? AND t.position = 1)
                WHERE position = 1 AND enrollment_id = (SELECT e.enrollment_id FROM enrollments e JOIN persons p ON p.person_id = e.person_id
                  WHERE p.subject_ref = ?)
                """, [.text(store.subjectReference(a)), .text(store.subjectReference(b))])
            let rewired = try await refused("reading a template moved to another person") { try store.currentEnrollment(iin: b) }
            return "second ENROLL of the same IIN: \(twice.outcome); template moved to another person: \(rewired)"
        }),
        RuleScenario(id: "STO-1", title: "Cryptographic protection at rest and in transit: no plaintext, integrity, managed keys", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let iin = world.iin(age: 37)
            let record = LocalCluster.record(P.plaintext, impression: 0)
            // Station → coordinator: the person's name travels in the signed CONSENT, then ENROLL.
            try await c.consent(iin, name: Sample.name(iin))
            guard case .enrollAnswer(let enrolled) = try await c.ask(c.enrollMessage(iin, record)), enrolled.outcome == .enrolled else {
                throw RuleBroken("not enrolled")
            }
            try require(try c.store.person(iin: iin)?.fullName == Sample.name(iin), "the coordinator did not store the name sent over the wire")
            // A store written directly, with a named person too (the scan must see its pages).
            let (store, path, _) = try world.store()
            let named = world.iin(age: 38)
            try store.enroll(PersonIdentity(fullName: Sample.name(named), iin: named), iin: named,
                             enrollment: Sample.enrollment(record), consent: Sample.consent(), by: Sample.operatorActor)
            let files = [c.storePath, c.storePath + "-wal", Store.keyStorePath(for: c.storePath), Store.keyStorePath(for: c.storePath) + "-wal",
                         path, path + "-wal", Store.keyStorePath(for: path), Store.keyStorePath(for: path) + "-wal"]
                + ((try? FileManager.default.contentsOfDirectory(atPath: c.directoryPath))?.map { (c.directoryPath as NSString).appendingPathComponent($0) } ?? [])
            let bytes = files.compactMap { FileManager.default.contents(atPath: $0).map { [UInt8]($0) } }
            let template = Array(try TemplateCodec.encode(FingerprintRecord(views: [record.views[0]]), as: .native))
            let needles: [(String, [UInt8])] = [("IIN \(iin)", Array(iin.digits.utf8)), ("IIN \(named)", Array(named.digits.utf8)),
                                                ("name sent over the wire", Array(Sample.name(iin).utf8)),
                                                ("name", Array(Sample.name(named).utf8)),
                                                ("template bytes", Array(template[(template.count / 2)..<(template.count / 2 + 24)]))]
            for (what, needle) in needles where bytes.contains(where: { contains($0, needle) }) {
                throw RuleBroken("\(what) found in plaintext in the store's files")
            }
            // The scan must be able to see: the plaintext subject reference is in the same files.
            try require(bytes.contains { contains($0, Array(store.subjectReference(named).utf8)) }, "the scan does not read the store's pages")
            return "station → coordinator CONSENT (with the person's name) and ENROLL; \(bytes.count) files (\(bytes.reduce(0) { $0 + $1.count }) bytes: data, WAL, key store, subject directory) scanned: no IIN, name (the one sent over the wire included) or template bytes; the plaintext subject reference is found, so the scan reads the pages"
        }, violation: { world in
            let c = try await world.cluster()
            let (store, path, _) = try world.store()
            let iin = world.iin(age: 39)
            try store.enroll(PersonIdentity(fullName: Sample.name(iin), iin: iin), iin: iin,
                             enrollment: Sample.enrollment(LocalCluster.record(P.plaintext + 100, impression: 0)),
                             consent: Sample.consent(), by: Sample.operatorActor)
            let raw = try Database(path: path)
            let ref = SQLValue.text(store.subjectReference(iin))
            guard var sealed = try raw.query("SELECT sealed_identity FROM persons WHERE subject_ref = ?", [ref]).first?[0].bytes else {
                throw RuleBroken("the person's row is missing")
            }
            sealed[sealed.count / 2] ^= 0x01
            try raw.run("UPDATE persons SET sealed_identity = ? WHERE subject_ref = ?", [.blob(sealed), ref])
            let flipped = try await refused("a ciphertext with one byte changed") { try store.person(iin: iin) }
            let wrongKey = try await refused("opening the store with another master key") {
                try Store(path: path, master: MasterKey.generate(id: "thief"))
            }
            let stranger = world.iin(age: 40)
            let intruder = try await refused("ENROLL from a station outside the keyring") {
                try await c.ask(.enroll(EnrollRequest(iin: stranger, record: LocalCluster.record(P.intruder, impression: 0))), from: c.intruder)
            }
            try require(!c.coordinator.directory.contains(stranger), "the intruder's enrollment was stored")
            return "one ciphertext byte changed: \(flipped) | another master key: \(wrongKey) | unsigned station: \(intruder)"
        }),
        RuleScenario(id: "STO-2", title: "Deletion on request at any branch, the same day, by crypto-shredding", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let iin = try await deletedPerson(world, c)
            let record = try c.store.deletionRecords().last
            let day = String(AstanaTime.now().prefix(10))
            try require(record?.subjectRef == c.store.subjectReference(iin) && record?.deletedAt.hasPrefix(day) == true
                        && record?.requestedAt.hasPrefix(day) == true, "no deletion record of today: \(String(describing: record))")
            let after = try await c.identify(LocalCluster.record(P.deletion, impression: 1))
            try require(!after.candidates.contains { $0.iin == iin } && (try c.store.person(iin: iin)) == nil, "the deleted person is still found")
            return "DELETE at branch \(record!.branch) requested \(record!.requestedAt), done \(record!.deletedAt); identify and store no longer find the person"
        }, violation: { world in
            let c = try await world.cluster()
            let iin = try await deletedPerson(world, c)
            // A backup taken before the deletion, restored: the rows come back, the key does not.
            let restored = world.path("restored.db")
            try Database.restore(from: deletedPersonBackup(world), to: restored)
            let copy = try Store(path: restored, keyStorePath: Store.keyStorePath(for: c.storePath), master: c.master)
            let present = try copy.personCount
            let unreadable = try await refused("reading the deleted person from a pre-deletion backup") {
                guard let p = try copy.person(iin: iin) else { throw RuleBroken("the backup does not hold the person") }
                return p
            }
            let removed = try copy.reconcileShredded(by: Actor(login: "ops-1", role: "ops-administrator", basis: "operations"))
            return "pre-deletion backup restored (\(present) persons): \(unreadable); reconciliation then removed \(removed) shredded person(s)"
        }),
        RuleScenario(id: "LEX-12", title: "Every request and its result in a tamper-evident event log", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let before = try c.store.audit.entries().count
            let iin = world.iin(age: 44)
            _ = try await c.enroll(iin, LocalCluster.record(P.audit, impression: 0))
            _ = try await c.identify(LocalCluster.record(P.audit, impression: 1))
            _ = try await c.verify(iin, LocalCluster.record(P.audit, impression: 1))
            let new = try c.store.audit.entries().dropFirst(before).map(\.entry)
            // The station's CONSENT is logged too: it is received and kept before the ENROLL.
            try require(new.map(\.operation) == ["consent", "enroll", "identify", "verify"], "logged: \(new.map(\.operation))")
            // Each decision with who, role, basis and reference: the examiner's search, the
            // station's verification at the counter on the consent.
            try require(new[2].role == "examiner" && new[2].basis == "adjudication" && new[2].caseNumber != nil
                        && new[3].role == "branch-operator" && new[3].basis == "consent" && new[3].caseNumber != nil,
                        "decision fields missing: \(new[2]), \(new[3])")
            let check = try c.store.audit.verify()
            try require(check.ok, "the intact log does not verify: \(check.detail ?? "")")
            return "CONSENT, ENROLL, IDENTIFY, VERIFY logged with results (\(new.map { "\($0.operation): \($0.result)" }.joined(separator: "; "))); chain of \(check.entriesChecked) entries verifies"
        }, violation: { world in
            let c = try await world.cluster()
            // A request without a basis is refused by the coordinator — and logged.
            let before = try c.auditCount
            let noBasis = try await c.refusedOverTheWire(.identify(IdentifyRequest(probe: LocalCluster.record(P.audit + 100, impression: 1), topK: 5,
                requester: try await c.requester("inv-1", .investigatorPolice, .none, ""))), .accessDenied, "missing-basis")
            let refusedEntry = try c.auditEntries(after: before)
            try require(refusedEntry.count == 1 && refusedEntry[0].actor == "inv-1" && refusedEntry[0].operation == "identify"
                        && refusedEntry[0].result.hasPrefix("refused: missing-basis"), "the refused request is not logged: \(refusedEntry)")
            _ = try await c.identify(LocalCluster.record(P.audit + 100, impression: 1))
            let live = try Database(path: c.storePath)
            let rewrite = try await refused("rewriting an audit entry in the live store") {
                try live.run("UPDATE audit_log SET result = 'no candidates' WHERE seq = (SELECT MAX(seq) FROM audit_log)")
            }
            // Someone with the file drops the triggers and edits an entry: the chain shows it.
            let copy = world.path("tampered.db")
            try c.store.backup(to: copy)
            let raw = try Database(path: copy)
            for trigger in ["audit_log_no_update", "audit_log_delete_only_archived"] { try raw.execute("DROP TRIGGER \(trigger)") }
            let seq = try raw.query("SELECT MAX(seq) FROM audit_log WHERE operation = 'identify'")[0][0].int64 ?? 0
            // A result no coordinator writes, so the edit always changes the row.
            try raw.run("UPDATE audit_log SET result = 'edited: 3 candidates' WHERE seq = ?", [.integer(seq)])
            let check = try AuditLog(db: raw).verify()
            try require(!check.ok && check.firstBadSeq == seq, "the edited entry \(seq) was not detected: \(check)")
            return "IDENTIFY without a basis: \(noBasis), logged as '\(refusedEntry[0].result)' | live store: \(rewrite) | copy with triggers dropped, entry \(seq) edited: verification reports '\(check.problem!.rawValue)' at \(check.firstBadSeq!)"
        }),
        RuleScenario(id: "LEX-13", title: "Times are recorded in Astana time", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            _ = try await c.identify(LocalCluster.record(P.audit + 200, impression: 1))
            let entries = try c.store.audit.entries().map(\.entry)
            let wrong = entries.filter { !$0.at.hasSuffix("+05:00") || AstanaTime.parse($0.at) == nil }
            try require(!entries.isEmpty && wrong.isEmpty, "entries not in Astana time: \(wrong.map(\.at))")
            let w = try AccessWorld(world)
            try w.account("inv-1", .investigatorPolice)
            let events = try w.registry.events(for: "inv-1")
            try require(events.allSatisfy { $0.at.hasSuffix("+05:00") }, "account events not in Astana time")
            return "\(entries.count) store audit entries (last \(entries.last!.at)) and \(events.count) account events, all UTC+05:00"
        }, violation: { world in
            let (store, _, _) = try world.store()
            let utc = try await refused("an audit entry stamped in UTC") {
                try store.audit.append(AuditEntry(actor: "op-1", role: "branch-operator", basis: "consent", operation: "enroll",
                                                  result: "ok", at: "2026-11-21T05:00:00.000Z"))
            }
            return utc
        }),
        RuleScenario(id: "CON-4", title: "The subject sees every action on their data except those of law-enforcement, special bodies and courts", layer: .cluster, lawful: { world in
            let c = try await world.cluster()
            let (iin, token) = try await reportedPerson(world, c)
            let gated = try SubjectReports.report(store: c.store, control: c.access.control, token: token, iin: iin, request: "req-subject-1")
            guard let report = gated.value else { throw RuleBroken("report refused: \(gated.decision.reason)") }
            let operations = report.actions.map(\.operation)
            try require(operations == ["consent", "enroll", "verify"], "listed: \(operations)")
            try require(!report.actions.contains { SubjectTransparency.isExempt(role: $0.role) }, "an exempt body's action is listed")
            try require(report.consentHolders.count == 1, "consent holders: \(report.consentHolders.count)")
            // The investigator's view is in the log (the coordinator wrote it), only not shown.
            let ref = c.store.subjectReference(iin)
            try require(try c.store.audit.entries().contains { $0.entry.subjectRef == ref && $0.entry.operation == "view-record"
                                                              && $0.entry.role == "investigator-police" && $0.entry.result.hasPrefix("allowed") },
                        "the investigator's VIEW_RECORD is not in the log")
            return "report lists \(operations.joined(separator: ", ")) by \(Set(report.actions.map(\.who)).sorted().joined(separator: ", ")); the investigator's view of the record is not listed; \(report.consentHolders.count) consent holder"
        }, violation: { world in
            let c = try await world.cluster()
            let (iin, _) = try await reportedPerson(world, c)
            let gated = try SubjectReports.report(store: c.store, control: c.access.control, token: try await c.session("inv-2", .investigatorPolice),
                                                  iin: iin, request: "req-subject-1")
            try require(gated.value == nil, "an investigator obtained the subject's report")
            let code = try refusal(gated.decision, "action-not-allowed")
            let logged = try c.store.audit.entries().last?.entry
            try require(logged?.operation == "subject-report" && logged?.result.hasPrefix("refused") == true, "the refused request is not in the log")
            return "an investigator asking for the subject's report: \(code), and the refusal is logged"
        }),
    ]

    // MARK: Shared set-ups (once per run; both halves of a scenario use them)

    /// A person enrolled and then re-enrolled with other fingers, once per cluster.
    static func reenrolledPerson(_ world: ComplianceWorld, _ c: LocalCluster) async throws -> IIN {
        if let iin = world.memo["reenrolled"] as? IIN { return iin }
        let iin = world.iin(age: 52)
        _ = try await c.enroll(iin, LocalCluster.record(P.reenroll + 100, impression: 0))
        try await c.update(iin, LocalCluster.record(P.reenroll + 100, impression: 0, masterOffset: 8), reason: "scars")
        world.memo["reenrolled"] = iin
        return iin
    }

    /// A person enrolled, backed up, then deleted through the cluster, once per cluster.
    static func deletedPerson(_ world: ComplianceWorld, _ c: LocalCluster) async throws -> IIN {
        if let iin = world.memo["deleted"] as? IIN { return iin }
        let iin = world.iin(age: 33)
        try require(try await c.enroll(iin, LocalCluster.record(P.deletion, impression: 0)).outcome == .enrolled, "not enrolled")
        let found = try await c.identify(LocalCluster.record(P.deletion, impression: 1))
        try require(found.candidates.first?.iin == iin, "the person was not identifiable before deletion")
        let backup = world.path("before-deletion.db")
        try c.store.backup(to: backup)
        try require(try await c.delete(iin, reason: "subject's request at branch Astana-Esil-3 (form del-1)"), "DELETE deleted nothing")
        world.memo["deleted"] = iin
        world.memo["deleted-backup"] = backup
        return iin
    }

    static func deletedPersonBackup(_ world: ComplianceWorld) throws -> String {
        guard let path = world.memo["deleted-backup"] as? String else { throw RuleBroken("no pre-deletion backup") }
        return path
    }

    /// A person enrolled and verified by the station, whose record an investigator viewed
    /// through the coordinator (VIEW_RECORD on a criminal case); and a branch operator's
    /// session of the cluster's access layer to ask for the report.
    static func reportedPerson(_ world: ComplianceWorld, _ c: LocalCluster) async throws -> (IIN, String) {
        let token = try await c.session("op-1", .branchOperator)
        if let iin = world.memo["reported"] as? IIN { return (iin, token) }
        let iin = world.iin(age: 47)
        try require(try await c.enroll(iin, LocalCluster.record(P.report, impression: 0)).outcome == .enrolled, "not enrolled")
        _ = try await c.verify(iin, LocalCluster.record(P.report, impression: 1))
        let view = try await c.ask(.viewRecord(ViewRecordRequest(iin: iin, requester: try await c.requester(
            "inv-1", .investigatorPolice, .criminal, AccessScenarios.criminalCase))))
        guard case .recordAnswer(let record) = view, record.iin == iin else { throw RuleBroken("the investigator's VIEW_RECORD was not answered: \(view)") }
        world.memo["reported"] = iin
        return (iin, token)
    }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    let first = needle[0]
    return haystack.withUnsafeBufferPointer { h in
        needle.withUnsafeBufferPointer { n in
            var i = 0
            let last = h.count - n.count
            while i <= last {
                if h[i] == first && memcmp(h.baseAddress! + i, n.baseAddress!, n.count) == 0 { return true }
                i += 1
            }
            return false
        }
    }
}
