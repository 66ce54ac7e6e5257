import Foundation
import TanbaCore
import TanbaImaging
import TanbaWire

/// One finger's capture: up to `maximumAttempts` images, each extracted and scored.
public struct FingerCapture: Sendable {
    public struct Attempt: Sendable {
        public var number: Int
        public var template: FingerTemplate
        public var quality: Int
    }
    public var source: any CaptureSource
    public var extractor: MinutiaeExtractor
    /// Below this (0–100) the operator retries or records an exception.
    public var minimumQuality: Int
    public var maximumAttempts: Int
    /// Resolution used when the image does not state one.
    public var dpi: Double
    /// Only with the "encrypted" image-export setting: sealed copies of each image.
    public var exporter: EncryptedImageExporter?

    public init(source: any CaptureSource, extractor: MinutiaeExtractor = .init(), minimumQuality: Int = 40,
                maximumAttempts: Int = 3, dpi: Double = 500, exporter: EncryptedImageExporter? = nil) {
        self.exporter = exporter
        self.source = source
        self.extractor = extractor
        self.minimumQuality = minimumQuality
        self.maximumAttempts = maximumAttempts
        self.dpi = dpi
    }

    /// One attempt: capture, extract, score. The image is dropped here: only the template
    /// leaves this function (images never leave the station).
    public func attempt(_ position: FingerPosition, number: Int) throws -> Attempt {
        let image = try source.capture(position, attempt: number)
        if let exporter { try exporter.export(image, label: "\(position.slug)-\(number)") }
        let template = try extractor.extract(image, dpi: image.dpi ?? dpi, position: position)
        return Attempt(number: number, template: template, quality: Int(template.quality))
    }

    /// Non-interactive: attempts until one reaches the minimum quality (at most
    /// `maximumAttempts`); returns the best attempt and whether it is acceptable. A failed
    /// attempt (the device or the extractor gave up) counts as an attempt.
    public func best(_ position: FingerPosition, onAttempt: ((Attempt) -> Void)? = nil,
                     onFailure: ((Int, any Error) -> Void)? = nil) throws -> (Attempt?, acceptable: Bool) {
        var best: Attempt?
        for n in 1...maximumAttempts {
            let a: Attempt
            do { a = try attempt(position, number: n) } catch {
                onFailure?(n, error)
                continue
            }
            onAttempt?(a)
            if best == nil || a.quality > best!.quality { best = a }
            if a.quality >= minimumQuality { return (a, true) }
        }
        return (best, false)
    }

    /// A smudged placement for tests and demos: only a small patch of `image` touched the glass.
    public static func smudged(_ image: FingerprintImage, patch: Int = 96) -> FingerprintImage {
        var out = FingerprintImage(width: image.width, height: image.height, fill: 255, dpi: image.dpi)
        let x0 = max(0, image.width / 2 - patch / 2), y0 = max(0, image.height / 2 - patch / 2)
        for y in y0..<min(image.height, y0 + patch) {
            for x in x0..<min(image.width, x0 + patch) { out[x, y] = image[x, y] }
        }
        return out
    }
}

/// What the station was configured as.
public struct StationProfile: Sendable, Codable, Equatable {
    public var branch: String
    public var operatorEmployee: String
    public var operatorOrganisation: String
    public var operatorBIN: String
    public init(branch: String, operatorEmployee: String, operatorOrganisation: String = "NAO Government for Citizens",
                operatorBIN: String = "") {
        self.branch = branch
        self.operatorEmployee = operatorEmployee
        self.operatorOrganisation = operatorOrganisation
        self.operatorBIN = operatorBIN
    }
}

/// The station's front office: checks the rules, signs consent, and writes what must reach
/// the cluster to the outbox (never sends directly).
public struct EnrollmentDesk: Sendable {
    public let identity: NodeIdentity
    public let profile: StationProfile
    public let outbox: Outbox
    public let now: @Sendable () -> Date

    public init(identity: NodeIdentity, profile: StationProfile, outbox: Outbox, now: @escaping @Sendable () -> Date = Date.init) {
        self.identity = identity
        self.profile = profile
        self.outbox = outbox
        self.now = now
    }

    public var rules: EnrollmentRules { EnrollmentRules(now: now()) }

    /// A consent record for `subject`, dated today, signed by this station.
    public func consent(for subject: Subject, purpose: EnrollmentPurpose = .publicServices, term: String = "until revoked",
                        thirdPartyTransfer: Bool = false, crossBorderTransfer: Bool = false, publication: Bool = false,
                        formReference: String) throws -> SignedConsent {
        let record = ConsentRecord(operatorOrganisation: profile.operatorOrganisation, operatorBIN: profile.operatorBIN,
                                   operatorEmployee: profile.operatorEmployee, branch: profile.branch, station: identity.name,
                                   subjectName: subject.name, subjectIIN: subject.iin, date: rules.today, term: term,
                                   thirdPartyTransfer: thirdPartyTransfer, crossBorderTransfer: crossBorderTransfer,
                                   publication: publication, formReference: formReference, purpose: purpose,
                                   guardian: subject.guardian, citizenship: subject.citizenship,
                                   declaredIncapable: subject.declaredIncapable)
        return try SignedConsent(record, signedBy: identity)
    }

    public struct Submitted: Sendable {
        public var sequenceNumbers: [Int64]
        public var exceptions: [FingerException]
        public var requestIDs: [RequestID]
    }

    /// Checks every rule, then writes CONSENT and ENROLL (or UPDATE for a re-enrollment) to
    /// the outbox in one transaction. Throws `RuleViolation` with the operator's message.
    public func submit(_ c: EnrollmentCase) throws -> Submitted {
        var c = c
        if case .reenrollment = c.kind, c.previousConsentID == nil {
            // The consent of this person's last enrollment here: a re-enrollment may not reuse it.
            c.previousConsentID = try outbox.journal(iin: c.subject.iin).last?.consentID
        }
        let exceptions = try rules.check(c, verifyingKey: SignedConsent.verifier(identity.publicKey))
        let consent = c.consent!
        let record = FingerprintRecord(views: c.captured.sorted { $0.position < $1.position })
        let main: WireMessage
        let label: String
        let exceptionText = exceptions.map { "\($0.position.displayName.lowercased()): \($0.kind.rawValue) (\($0.reason))" }
            .joined(separator: "; ")
        switch c.kind {
        case .new:
            main = .enroll(EnrollRequest(iin: c.subject.iin, record: record, exceptions: exceptions))
            label = "ENROLL \(c.subject.iin) (\(record.views.count) fingers)"
        case .reenrollment(let reason):
            let text = "re-enrollment, irreversible damage: \(reason)" + (exceptionText.isEmpty ? "" : "; exceptions: \(exceptionText)")
                + "; consent \(consent.record.id)"
            main = .update(UpdateRequest(iin: c.subject.iin, record: record, reason: text, exceptions: exceptions))
            label = "UPDATE \(c.subject.iin) (\(record.views.count) fingers)"
        }
        let entries = [
            Outbox.Entry(.consent(consent.message), iin: c.subject.iin, label: "CONSENT \(c.subject.iin) \(consent.record.formReference)"),
            Outbox.Entry(main, iin: c.subject.iin, label: label + (exceptionText.isEmpty ? "" : " exceptions: \(exceptionText)")),
        ]
        let kindText: String
        switch c.kind {
        case .new: kindText = "new"
        case .reenrollment(let reason): kindText = "re-enrollment: \(reason)"
        }
        let journal = Outbox.JournalEntry(iin: c.subject.iin.digits, kind: kindText, consentID: consent.record.id,
                                          fingers: record.views.map(\.position.slug), exceptions: exceptions, entryIndex: 1)
        let seqs = try outbox.enqueue(entries, consents: [consent.message], consentIDs: [consent.record.id], journal: journal)
        return Submitted(sequenceNumbers: seqs, exceptions: exceptions, requestIDs: entries.map(\.requestID))
    }

    /// Consent revoked at this branch; with `deleteData`, the biometric data are deleted
    /// the same day [BIO 11] (DELETE queued right behind the revocation).
    @discardableResult
    public func revokeConsent(_ revocation: ConsentRevocation) throws -> [Int64] {
        let iin = try IIN(revocation.subjectIIN)
        let message = try revocation.message(signedBy: identity)
        var entries = [Outbox.Entry(.consent(message), iin: iin, label: "REVOKE CONSENT \(iin) \(revocation.formReference)")]
        if revocation.deleteData {
            entries.append(Outbox.Entry(.delete(DeleteRequest(iin: iin, reason: "consent revoked, deletion requested at \(profile.branch) (\(revocation.formReference))")),
                                        iin: iin, label: "DELETE \(iin)"))
        }
        return try outbox.enqueue(entries, consents: [message], consentIDs: [revocation.id])
    }

    /// A deletion request filed at this branch [BIO 11].
    @discardableResult
    public func requestDeletion(iin: IIN, reason: String) throws -> Int64 {
        try outbox.enqueue([Outbox.Entry(.delete(DeleteRequest(iin: iin, reason: reason)), iin: iin, label: "DELETE \(iin)")])[0]
    }
}

/// 1:1 verification at the counter (service delivery): capture a few fingers, ask the
/// coordinator whether they match the claimed person's enrolled record. Synchronous, not
/// queued: the person is waiting, and a verification has no effect worth replaying.
public struct CounterVerification: Sendable {
    public struct Result: Sendable, Equatable {
        public var isMatch: Bool
        public var score: Float
        public var threshold: Float
        public var fingerScores: [FingerScore]
        public var partial: Bool
    }
    public let caller: SignedCaller
    public let peer: String
    public let address: String
    public let deadline: Duration

    public init(caller: SignedCaller, peer: String = "coordinator", address: String, deadline: Duration = .seconds(10)) {
        self.caller = caller
        self.peer = peer
        self.address = address
        self.deadline = deadline
    }

    public func verify(_ iin: IIN, probe: [FingerTemplate]) async throws(SignedCaller.CallError) -> Result {
        let answer = try await caller.call(.verify(VerifyRequest(claimedIIN: iin, probe: FingerprintRecord(views: probe))),
                                           to: peer, at: address, deadline: deadline)
        guard case .verifyAnswer(let a) = answer else {
            throw .remote(code: .internal, message: "unexpected answer \(answer.type) to VERIFY")
        }
        return Result(isMatch: a.isMatch, score: a.fusedScore, threshold: a.threshold, fingerScores: a.fingerScores,
                      partial: a.coverage.isPartial)
    }
}
