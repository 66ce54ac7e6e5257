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

/// The enrollment rules a branch station enforces before anything is sent
/// (`TanbaCapture.EnrollmentRules`, REQUIREMENTS.md §2), and what the store keeps of them.
/// TODO(coordinator, docs/PLAN.md): ENR-1, ENR-2 and ENR-3 are also to be refused by the
/// coordinator once CONSENT and the age rules land there; re-point these scenarios then.
enum StationScenarios {
    static let all: [RuleScenario] = [
        RuleScenario(id: "ENR-1", title: "Written consent of this person, dated today, before capture", layer: .station, lawful: { world in
            let c = try StationKit(world).acceptedCase(age: 30)
            return "consent \(c.consent!.record.formReference) signed today (\(c.consent!.record.date)) by the person: enrollment accepted"
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
            return "none: \(missing); dated \(lastYear): \(stale); another person's: \(other)"
        }),
        RuleScenario(id: "ENR-2", title: "Public services from 18; foreigners and stateless persons from 16 for a travel document", layer: .station, lawful: { world in
            let s = try StationKit(world)
            _ = try s.check(try s.lawfulCase(s.subject(world.iin(age: 18, daysPastBirthday: 0))))
            _ = try s.check(try s.lawfulCase(s.subject(world.iin(age: 16, daysPastBirthday: 0), citizenship: .foreigner,
                                                       document: .travelDocument), purpose: .travelDocument))
            _ = try s.check(try s.lawfulCase(s.subject(world.iin(age: 16), citizenship: .stateless, document: .travelDocument),
                                             purpose: .travelDocument))
            return "citizen on the 18th birthday, foreigner on the 16th birthday and stateless 16-year-old (travel document): accepted"
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
            return "\(minor) | \(young) | \(citizen16)"
        }),
        RuleScenario(id: "ENR-3", title: "A person declared incapable only with the guardian present and the guardian's application", layer: .station, lawful: { world in
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
            return "guardian present with application GA-2026-0042: accepted; consent and store record name the guardian"
        }, violation: { world in
            let s = try StationKit(world)
            let alone = try await refused("an incapable person without a guardian") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 35), incapable: true)))
            }
            let noApplication = try await refused("a guardian without a written application") {
                try s.check(try s.lawfulCase(s.subject(world.iin(age: 35), incapable: true,
                                                       guardian: Guardian(name: "G", iin: world.iin(age: 45), applicationNumber: " "))))
            }
            return "\(alone) | \(noApplication)"
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
        RuleScenario(id: "ENR-5", title: "Damaged fingers: the others are captured, the missing ones recorded with the reason", layer: .station, lawful: { world in
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
            return "8 captured, 2 recorded: " + stored.map { "\($0.position.displayName.lowercased()) (\($0.reason))" }.joined(separator: ", ")
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
            return "station: \(unreasoned) | store: \(both)"
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
        RuleScenario(id: "CON-1", title: "Consent is provable: signed by the station, forged or altered consent refused", layer: .station, lawful: { world in
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
            return "consent \(c.consent!.record.id.prefix(8)) and its revocation signed by \(s.identity.name) (Ed25519) and verified from the stored bytes"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            c.consent = try s.consent(for: subject, signer: try NodeIdentity(name: "station-9", signingKey: Curve25519.Signing.PrivateKey()))
            let forged = try await refused("consent signed by an unknown key") { try s.check(c) }
            return "consent signed by a key other than the station's: \(forged)"
        }),
        RuleScenario(id: "CON-2", title: "The consent record holds operator, subject, term, third-party, cross-border and publication", layer: .station, lawful: { world in
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
            return "\(fields.count) fields filled (term '\(record.term)', third parties \(record.thirdPartyTransfer), cross-border \(record.crossBorderTransfer), publication \(record.publication)); store returns the consent unchanged"
        }, violation: { world in
            let s = try StationKit(world)
            let subject = s.subject(world.iin(age: 30))
            var c = try s.lawfulCase(subject)
            // The form said "no cross-border transfer"; the record is changed after signing.
            var altered = c.consent!.record
            altered.crossBorderTransfer = true
            c.consent = try SignedConsent(document: altered.canonicalJSON(), signature: c.consent!.signature)
            let refusedAltered = try await refused("a consent whose cross-border flag was changed after signing") { try s.check(c) }
            return "cross-border flag flipped after signing: \(refusedAltered)"
        }),
    ]
}
