import Hummingbird
import Logging

/// The ops HTTP endpoint of a coordinator or worker (plain HTTP on an operations address;
/// bind it to loopback or a management network — it carries no biometric data):
///
/// | route | answer |
/// |---|---|
/// | `GET /healthz` | 200 "ok" while the process runs |
/// | `GET /readyz` | 200 when the node serves (coordinator: every shard has a serving replica; worker: listening), else 503 |
/// | `GET /metrics` | Prometheus text: request counts and latency histograms, gallery size, shard map, queue depth |
/// | `GET /cluster` | JSON status (coordinator: shard map, placement, serving replicas; worker: shards held) |
/// | `POST /admin/{add-worker,remove-worker,drain,reconcile}?worker=NAME&address=URL` | coordinator only; `Authorization: Bearer TOKEN` |
/// | `GET /status` | coordinator with an incident journal: planned maintenance and open incidents [LEX 42] (public: no personal data) |
/// | `GET /subjects/{iin}/report?request=REF` | coordinator only; the subject report [PD 8-1] for branch staff; `Authorization: Bearer SESSION` (a session of a multi-factor wire login from the HTTP client node, `access.httpClient`) |
/// | `GET /subjects/{iin}/export?request=REF` | coordinator only; the subject's own dactyloscopic record (ISO/IEC 19794-2 templates + manifest) [DACT 140]; same gating as the report |
public struct OpsEndpoint: Sendable {
    public var ready: @Sendable () -> Bool
    public var metrics: @Sendable () -> String
    public var cluster: @Sendable () -> String
    /// Bearer token for the admin routes; nil: the routes answer 404.
    public var adminToken: String?
    /// Runs an admin action; returns the HTTP status and a JSON body.
    public var admin: (@Sendable (_ action: String, _ worker: String, _ address: String) async -> (status: Int, body: String))?
    /// Builds the subject report for a session token (authorisation, audit and the
    /// law-enforcement exemption are the caller's: `SubjectReports.answer`); nil: 404.
    public var subjectReport: (@Sendable (_ iin: String, _ request: String, _ session: String) async -> (status: Int, body: String))?
    /// The announcements JSON (maintenance, open incidents); nil or returning nil: 404.
    public var status: (@Sendable () -> String?)?
    /// Exports the subject's own record for a session token (authorisation and audit are
    /// the caller's: `SubjectExports.answer`); nil: 404.
    public var subjectExport: (@Sendable (_ iin: String, _ request: String, _ session: String) async -> (status: Int, body: String))?

    public init(ready: @escaping @Sendable () -> Bool, metrics: @escaping @Sendable () -> String,
                cluster: @escaping @Sendable () -> String, adminToken: String? = nil,
                admin: (@Sendable (String, String, String) async -> (status: Int, body: String))? = nil,
                status: (@Sendable () -> String?)? = nil,
                subjectReport: (@Sendable (String, String, String) async -> (status: Int, body: String))? = nil,
                subjectExport: (@Sendable (String, String, String) async -> (status: Int, body: String))? = nil) {
        self.status = status
        self.subjectExport = subjectExport
        self.ready = ready
        self.metrics = metrics
        self.cluster = cluster
        self.adminToken = adminToken
        self.admin = admin
        self.subjectReport = subjectReport
    }

    static func text(_ status: HTTPResponse.Status, _ body: String, type: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let ready = self.ready, metrics = self.metrics, cluster = self.cluster, token = adminToken, admin = self.admin
        let subjectReport = self.subjectReport, status = self.status, subjectExport = self.subjectExport
        router.get("status") { _, _ -> Response in
            guard let body = status?() else { return Self.text(.notFound, "{\"error\": \"no incident journal here\"}\n", type: "application/json") }
            return Self.text(.ok, body + "\n", type: "application/json")
        }
        router.get("healthz") { _, _ in Self.text(.ok, "ok\n") }
        router.get("readyz") { _, _ in ready() ? Self.text(.ok, "ready\n") : Self.text(.serviceUnavailable, "not ready\n") }
        router.get("metrics") { _, _ in Self.text(.ok, metrics(), type: "text/plain; version=0.0.4; charset=utf-8") }
        router.get("cluster") { _, _ in Self.text(.ok, cluster() + "\n", type: "application/json") }
        router.post("admin/:action") { request, context -> Response in
            guard let token, let admin else { return Self.text(.notFound, "{\"error\": \"admin routes are disabled\"}\n", type: "application/json") }
            guard request.headers[.authorization] == "Bearer \(token)" else {
                return Self.text(.unauthorized, "{\"error\": \"missing or wrong bearer token\"}\n", type: "application/json")
            }
            let action = context.parameters.get("action") ?? ""
            let query = request.uri.queryParameters
            let (status, body) = await admin(action, query.get("worker") ?? "", query.get("address") ?? "")
            return Self.text(HTTPResponse.Status(code: status), body + "\n", type: "application/json")
        }
        // Both subject routes take the session token of a branch operator's multi-factor
        // login; the admin token is deliberately not accepted: operations staff have no
        // business reading a person's data.
        for (route, handler, what) in [("report", subjectReport, "subject reports"), ("export", subjectExport, "subject exports")] {
            router.get("subjects/:iin/\(route)") { request, context -> Response in
                guard let handler else { return Self.text(.notFound, "{\"error\": \"\(what) are not served here\"}\n", type: "application/json") }
                guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.count > 7 else {
                    return Self.text(.unauthorized, "{\"error\": \"a session token is required (Authorization: Bearer …)\"}\n", type: "application/json")
                }
                let (status, body) = await handler(context.parameters.get("iin") ?? "",
                                                   request.uri.queryParameters.get("request") ?? "", String(header.dropFirst(7)))
                return Self.text(HTTPResponse.Status(code: status), body + "\n", type: "application/json")
            }
        }
        return router
    }

    /// An application (a ServiceLifecycle `Service`) listening on host:port.
    public func application(listen: String, logger: Logger) throws -> some ApplicationProtocol {
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw OpsError("ops listen address must be host:port, got \(listen)") }
        return Application(router: router(), configuration: .init(address: .hostname(String(parts[0]), port: port),
                                                                  serverName: "tanba-ops"),
                           logger: logger)
    }
}

public struct OpsError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
