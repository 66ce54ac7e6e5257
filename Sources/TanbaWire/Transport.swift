import Synchronization

/// How cluster code sends requests and serves them, without knowing whether the bytes
/// cross nng sockets or stay in memory. Cluster logic is written against this protocol so
/// it can be tested on `EmbeddedTransport` (deterministic, fault injection, no sockets).
///
/// Addresses are URLs for nng (`tcp://…`, `tls+tcp://…`) and free-form names in memory.
public protocol Transport: Sendable {
    /// Serves requests arriving at `address` with `handler` until the listener is closed.
    func listen(on address: String, handler: @escaping RequestHandler) async throws(WireError) -> any TransportListener
    /// Sends `request` to `address` and returns the answer, or throws `.timedOut` once
    /// `deadline` has elapsed, `.connectionRefused` when nobody serves the address, ….
    func request(_ request: [UInt8], to address: String, deadline: Duration) async throws(WireError) -> [UInt8]
}

public protocol TransportListener: Sendable {
    /// The address clients use (for nng with port 0: the URL with the bound port).
    var address: String { get }
    /// Stops accepting requests, lets those in progress answer, then releases the address.
    func close() async
}

/// `Transport` over nng REQ/REP. One client socket per peer address, dialed on first use
/// and kept; mutual TLS for every tls+tcp:// address.
public final class NNGTransport: Transport {
    /// Credentials for tls+tcp:// (nil: plain tcp:// only). `serverName(for:)` picks the
    /// certificate name a dialed address must present.
    public let tls: TLSCredentials?
    private let serverName: @Sendable (String) -> String?
    private let clients = Mutex<[String: NNGClient]>([:])
    private let concurrency: Int

    public init(tls: TLSCredentials? = nil, concurrency: Int = 8,
                serverName: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.tls = tls
        self.serverName = serverName
        self.concurrency = concurrency
    }

    public func listen(on address: String, handler: @escaping RequestHandler) async throws(WireError) -> any TransportListener {
        let server = try NNGServer(listeningOn: address, tls: address.hasPrefix("tls+") ? tls : nil,
                                   concurrency: concurrency, handler: handler)
        return NNGListener(server: server)
    }

    public func request(_ request: [UInt8], to address: String, deadline: Duration) async throws(WireError) -> [UInt8] {
        let client = try client(for: address)
        return try await client.request(request, deadline: deadline)
    }

    private func client(for address: String) throws(WireError) -> NNGClient {
        if let existing = clients.withLock({ $0[address] }) { return existing }
        var credentials: TLSCredentials? = nil
        if address.hasPrefix("tls+") {
            credentials = tls
            credentials?.serverName = serverName(address)
        }
        // Non-blocking dial: a peer that is down now may come back; until then its
        // requests time out, which scatter-gather treats like any missing shard.
        let client = try NNGClient(connectingTo: address, tls: credentials, waitForConnection: false)
        return clients.withLock { map in
            if let raced = map[address] { return raced }
            map[address] = client
            return client
        }
    }

    /// Closes every client socket.
    public func shutdown() {
        let all = clients.withLock { map -> [NNGClient] in defer { map = [:] }; return Array(map.values) }
        for client in all { client.close() }
    }
}

struct NNGListener: TransportListener {
    let server: NNGServer
    var address: String {
        guard server.port > 0, server.url.hasSuffix(":0") else { return server.url }
        return String(server.url.dropLast()) + String(server.port)
    }
    func close() async { await server.close() }
}
