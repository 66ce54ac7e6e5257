import Foundation
import Logging
import Synchronization
import TanbaOps
import TanbaTestSupport
import Testing

/// The ops endpoint over real HTTP on 127.0.0.1: health, readiness, Prometheus text,
/// cluster JSON, and admin routes that need the bearer token.
@Suite(.serialized) struct OpsEndpointTests {
    final class Flag: Sendable {
        let ready = Mutex(false)
        let calls = Mutex<[String]>([])
    }

    func get(_ url: String, method: String = "GET", token: String? = nil) async throws -> (Int, String) {
        try await HTTPProbe.request(url, method: method, token: token)
    }

    @Test func routesAnswerAndAdminNeedsTheToken() async throws {
        let flag = Flag()
        let endpoint = OpsEndpoint(
            ready: { flag.ready.withLock { $0 } },
            metrics: { "# TYPE tanba_gallery_persons gauge\ntanba_gallery_persons 42\n" },
            cluster: { "{\"ready\": false}" },
            adminToken: "s3cret",
            admin: { action, worker, _ in
                flag.calls.withLock { $0.append("\(action):\(worker)") }
                return (200, "{\"ok\": true}")
            })
        var logger = Logger(label: "ops-test")
        logger.logLevel = .critical
        let port = Int.random(in: 21000...39000)
        let base = "http://127.0.0.1:\(port)"
        let app = try endpoint.application(listen: "127.0.0.1:\(port)", logger: logger)
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        #expect(try await HTTPProbe.waitUntilUp(base))
        #expect(try await get(base + "/readyz").0 == 503)
        flag.ready.withLock { $0 = true }
        #expect(try await get(base + "/readyz").0 == 200)
        let metrics = try await get(base + "/metrics")
        #expect(metrics.0 == 200 && metrics.1.contains("tanba_gallery_persons 42"))
        #expect(try await get(base + "/cluster").1.contains("\"ready\""))
        #expect(try await get(base + "/admin/drain?worker=worker-2", method: "POST").0 == 401)
        #expect(try await get(base + "/admin/drain?worker=worker-2", method: "POST", token: "wrong").0 == 401)
        #expect(flag.calls.withLock { $0 }.isEmpty)
        let ok = try await get(base + "/admin/drain?worker=worker-2", method: "POST", token: "s3cret")
        #expect(ok.0 == 200)
        #expect(flag.calls.withLock { $0 } == ["drain:worker-2"])
    }
}
