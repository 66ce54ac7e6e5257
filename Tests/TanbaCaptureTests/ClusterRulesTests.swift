import Foundation
import Testing
import TanbaCore
import TanbaStore
import TanbaWire
@testable import TanbaCapture

/// Every enrollment rule shown twice: the station refuses the case (nothing is written to its
/// outbox), and the real coordinator refuses the same request when a station sends it anyway
/// — an outdated or tampered station writing CONSENT + ENROLL to its outbox without the rule
/// check. Accepted cases show what the cluster records (exceptions, guardian, archive).
@Suite(.serialized) struct ClusterRulesTests {
    let outbox = try! Outbox(path: ":memory:")
    var desk: EnrollmentDesk {
        EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile, outbox: outbox, now: { CaptureFixtures.noon })
    }

    func subject(_ born: IIN.BirthDate, serial: Int, citizenship: Subject.Citizenship = .citizen, incapable: Bool = false,
                 guardian: Guardian? = nil) -> Subject {
        CaptureFixtures.subject(CaptureFixtures.iin(born: born, serial: serial), name: "Person \(serial)", citizenship: citizenship,
                                incapable: incapable, guardian: guardian)
    }

    func enrollmentCase(_ s: Subject, purpose: EnrollmentPurpose = .publicServices, kind: EnrollmentKind = .new,
                        except: Set<FingerPosition> = [], exceptions: [FingerException] = [], form: String = "F-1") throws -> EnrollmentCase {
        EnrollmentCase(subject: s, purpose: purpose, kind: kind,
                       consent: try desk.consent(for: s, purpose: purpose, formReference: form),
                       captured: CaptureFixtures.tenTemplates(person: UInt64(s.iin.digits)!, except: except), exceptions: exceptions)
    }

    /// The station refuses `c` with `violation` and writes nothing.
    func stationRefuses(_ c: EnrollmentCase, _ violation: RuleViolation) throws {
        let before = try outbox.items().count
        #expect(throws: violation) { try desk.submit(c) }
        #expect(try outbox.items().count == before)
    }

    /// What a station without the rule check would send: the signed CONSENT and the ENROLL (or
    /// UPDATE), straight into the outbox, then delivered. Returns the outbox items.
    func sendBypassingTheRules(_ c: EnrollmentCase, to cluster: RealCluster, withConsent: Bool = true) async throws -> [OutboxItem] {
        let record = FingerprintRecord(views: c.captured)
        let main: WireMessage = switch c.kind {
        case .new: .enroll(EnrollRequest(iin: c.subject.iin, record: record, exceptions: c.exceptions))
        case .reenrollment(let reason): .update(UpdateRequest(iin: c.subject.iin, record: record, reason: reason, exceptions: c.exceptions))
        }
        var entries = [Outbox.Entry(main, iin: c.subject.iin, label: "\(main.type) \(c.subject.iin) (rules bypassed)")]
        if withConsent { entries.insert(Outbox.Entry(.consent(c.consent!.message), iin: c.subject.iin, label: "CONSENT"), at: 0) }
        let seqs = try outbox.enqueue(entries)
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        return try seqs.map { try #require(try outbox.item(seq: $0)) }
    }

    /// The coordinator refused the ENROLL/UPDATE with `code`, naming the rule, and stored nothing new.
    func clusterRefused(_ items: [OutboxItem], code: WireErrorCode, saying text: String, cluster: RealCluster, iin: IIN) throws {
        let main = try #require(items.last)
        #expect(main.state == .failed, "\(main)")
        #expect(main.lastError?.contains("peer error \(code.rawValue):") == true && main.lastError?.contains(text) == true,
                "\(main.lastError ?? "no error")")
        #expect(!cluster.enrolledIINs().contains(iin.digits))
    }

    @Test func citizensFrom18AtTheStationAndAtTheCluster() async throws {
        let cluster = try await RealCluster()
        let seventeen = subject(.init(year: 2008, month: 11, day: 22), serial: 1)  // 18 tomorrow
        let c = try enrollmentCase(seventeen)
        try stationRefuses(c, .underage(age: 17, minimum: 18, purpose: .publicServices))
        let items = try await sendBypassingTheRules(c, to: cluster)
        try clusterRefused(items, code: .ruleViolation, saying: "from age 18", cluster: cluster, iin: seventeen.iin)
        // Eighteen today: accepted by both.
        let eighteen = subject(.init(year: 2008, month: 11, day: 21), serial: 2)
        _ = try desk.submit(try enrollmentCase(eighteen))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        #expect(cluster.enrolledIINs().contains(eighteen.iin.digits))
    }

    @Test func foreignersAndStatelessFrom16ForTravelDocumentsAtTheCluster() async throws {
        let cluster = try await RealCluster()
        let fifteen = subject(.init(year: 2011, month: 5, day: 1), serial: 3, citizenship: .foreigner)
        let c = try enrollmentCase(fifteen, purpose: .travelDocument)
        try stationRefuses(c, .underage(age: 15, minimum: 16, purpose: .travelDocument))
        try clusterRefused(try await sendBypassingTheRules(c, to: cluster), code: .ruleViolation, saying: "16",
                           cluster: cluster, iin: fifteen.iin)
        // A citizen may not use the travel-document route at 16.
        let citizen = subject(.init(year: 2010, month: 5, day: 1), serial: 4)
        let citizenCase = try enrollmentCase(citizen, purpose: .travelDocument)
        try stationRefuses(citizenCase, .purposeNotForCitizens)
        try clusterRefused(try await sendBypassingTheRules(citizenCase, to: cluster), code: .ruleViolation,
                           saying: RuleViolation.purposeNotForCitizens.description, cluster: cluster, iin: citizen.iin)
        // A stateless person of 16 for a travel document: accepted by both.
        let stateless = subject(.init(year: 2010, month: 5, day: 1), serial: 5, citizenship: .stateless)
        _ = try desk.submit(try enrollmentCase(stateless, purpose: .travelDocument))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        #expect(cluster.enrolledIINs().contains(stateless.iin.digits))
    }

    @Test func incapablePersonOnlyWithGuardianRecordedAtTheCluster() async throws {
        let cluster = try await RealCluster()
        let alone = subject(.init(year: 1985, month: 4, day: 4), serial: 6, incapable: true)
        let c = try enrollmentCase(alone)
        try stationRefuses(c, .guardianRequired)
        try clusterRefused(try await sendBypassingTheRules(c, to: cluster), code: .ruleViolation, saying: "guardian",
                           cluster: cluster, iin: alone.iin)
        // With the guardian and the written application: the cluster keeps both with the person.
        let guardianIIN = CaptureFixtures.iin(born: .init(year: 1960, month: 1, day: 2), sex: .female, serial: 55)
        let guardian = Guardian(name: "Guardian Person", iin: guardianIIN, applicationNumber: "GA-2026/77")
        let withGuardian = subject(.init(year: 1985, month: 4, day: 4), serial: 7, incapable: true, guardian: guardian)
        _ = try desk.submit(try enrollmentCase(withGuardian))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        #expect(try cluster.store.person(iin: withGuardian.iin)?.guardian == "Guardian Person")
        let consent = try #require(try cluster.consents(withGuardian.iin).first?.signed)
        let document = String(decoding: consent.document, as: UTF8.self)
        #expect(document.contains(guardianIIN.digits) && document.contains("GA-2026/77"), "\(document)")
    }

    @Test func allTenFingersUnlessExceptedAndTheClusterRecordsTheExceptions() async throws {
        let cluster = try await RealCluster()
        let s = subject(.init(year: 1979, month: 9, day: 9), serial: 8)
        let unaccounted = try enrollmentCase(s, except: [.leftRing])
        try stationRefuses(unaccounted, .fingerNotAccountedFor(.leftRing))
        try clusterRefused(try await sendBypassingTheRules(unaccounted, to: cluster), code: .ruleViolation,
                           saying: RuleViolation.fingerNotAccountedFor(.leftRing).description, cluster: cluster, iin: s.iin)
        let noReason = try enrollmentCase(s, except: [.leftRing], exceptions: [FingerException(position: .leftRing, kind: .bandaged, reason: " ")],
                                          form: "F-2")
        try stationRefuses(noReason, .exceptionWithoutReason(.leftRing))
        try clusterRefused(try await sendBypassingTheRules(noReason, to: cluster), code: .ruleViolation,
                           saying: "LEFT RING", cluster: cluster, iin: s.iin)
        // Every exception kind with its reason: enrolled, and the cluster keeps kind and reason per finger.
        let kinds: [(FingerPosition, FingerException.Kind)] = [(.leftRing, .bandaged), (.leftLittle, .missing),
            (.rightLittle, .wound), (.rightRing, .deformed), (.leftMiddle, .noPattern)]
        let exceptions = kinds.map { FingerException(position: $0.0, kind: $0.1, reason: "seen by the operator: \($0.1.rawValue)") }
        let accepted = try enrollmentCase(s, except: Set(kinds.map(\.0)), exceptions: exceptions, form: "F-3")
        _ = try desk.submit(accepted)
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        let enrollment = try #require(try cluster.enrollment(s.iin))
        #expect(enrollment.record.views.count == 5)
        #expect(Set(enrollment.missing.map(\.position)) == Set(kinds.map(\.0)))
        for (position, kind) in kinds {
            #expect(enrollment.missing.first { $0.position == position }?.reason == "\(kind.rawValue): seen by the operator: \(kind.rawValue)")
        }
        // The station's journal records the same exceptions.
        #expect(try outbox.journal(iin: s.iin).last?.exceptions.count == 5)
    }

    @Test func refusedWhenEveryFingerIsMissingOrWithoutPatternAtTheCluster() async throws {
        let cluster = try await RealCluster()
        let s = subject(.init(year: 1970, month: 2, day: 2), serial: 9)
        let all = FingerPosition.tenPrint.enumerated().map {
            FingerException(position: $1, kind: $0 % 2 == 0 ? .missing : .noPattern, reason: "amputation / no pattern")
        }
        var c = try enrollmentCase(s, exceptions: all)
        c.captured = []
        try stationRefuses(c, .noFingerWithPattern)
        // An ENROLL without any finger cannot even be carried by the protocol (1–10 views):
        // the coordinator's decoder refuses it before any rule runs...
        do {
            _ = try await cluster.caller().call(.enroll(EnrollRequest(iin: s.iin, record: FingerprintRecord(views: []), exceptions: all)),
                                                to: "coordinator", at: cluster.address, deadline: .seconds(10))
            Issue.record("the coordinator accepted an ENROLL without fingers")
        } catch {
            guard case .remote(let code, let message) = error else { Issue.record("\(error)"); return }
            #expect(code == .malformed && message.contains("0 finger views"), "\(code) \(message)")
        }
        // ...and a station outbox holding one (an older release's) marks it failed with the
        // reason instead of blocking the items behind it.
        let items = try await sendBypassingTheRules(c, to: cluster)
        #expect(items.last?.state == .failed && items.last?.lastError?.contains("0 finger views") == true, "\(items)")
        #expect(!cluster.enrolledIINs().contains(s.iin.digits))
        // With one finger carrying a pattern the cluster accepts it and records the nine exceptions.
        var one = try enrollmentCase(s, exceptions: Array(all.dropFirst()), form: "F-2")
        one.captured = [CaptureFixtures.template(.rightThumb, seed: 4242)]
        _ = try desk.submit(one)
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        #expect(try cluster.enrollment(s.iin)?.missing.count == 9)
    }

    @Test func reenrollmentNeedsFreshConsentAndTheClusterArchivesTheOldRecord() async throws {
        let cluster = try await RealCluster()
        let s = subject(.init(year: 1965, month: 6, day: 6), serial: 10)
        let first = try enrollmentCase(s, form: "F-first")
        _ = try desk.submit(first)
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        // Re-enrollment on the first enrollment's consent: the station refuses it...
        var reused = try enrollmentCase(s, kind: .reenrollment(reason: "burns, irreversible"))
        reused.consent = first.consent
        reused.captured = [CaptureFixtures.template(.rightThumb, seed: 77)]
        reused.exceptions = FingerPosition.tenPrint.dropFirst().map { FingerException(position: $0, kind: .noPattern, reason: "burn scars") }
        try stationRefuses(reused, .reenrollmentConsentReused)
        // ...and so does the cluster when the UPDATE arrives without a fresh CONSENT.
        let items = try await sendBypassingTheRules(reused, to: cluster, withConsent: false)
        #expect(items.last?.state == .failed && items.last?.lastError?.contains("peer error \(WireErrorCode.consentRequired.rawValue):") == true,
                "\(items)")
        #expect(try cluster.archived(s.iin).isEmpty && cluster.enrollment(s.iin)?.record.views.count == 10)
        // With fresh consent: UPDATE, the old record archived by the cluster, the new one current.
        var fresh = reused
        fresh.consent = try desk.consent(for: s, formReference: "F-second")
        _ = try desk.submit(fresh)
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(20)))
        #expect(try outbox.items().last?.answer == "re-enrolled, previous record archived")
        #expect(try cluster.archived(s.iin).map(\.record.views.count) == [10])
        let current = try #require(try cluster.enrollment(s.iin))
        #expect(current.record.views.map(\.position) == [.rightThumb] && current.missing.count == 9)
        #expect(try cluster.consents(s.iin).count == 2)
    }
}
