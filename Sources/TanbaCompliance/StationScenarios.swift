import Crypto
import Foundation
import TanbaCapture
import TanbaCore
import TanbaStore
import TanbaWire

/// A branch station as the scenarios need it: its Ed25519 identity (which signs consent),
/// its enrollment rules on the world's day, and captured ten-prints.
struct StationKit {
    let world: ComplianceWorld
    let identity: NodeIdentity
    let rules: EnrollmentRules

    init(_ world: ComplianceWorld) throws {
        self.world = world
        identity = try NodeIdentity(name: "station-1", signingKey: Curve25519.Signing.PrivateKey())
        rules = EnrollmentRules(today: world.today)
    }

    var verifier: ConsentVerifier { SignedConsent.verifier(identity.publicKey) }

    func subject(_ iin: IIN, citizenship: Subject.Citizenship = .citizen, document: Subject.DocumentType = .idCard,
                 incapable: Bool = false, guardian: Guardian? = nil) -> Subject {
        Subject(name: "Test Person \(iin.digits.suffix(4))", iin: iin, citizenship: citizenship, documentType: document,
                documentNumber: "N\(iin.digits.suffix(8))", declaredIncapable: incapable, guardian: guardian)
    }

    func consent(for subject: Subject, date: IIN.BirthDate? = nil, signer: NodeIdentity? = nil,
                 purpose: EnrollmentPurpose = .publicServices) throws -> SignedConsent {
        let record = ConsentRecord(operatorOrganisation: "NAO Government for Citizens", operatorBIN: "021240001789",
                                   operatorEmployee: "op-0001", branch: "Astana-Esil-3", station: identity.name,
                                   subjectName: subject.name, subjectIIN: subject.iin, date: date ?? world.today,
                                   term: "until revoked", formReference: "form-\(subject.iin.digits.suffix(6))",
                                   purpose: purpose, guardian: subject.guardian)
        return try SignedConsent(record, signedBy: signer ?? identity)
    }

    /// Templates of the given fingers (synthetic captures; the rules look at which fingers
    /// were captured, the store and cluster at the minutiae).
    func captured(_ positions: [FingerPosition], person: Int = 900) -> [FingerTemplate] {
        positions.map { p in
            LocalCluster.generator.impression(of: LocalCluster.generator.master(finger: UInt64(person) * 16 + UInt64(p.rawValue)),
                                              index: 0, position: p)
        }
    }

    /// A complete lawful case: an adult citizen, consent signed today, ten fingers.
    func lawfulCase(_ subject: Subject, purpose: EnrollmentPurpose = .publicServices) throws -> EnrollmentCase {
        EnrollmentCase(subject: subject, purpose: purpose, consent: try consent(for: subject, purpose: purpose),
                       captured: captured(FingerPosition.tenPrint))
    }

    func check(_ c: EnrollmentCase) throws -> [FingerException] { try rules.check(c, verifyingKey: verifier) }

    /// The lawful case for an adult citizen, checked (throws if the rules refuse it).
    func acceptedCase(age: Int) throws -> EnrollmentCase {
        let c = try lawfulCase(subject(world.iin(age: age)))
        _ = try check(c)
        return c
    }
}

/// The enrollment and consent rules, each proved twice: at the branch station before
/// anything is sent (`EnrollmentRules`, REQUIREMENTS.md §2), and at the coordinator for the
/// same request sent over the wire without the station's check (a station → coordinator
/// CONSENT / ENROLL in the shared in-process cluster: ERROR 14 consent, 15 rules, 16 consent
/// signature), with what the coordinator's store keeps of them.
enum StationScenarios {
    /// Synthetic persons (fingers) of these scenarios' wire enrollments; distinct from every
    /// other scenario's so that de-duplication never holds one.
    enum Q { static let consent = 500, age = 510, guardian = 520, exceptions = 530, proof = 540, fields = 550 }

    static let all: [RuleScenario] = [
        RuleScenario(id: "ENR-1", title: "Written consent of this person, dated today, before capture", layer: .cluster, lawful: { world in
            let c = try StationKit(world).acceptedCase(age: 30)
            // Station → coordinator: the signed CONSENT first, then ENROLL; the form is kept with the person.
            let cluster = try await world.cluster()
            let iin = world.iin(age: 30)
            try await cluster.consent(iin, name: "Consent Person")
            let answer = try await cluster.ask(cluster.enrollMessage(iin, LocalCluster.record(Q.consent, impression: 0)))
            guard case .enrollAnswer(let a) = answer, a.outcome == .enrolled else { throw RuleBroken("ENROLL after CONSENT: \(answer)") }
            let kept = try cluster.store.consents(iin: iin).first?.signed
            try require(kept?.subjectIIN == iin.digits && kept?.station == "station-1" && (try cluster.store.person(iin: iin))?.fullName == "Consent Person",
                        "the consent is not kept with the person: \(String(describing: kept))")
            return "station: consent \(c.consent!.record.formReference) signed today (\(c.consent!.record.date)) by the person: enrollment accepted | coordinator: CONSENT then ENROLL over the wire: enrolled, the signed form kept with the person"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            c.consent = nil
            let missing = try await refused("enrollment without consent") { try s.check(c) }
            let lastYear = IIN.BirthDate(year: world.today.year - 1, month: world.today.month, day: min(world.today.day, 28))
            c.consent = try s.consent(for: subject, date: lastYear)
            let stale = try await refused("consent from a year ago") { try s.check(c) }
            c.consent = try s.consent(for: s.subject(world.iin(age: 40)))
            let other = try await refused("another person's consent") { try s.check(c) }
            // The same requests sent to the coordinator without the station's check.
            let cluster = try await world.cluster()
            let record = LocalCluster.record(Q.consent + 1, impression: 0)
            let bare = world.iin(age: 30)
            let wireNone = try await cluster.expectRefusal("ENROLL without a consent on record", cluster.enrollMessage(bare, record),
                                                          .consentRequired)
            let victim = world.iin(age: 31)
            let wireOther = try await cluster.expectRefusal("CONSENT naming another person",
                                                           try cluster.consentMessage(cluster.consentForm(world.iin(age: 40)), iin: victim), .invalidArgument)
            let afterOther = try await cluster.expectRefusal("ENROLL on another person's consent", cluster.enrollMessage(victim, record), .consentRequired)
            let expired = world.iin(age: 32)
            try await cluster.consent(cluster.consentForm(expired, date: lastYear, term: "1 months"))
            let wireStale = try await cluster.expectRefusal("ENROLL on last year's one-month consent", cluster.enrollMessage(expired, record),
                                                           .consentRequired)
            try require(![bare, victim, expired].contains { cluster.coordinator.directory.contains($0) }, "a refused enrollment was stored")
            return "station: none: \(missing); dated \(lastYear): \(stale); another person's: \(other) | coordinator: ENROLL without consent \(wireNone); CONSENT naming another person \(wireOther), then ENROLL \(afterOther); consent whose term ended \(wireStale)"
        }),
        RuleScenario(id: "ENR-2", title: "Public services from 18; foreigners and stateless persons from 16 for a travel document", layer: .cluster, lawful: { world in
            let s = try StationKit(world)
            _ = try s.check(try s.lawfulCase(s.subject(world.iin(age: 18, daysPastBirthday: 0))))
            _ = try s.check(try s.lawfulCase(s.subject(world.iin(age: 16, daysPastBirthday: 0), citizenship: .foreigner,
                                                       document: .travelDocument), purpose: .travelDocument))
            _ = try s.check(try s.lawfulCase(s.subject(world.iin(age: 16), citizenship: .stateless, document: .travelDocument),
                                             purpose: .travelDocument))
            // At the coordinator, from the signed consent (age on its date, purpose, citizenship).
            let cluster = try await world.cluster()
            let adult = world.iin(age: 18, daysPastBirthday: 0), foreigner = world.iin(age: 16, daysPastBirthday: 0)
            for (n, (iin, form)) in [(adult, cluster.consentForm(adult)),
                                     (foreigner, cluster.consentForm(foreigner, purpose: .travelDocument, citizenship: .foreigner))].enumerated() {
                try await cluster.consent(form)
                let answer = try await cluster.ask(cluster.enrollMessage(iin, LocalCluster.record(Q.age + n, impression: 0)))
                guard case .enrollAnswer(let a) = answer, a.outcome == .enrolled else { throw RuleBroken("ENROLL of \(iin): \(answer)") }
            }
            return "station: citizen on the 18th birthday, foreigner on the 16th birthday and stateless 16-year-old (travel document): accepted | coordinator: the citizen turning 18 today and the foreigner turning 16 (travel document) enrolled over the wire"
        }, violation: { world in
            let s = try StationKit(world)
            let minor = try await refused("a citizen the day before turning 18") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 18, daysPastBirthday: -1))))
            }
            let young = try await refused("a foreigner aged 15") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 15), citizenship: .foreigner, document: .travelDocument),
                                             purpose: .travelDocument))
            }
            let citizen16 = try await refused("a citizen aged 16 for a travel document") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 16)), purpose: .travelDocument))
            }
            let cluster = try await world.cluster()
            let minorIIN = world.iin(age: 18, daysPastBirthday: -1), young15 = world.iin(age: 15), citizen16IIN = world.iin(age: 16)
            let attempts: [(IIN, ConsentRecord, String)] = [
                (minorIIN, cluster.consentForm(minorIIN), "[BIO 4]"),
                (young15, cluster.consentForm(young15, purpose: .travelDocument, citizenship: .foreigner), "[DACT 5]"),
                (citizen16IIN, cluster.consentForm(citizen16IIN, purpose: .travelDocument, citizenship: .citizen), "[DACT 5]"),
            ]
            var wire: [String] = []
            for (n, (iin, form, rule)) in attempts.enumerated() {
                try await cluster.consent(form)
                wire.append(try await cluster.expectRefusal("ENROLL of \(iin)", cluster.enrollMessage(iin, LocalCluster.record(Q.age + 5 + n, impression: 0)),
                                                            .ruleViolation, containing: rule))
            }
            return "station: \(minor) | \(young) | \(citizen16) | coordinator: day before 18 \(wire[0]); foreigner 15 \(wire[1]); citizen 16 for a travel document \(wire[2])"
        }),
        RuleScenario(id: "ENR-3", title: "A person declared incapable only with the guardian present and the guardian's application", layer: .cluster, lawful: { world in
            let s = try StationKit(world)
            let guardian = Guardian(name: "Guardian G", iin: world.iin(age: 45), applicationNumber: "GA-2026-0042")
            let subject = s.subject(world.iin(age: 35), incapable: true, guardian: guardian)
            let c = try s.lawfulCase(subject)
            _ = try s.check(c)
            // The store keeps the guardian with the person (sealed) [BIO 5].
            let (store, _, _) = try world.store()
            try store.enroll(PersonIdentity(fullName: subject.name, iin: subject.iin, guardian: guardian.name), iin: subject.iin,
                             enrollment: Sample.enrollment(FingerprintRecord(views: c.captured)), consent: Sample.consent(),
                             by: Sample.operatorActor)
            let kept = try store.person(iin: subject.iin)?.guardian
            try require(kept == guardian.name && c.consent?.record.guardianApplication == "GA-2026-0042",
                        "guardian not kept: store \(kept ?? "nil"), consent \(c.consent?.record.guardianApplication ?? "nil")")
            // Over the wire: the coordinator reads capacity and guardian from the signed consent.
            let cluster = try await world.cluster()
            let ward = world.iin(age: 36)
            try await cluster.consent(cluster.consentForm(ward, declaredIncapable: true,
                                                          guardian: Guardian(name: "Guardian W", iin: world.iin(age: 50), applicationNumber: "GA-2026-0043")))
            let answer = try await cluster.ask(cluster.enrollMessage(ward, LocalCluster.record(Q.guardian, impression: 0)))
            guard case .enrollAnswer(let a) = answer, a.outcome == .enrolled else { throw RuleBroken("ENROLL with a guardian: \(answer)") }
            let wireGuardian = try cluster.store.person(iin: ward)?.guardian
            try require(wireGuardian == "Guardian W", "the coordinator's store names guardian \(wireGuardian ?? "nil")")
            return "station: guardian present with application GA-2026-0042: accepted; consent and store record name the guardian | coordinator: enrolled over the wire with the guardian kept (sealed) with the person"
        }, violation: { world in
            let s = try StationKit(world)
            let alone = try await refused("an incapable person without a guardian") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 35), incapable: true)))
            }
            let noApplication = try await refused("a guardian without a written application") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 35), incapable: true,
                                                       guardian: Guardian(name: "G", iin: world.iin(age: 45), applicationNumber: " "))))
            }
            let cluster = try await world.cluster()
            let ward = world.iin(age: 37), ward2 = world.iin(age: 38)
            try await cluster.consent(cluster.consentForm(ward, declaredIncapable: true))
            let wireAlone = try await cluster.expectRefusal("ENROLL of an incapable person without a guardian",
                                                           cluster.enrollMessage(ward, LocalCluster.record(Q.guardian + 1, impression: 0)),
                                                           .ruleViolation, containing: "[BIO 5]")
            try await cluster.consent(cluster.consentForm(ward2, declaredIncapable: true,
                                                          guardian: Guardian(name: "G", iin: world.iin(age: 45), applicationNumber: " ")))
            let wireNoApplication = try await cluster.expectRefusal("ENROLL with a guardian but no application",
                                                                   cluster.enrollMessage(ward2, LocalCluster.record(Q.guardian + 2, impression: 0)),
                                                                   .ruleViolation, containing: "[BIO 5]")
            return "station: \(alone) | \(noApplication) | coordinator: no guardian \(wireAlone); no application \(wireNoApplication)"
        }),
        RuleScenario(id: "ENR-4", title: "All ten fingers are captured (or each missing one recorded)", layer: .station, lawful: { world in
            let c = try StationKit(world).acceptedCase(age: 30)
            return "\(c.captured.count) fingers of both hands captured: accepted"
        }, violation: { world in
            let s = try StationKit(world)
            var c = try s.lawfulCase(s.subject(world.iin(age: 30)))
            c.captured.removeLast()
            let nine = try await refused("nine fingers without an exception") { try s.check(c) }
            c.captured = s.captured(Array(FingerPosition.tenPrint.prefix(9)) + [.unknown])
            let foreign = try await refused("a capture that is not one of the ten fingers") { try s.check(c) }
            return "\(nine) | \(foreign)"
        }),
        RuleScenario(id: "ENR-5", title: "Damaged fingers: the others are captured, the missing ones recorded with the reason", layer: .cluster, lawful: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            c.captured = s.captured(Array(FingerPosition.tenPrint.prefix(8)))
            c.exceptions = [FingerException(position: .leftRing, kind: .wound, reason: "open cut, bandaged"),
                            FingerException(position: .leftLittle, kind: .deformed, reason: "deformed joint")]
            let recorded = try s.check(c)
            // The exceptions go on record with the enrollment (sealed in the store).
            let (store, _, _) = try world.store()
            try store.enroll(PersonIdentity(fullName: subject.name, iin: subject.iin), iin: subject.iin,
                             enrollment: Sample.enrollment(FingerprintRecord(views: c.captured),
                                                           missing: recorded.map { MissingFinger(position: $0.position, reason: $0.reason) }),
                             consent: Sample.consent(), by: Sample.operatorActor)
            let stored = try store.currentEnrollment(iin: subject.iin)?.missing ?? []
            try require(stored.map(\.reason) == ["open cut, bandaged", "deformed joint"], "stored exceptions: \(stored)")
            // Over the wire (protocol v2 exceptions): the coordinator stores kind and reason,
            // and they read back from its store.
            let cluster = try await world.cluster()
            let iin = world.iin(age: 30)
            let record = LocalCluster.record(Q.exceptions, impression: 0)
            var exceptions = LocalCluster.exceptions(for: record)
            exceptions[0] = FingerException(position: exceptions[0].position, kind: .wound, reason: "open cut, bandaged")
            exceptions[1] = FingerException(position: exceptions[1].position, kind: .deformed, reason: "deformed joint")
            try await cluster.consent(iin)
            let answer = try await cluster.ask(cluster.enrollMessage(iin, record, exceptions: exceptions))
            guard case .enrollAnswer(let a) = answer, a.outcome == .enrolled else { throw RuleBroken("ENROLL with exceptions: \(answer)") }
            let wire = try cluster.store.currentEnrollment(iin: iin)?.missing ?? []
            try require(wire.count == 6 && wire.contains { $0.position == exceptions[0].position && $0.reason.contains("open cut, bandaged") }
                        && wire.contains { $0.position == exceptions[1].position && $0.reason.contains("deformed joint") },
                        "exceptions in the coordinator's store: \(wire)")
            return "station: 8 captured, 2 recorded: " + stored.map { "\($0.position.displayName.lowercased()) (\($0.reason))" }.joined(separator: ", ")
                + " | coordinator: 4 captured + 6 exceptions sent in ENROLL, read back from its store with kind and reason (e.g. '\(wire.first { $0.position == exceptions[0].position }!.reason)')"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            c.captured = s.captured(Array(FingerPosition.tenPrint.prefix(9)))
            c.exceptions = [FingerException(position: .leftLittle, kind: .wound, reason: "")]
            let unreasoned = try await refused("an exception without a reason") { try s.check(c) }
            let (store, _, _) = try world.store()
            let both = try await refused("a finger both captured and recorded missing") {
                try store.enroll(PersonIdentity(fullName: subject.name, iin: subject.iin), iin: subject.iin,
                                 enrollment: Sample.enrollment(FingerprintRecord(views: s.captured(Array(FingerPosition.tenPrint.prefix(9)))),
                                                               missing: [MissingFinger(position: .rightThumb, reason: "wound")]),
                                 consent: Sample.consent(), by: Sample.operatorActor)
            }
            let cluster = try await world.cluster()
            let wireIIN = world.iin(age: 30)
            let record = LocalCluster.record(Q.exceptions + 1, impression: 0)
            try await cluster.consent(wireIIN)
            var silent = LocalCluster.exceptions(for: record)
            silent[0].reason = " "
            let wireUnreasoned = try await cluster.expectRefusal("ENROLL with an exception without a reason",
                                                                cluster.enrollMessage(wireIIN, record, exceptions: silent), .ruleViolation,
                                                                containing: "needs a reason")
            var twice = LocalCluster.exceptions(for: record)
            twice[0].position = record.views[0].position
            let wireBoth = try await cluster.expectRefusal("ENROLL with a finger both captured and excepted",
                                                          cluster.enrollMessage(wireIIN, record, exceptions: twice), .ruleViolation,
                                                          containing: "both captured and recorded")
            return "station: \(unreasoned) | store: \(both) | coordinator: no reason \(wireUnreasoned); captured and excepted \(wireBoth)"
        }),
        RuleScenario(id: "ENR-6", title: "No enrollment when all fingers are missing or have no papillary pattern", layer: .station, lawful: { world in
            let s = try StationKit(world)
            var c = try s.lawfulCase(s.subject(world.iin(age: 60)))
            c.captured = s.captured([.rightIndex])
            c.exceptions = FingerPosition.tenPrint.filter { $0 != .rightIndex }
                .map { FingerException(position: $0, kind: .missing, reason: "amputated") }
            _ = try s.check(c)
            return "one finger with a pattern, nine recorded missing: accepted"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 60))
            var c = try s.lawfulCase(subject)
            c.captured = []
            c.exceptions = FingerPosition.tenPrint.map { FingerException(position: $0, kind: $0.hand == .left ? .missing : .noPattern,
                                                                         reason: "no papillary pattern") }
            let station = try await refused("an enrollment with no finger") { try s.check(c) }
            let (store, _, _) = try world.store()
            let stored = try await refused("storing an enrollment with no finger") {
                try store.enroll(PersonIdentity(fullName: subject.name, iin: subject.iin), iin: subject.iin,
                                 enrollment: Sample.enrollment(FingerprintRecord(views: [])), consent: Sample.consent(), by: Sample.operatorActor)
            }
            return "station: \(station) | store: \(stored)"
        }),
        RuleScenario(id: "CON-1", title: "Consent is provable: signed by the station, forged or altered consent refused", layer: .cluster, lawful: { world in
            let s = try StationKit(world)
            let c = try s.acceptedCase(age: 30)
            // What the cluster receives and keeps: the canonical document and its signature.
            let reread = try SignedConsent(document: c.consent!.document, signature: c.consent!.signature)
            try require(reread.isValid(publicKey: s.identity.publicKey) && reread.record == c.consent!.record,
                        "the stored consent document does not verify")
            let revocation = try ConsentRevocation(subjectIIN: c.subject.iin, subjectName: c.subject.name, date: world.today,
                                                   operatorEmployee: "op-0001", branch: "Astana-Esil-3", station: s.identity.name,
                                                   formReference: "rev-1", deleteData: true).message(signedBy: s.identity)
            try require(s.identity.publicKey.isValidSignature(revocation.signature, for: revocation.document),
                        "the revocation is not signed by the station")
            // Over the wire: the coordinator keeps the station-signed document (the proof), and a
            // signed revocation refuses later enrollment of the person.
            let cluster = try await world.cluster()
            let iin = world.iin(age: 30)
            let form = cluster.consentForm(iin)
            try await cluster.consent(form)
            // Kept sealed in the store before any enrollment: the document and the station's signature.
            let kept = try cluster.store.latestConsent(iin: iin)
            try require(kept.map { cluster.station.identity.publicKey.isValidSignature($0.signature, for: $0.document) } == true
                        && kept?.document == form.canonicalJSON() && kept?.station == "station-1",
                        "the coordinator does not keep a document that verifies with the station's key")
            let revoke = try ConsentRevocation(subjectIIN: iin, subjectName: form.subjectName, date: world.today, operatorEmployee: "op-0001",
                                               branch: "Astana-Esil-3", station: cluster.station.identity.name, formReference: "rev-2",
                                               deleteData: false).message(signedBy: cluster.station.identity)
            guard case .consentAnswer = try await cluster.ask(.consent(revoke)) else { throw RuleBroken("the revocation was not recorded") }
            let afterRevocation = try await cluster.expectRefusal("ENROLL after the consent was revoked",
                                                                 cluster.enrollMessage(iin, LocalCluster.record(Q.proof, impression: 0)), .consentRequired)
            return "station: consent \(c.consent!.record.id.prefix(8)) and its revocation signed by \(s.identity.name) (Ed25519) and verified from the stored bytes | coordinator: the CONSENT document kept and verifying with station-1's key; the signed revocation recorded, ENROLL then \(afterRevocation)"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            c.consent = try s.consent(for: subject, signer: try NodeIdentity(name: "station-9", signingKey: Curve25519.Signing.PrivateKey()))
            let forged = try await refused("consent signed by an unknown key") { try s.check(c) }
            let cluster = try await world.cluster()
            let iin = world.iin(age: 30)
            let foreign = try NodeIdentity(name: "station-1", signingKey: Curve25519.Signing.PrivateKey())
            let wireForged = try await cluster.expectRefusal("CONSENT signed by another key",
                                                            try cluster.consentMessage(cluster.consentForm(iin), signer: foreign), .badConsentSignature)
            try require(try cluster.store.latestConsent(iin: iin) == nil, "the forged consent was kept")
            return "station: consent signed by a key other than the station's: \(forged) | coordinator: CONSENT signed by another key \(wireForged), nothing kept"
        }),
        RuleScenario(id: "CON-2", title: "The consent record holds operator, subject, term, third-party, cross-border and publication", layer: .cluster, lawful: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            let record = try s.consent(for: subject).record
            let fields: [(String, String)] = [("operator", record.operatorOrganisation), ("BIN", record.operatorBIN),
                                              ("employee", record.operatorEmployee), ("subject", record.subjectName),
                                              ("IIN", record.subjectIIN), ("birth date", record.subjectBirthDate),
                                              ("date", record.date), ("term", record.term), ("form", record.formReference)]
            let empty = fields.filter { $0.1.isEmpty }.map(\.0)
            try require(empty.isEmpty, "consent fields empty: \(empty)")
            // The store keeps the [PD 8.4] fields with the person (sealed).
            let (store, _, _) = try world.store()
            let consent = Sample.consent()
            try store.enroll(PersonIdentity(fullName: subject.name, iin: subject.iin), iin: subject.iin,
                             enrollment: Sample.enrollment(FingerprintRecord(views: s.captured([.rightIndex, .leftIndex])),
                                                           missing: FingerPosition.tenPrint.filter { $0 != .rightIndex && $0 != .leftIndex }
                                                            .map { MissingFinger(position: $0, reason: "bandaged") }),
                             consent: consent, by: Sample.operatorActor)
            try require(try store.consents(iin: subject.iin) == [consent], "the stored consent differs")
            // Over the wire: the coordinator keeps every [PD 8.4] field of the signed form with the person.
            let cluster = try await world.cluster()
            let iin = world.iin(age: 30)
            let form = cluster.consentForm(iin, name: "Fields Person", term: "5 years")
            try await cluster.consent(form)
            let answer = try await cluster.ask(cluster.enrollMessage(iin, LocalCluster.record(Q.fields, impression: 0)))
            guard case .enrollAnswer(let a) = answer, a.outcome == .enrolled else { throw RuleBroken("ENROLL: \(answer)") }
            guard let wire = try cluster.store.consents(iin: iin).first else { throw RuleBroken("no consent with the person") }
            try require(wire.operatorName == form.operatorOrganisation && wire.operatorBIN == form.operatorBIN && wire.term == "5 years"
                        && wire.thirdPartyTransfer == form.thirdPartyTransfer && wire.crossBorderTransfer == form.crossBorderTransfer
                        && wire.publication == form.publication && wire.signed?.subjectName == "Fields Person" && wire.signed?.subjectIIN == iin.digits,
                        "the coordinator's stored consent differs from the form: \(wire)")
            return "station: \(fields.count) fields filled (term '\(record.term)', third parties \(record.thirdPartyTransfer), cross-border \(record.crossBorderTransfer), publication \(record.publication)); store returns the consent unchanged | coordinator: operator \(wire.operatorName) (BIN \(wire.operatorBIN)), subject, term '\(wire.term)' and the three flags kept with the person from the wire CONSENT"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            // The form said "no cross-border transfer"; the record is changed after signing.
            var altered = c.consent!.record
            altered.crossBorderTransfer = true
            c.consent = try SignedConsent(document: altered.canonicalJSON(), signature: c.consent!.signature)
            let refusedAltered = try await refused("a consent whose cross-border flag was changed after signing") { try s.check(c) }
            let cluster = try await world.cluster()
            let iin = world.iin(age: 30)
            let form = cluster.consentForm(iin)
            var flipped = form
            flipped.crossBorderTransfer = true
            let signature = Array(try cluster.station.identity.signingKey.signature(for: form.canonicalJSON()))
            let wireAltered = try await cluster.expectRefusal("CONSENT whose cross-border flag was changed after signing",
                                                             .consent(ConsentRequest(iin: iin, action: .granted, document: flipped.canonicalJSON(),
                                                                                     signature: signature)), .badConsentSignature)
            return "station: cross-border flag flipped after signing: \(refusedAltered) | coordinator: the same altered CONSENT \(wireAltered)"
        }),
    ]
}
