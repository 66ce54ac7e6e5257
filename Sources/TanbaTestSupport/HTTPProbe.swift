import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// HTTP requests for the tests of the ops endpoint (real sockets on 127.0.0.1). Shared by the
/// test targets that start a Hummingbird application.
public enum HTTPProbe {
    /// Status and body of one request; `token` goes into `Authorization: Bearer`.
    public static func request(_ url: String, method: String = "GET", token: String? = nil) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
    }

    /// Polls `base`/healthz until it answers 200 (at most ~5 s); false if it never does.
    public static func waitUntilUp(_ base: String) async throws -> Bool {
        for _ in 0..<100 {
            if (try? await request(base + "/healthz"))?.0 == 200 { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
