import Crypto
import Foundation
import TanbaAccess
import TanbaCore
import TanbaStore

/// The subject's own dactyloscopic record in digital form [DACT 140, PD 25]: the person's
/// current enrollment — one ISO/IEC 19794-2:2005 finger minutiae record per captured finger,
/// the capture facts, the fingers not captured and why — with a manifest naming every file
/// and its SHA-256. Asked for at a branch on the person's written request by branch staff
/// (`export-own-record`, basis `subjectRequest`), like the subject report; the request is
/// decided by the access layer and written to the store's audit log either way, an export
/// as operation `export-own-record`, which the subject report lists as a transfer
/// [PD 8-1, 22.1.5].
public enum SubjectExports {
    public static let format = "tanba-subject-export-v1"
    public static let templateFormat = "ISO/IEC 19794-2:2005"

    public struct Finger: Codable, Sendable, Equatable {
        public var position: Int
        public var name: String
        public var file: String
        public var format: String
        public var bytes: Int
        public var sha256: String
        public var minutiae: Int
        public var quality: Int
    }

    public struct Exception: Codable, Sendable, Equatable {
        public var position: Int
        public var name: String
        public var reason: String
    }

    public struct Subject: Codable, Sendable, Equatable {
        public var iin: String
        public var fullName: String
        public var birthDate: String
        public var guardian: String?
    }

    public struct Capture: Codable, Sendable, Equatable {
        public var capturedAt: String
        public var branch: String
        public var station: String
        public var operatorLogin: String
        public var device: String
    }

    public struct Manifest: Codable, Sendable, Equatable {
        public var format: String
        public var subject: Subject
        /// The person's written request at the branch.
        public var request: String
        public var exportedAt: String
        public var exportedBy: String
        public var role: String
        public var enrollment: Capture
        public var fingers: [Finger]
        public var exceptions: [Exception]
        public var note: String
    }

    /// What is handed over: the manifest and the files it names (bytes, base64 in JSON).
    public struct Export: Codable, Sendable, Equatable {
        public var manifest: Manifest
        public var files: [String: Data]
    }

    public enum Outcome: Sendable {
        /// Refused by the access layer (the decision is logged).
        case refused(AccessDecision)
        /// Allowed, but nobody with this IIN is enrolled (logged).
        case notEnrolled
        case exported(Export)
    }

    /// Decides, reads, audits: one audit entry per request, `export-own-record` with the
    /// result `allowed: N ISO/IEC 19794-2 templates, M exceptions exported` or the refusal.
    /// `client`: the session must have been issued to this client node (the HTTP route);
    /// nil: any live session (in-process callers, the offline CLI).
    public static func export(store: Store, control: AccessControl, token: String, iin: IIN, request: String,
                              now: Date = Date(), client: String? = nil) throws -> Outcome {
        let decision = try control.authorize(token: token, action: .exportOwnRecord, basis: .subjectRequest(reference: request),
                                             subjectRef: store.subjectReference(iin), boundTo: client)
        guard decision.allowed else {
            try SubjectReports.record(decision, in: store, subject: iin)
            return .refused(decision)
        }
        guard let person = try store.person(iin: iin), let enrollment = try store.currentEnrollment(iin: iin) else {
            var logged = decision
            logged.audit.result = "\(decision.audit.result): not enrolled, nothing exported"
            try SubjectReports.record(logged, in: store, subject: iin)
            return .notEnrolled
        }
        var files: [String: Data] = [:]
        var fingers: [Finger] = []
        for view in enrollment.record.views.sorted(by: { $0.position.rawValue < $1.position.rawValue }) {
            let bytes = try TemplateCodec.encode(FingerprintRecord(views: [view], captureDeviceID: enrollment.record.captureDeviceID),
                                                 as: .iso19794_2_2005)
            let name = view.position.displayName.lowercased().replacingOccurrences(of: " ", with: "-")
            let file = String(format: "finger-%02d-%@.fmr", Int(view.position.rawValue), name)
            files[file] = Data(bytes)
            fingers.append(Finger(position: Int(view.position.rawValue), name: view.position.displayName.lowercased(), file: file,
                                  format: templateFormat, bytes: bytes.count,
                                  sha256: SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined(),
                                  minutiae: view.minutiae.count, quality: Int(view.quality)))
        }
        let a = decision.audit
        let manifest = Manifest(
            format: format, subject: Subject(iin: person.iin, fullName: person.fullName, birthDate: person.birthDate, guardian: person.guardian),
            request: request, exportedAt: AstanaTime.format(now), exportedBy: a.actor, role: a.role,
            enrollment: Capture(capturedAt: enrollment.capture.capturedAt, branch: enrollment.capture.branch,
                                station: enrollment.capture.station, operatorLogin: enrollment.capture.operatorLogin,
                                device: enrollment.capture.device),
            fingers: fingers,
            exceptions: enrollment.missing.sorted { $0.position.rawValue < $1.position.rawValue }
                .map { Exception(position: Int($0.position.rawValue), name: $0.position.displayName.lowercased(), reason: $0.reason) },
            note: "The person's current enrollment held by the dactyloscopic registry, exported on their request "
                + "(DACT 140, PD 25). Templates only: no fingerprint images are kept. Each file's SHA-256 is listed here.")
        var logged = decision
        logged.audit.result = "\(decision.audit.result): \(fingers.count) \(templateFormat) templates, \(manifest.exceptions.count) exceptions exported"
        try SubjectReports.record(logged, in: store, subject: iin)
        return .exported(Export(manifest: manifest, files: files))
    }

    /// The HTTP answer of `GET /subjects/{iin}/export?request=REF`: 200 with the export
    /// JSON (manifest + base64 files); 400 malformed IIN; 401 no live session or agreement
    /// unsigned, or a session not issued to `httpClient`; 403 other refusals; 404 not
    /// enrolled; 500 store failure.
    public static func answer(store: Store, control: AccessControl, session token: String, iin text: String,
                              request: String, httpClient: String) -> (status: Int, body: String) {
        func failure(_ status: Int, _ code: String, _ message: String) -> (Int, String) {
            (status, SubjectReports.json(["error": code, "message": message]))
        }
        let iin: IIN
        do { iin = try IIN(text) } catch { return failure(400, "invalid-iin", "\(error)") }
        do {
            switch try export(store: store, control: control, token: token, iin: iin, request: request, client: httpClient) {
            case .refused(let decision):
                let code = decision.refusal?.code ?? "refused"
                return failure(code == "not-authenticated" || code == "agreement-not-signed" ? 401 : 403, code, decision.reason)
            case .notEnrolled:
                return failure(404, "not-enrolled", "no enrolled person has this IIN")
            case .exported(let export):
                return (200, SubjectReports.json(export))
            }
        } catch {
            return failure(500, "internal", "\(error)")
        }
    }

    /// Writes the export to `directory`: `manifest.json` and the files it names.
    public static func write(_ export: Export, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, data) in export.files {
            try data.write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(export.manifest).write(to: URL(fileURLWithPath: directory).appendingPathComponent("manifest.json"))
    }
}
