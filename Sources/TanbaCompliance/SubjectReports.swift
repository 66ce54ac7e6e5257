import Foundation
import TanbaAccess
import TanbaCore
import TanbaStore

/// The subject report [PD 8-1] over the system of record: the person's audit entries and
/// consents read from the store, the access layer's gate and exemptions applied, and the
/// request itself written to the store's audit log (allowed or refused). The ops endpoint
/// (`GET /subjects/{iin}/report`) and the compliance check both call this; the access layer
/// stays free of the store, the store free of the access layer.
public enum SubjectReports {
    /// The client node whose wire-login sessions the ops endpoint's subject routes accept
    /// (config `access.httpClient`).
    public static let defaultHTTPClient = "ops-http"

    /// The audit events about `iin` (selected by its subject reference) and the consent
    /// holders, as `SubjectTransparency.report` takes them.
    public static func sources(store: Store, iin: IIN) throws -> (events: [AuditEvent], consents: [ConsentHolder]) {
        let ref = store.subjectReference(iin)
        let events = try store.audit.entries(subjectRef: ref).map { _, e in
            AuditEvent(at: e.at, actor: e.actor, role: e.role, basis: e.basis, caseNumber: e.caseNumber,
                              operation: e.operation, subjectRef: e.subjectRef, result: e.result)
        }
        let consents = try store.consents(iin: iin).map {
            ConsentHolder(operatorName: $0.operatorName, operatorBIN: $0.operatorBIN, term: $0.term, givenAt: $0.signedAt,
                          thirdPartyTransfer: $0.thirdPartyTransfer, crossBorderTransfer: $0.crossBorderTransfer,
                          publication: $0.publication)
        }
        return (events, consents)
    }

    /// The report for the person `iin`, asked for at a branch on the person's written
    /// request `request`, by the holder of session `token`. Only roles with
    /// `subject-report` (branch staff) get it; every decision is logged.
    /// `client`: the session must have been issued to this client node (the HTTP route
    /// passes `access.httpClient`); nil: any live session (in-process callers).
    public static func report(store: Store, control: AccessControl, token: String, iin: IIN,
                              request: String, client: String? = nil) throws -> Gated<SubjectReport> {
        let (events, consents) = try sources(store: store, iin: iin)
        let gated = try control.subjectReport(token: token, iin: iin, subjectRef: store.subjectReference(iin), request: request,
                                              events: events, consents: consents, boundTo: client)
        try record(gated.decision, in: store, subject: iin)
        return gated
    }

    /// Writes an access decision to the store's audit log [LEX 37]: the decision's audit
    /// fields, the subject as the store's own reference.
    public static func record(_ decision: AccessDecision, in store: Store, subject: IIN?) throws {
        let a = decision.audit
        try store.record(Actor(login: a.actor, role: a.role, basis: a.basis, caseNumber: a.caseNumber), operation: a.operation,
                         subject: subject, result: a.result)
    }

    /// The HTTP answer of `GET /subjects/{iin}/report` (status, JSON body): 200 with the
    /// report; 400 for a malformed IIN; 401 without a live session (or an unsigned user
    /// agreement); 403 when the role may not see it or the person's request reference is
    /// missing; 500 when the store fails. Refusals carry the stable refusal code. Only
    /// sessions issued to `httpClient` (config `access.httpClient`, default `ops-http`) are
    /// accepted: any other is 401 `not-authenticated` (docs/access.md "Sessions over HTTP").
    public static func answer(store: Store, control: AccessControl, session token: String, iin text: String,
                              request: String, httpClient: String) -> (status: Int, body: String) {
        func failure(_ status: Int, _ code: String, _ message: String) -> (Int, String) {
            (status, json(["error": code, "message": message]))
        }
        let iin: IIN
        do { iin = try IIN(text) } catch { return failure(400, "invalid-iin", "\(error)") }
        do {
            let gated = try report(store: store, control: control, token: token, iin: iin, request: request, client: httpClient)
            guard let value = gated.value else {
                let refusal = gated.decision.refusal
                let status = refusal?.code == "not-authenticated" || refusal?.code == "agreement-not-signed" ? 401 : 403
                return failure(status, refusal?.code ?? "refused", gated.decision.reason)
            }
            return (200, json(value))
        } catch {
            return failure(500, "internal", "\(error)")
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
