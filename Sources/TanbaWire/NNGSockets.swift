import CNNG
import Foundation
import Synchronization

/// Certificates and key for tls+tcp://, as PEM text.
///
/// Every listener requires a client certificate signed by `caPEM` (mutual TLS); a dialer
/// checks the server's certificate against the same CA and, when `serverName` is set,
/// that the certificate names that node. TLS 1.2 only: nng 1.5.2 with mbedTLS 2.28 has
/// nothing newer.
public struct TLSCredentials: Sendable {
    public var caPEM: String
    /// This node's certificate (chain). Optional only so tests can show that a client
    /// without one is refused; listeners throw without it.
    public var certificatePEM: String?
    public var privateKeyPEM: String?
    /// Name the peer's certificate must carry (CN/DNS SAN), checked by dialers. Without
    /// it a dialer accepts any certificate from the CA as the server (measured with nng
    /// 1.5.2); `SignedCaller` still refuses answers not signed by the node it asked.
    public var serverName: String?

    public init(caPEM: String, certificatePEM: String?, privateKeyPEM: String?, serverName: String? = nil) {
        self.caPEM = caPEM
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.serverName = serverName
    }

    /// Loads `ca.crt` from `caDirectory` and `<node>.crt`/`<node>.key` from `nodeDirectory`,
    /// the layout `tanba pki` writes.
    public static func load(caCertificate: String, certificate: String, privateKey: String,
                            serverName: String? = nil) throws(WireError) -> TLSCredentials {
        func read(_ path: String) throws(WireError) -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .tlsConfiguration("cannot read \(path)")
            }
            return String(decoding: data, as: UTF8.self)
        }
        return TLSCredentials(caPEM: try read(caCertificate), certificatePEM: try read(certificate),
                              privateKeyPEM: try read(privateKey), serverName: serverName)
    }

    func makeConfig(server: Bool) throws(WireError) -> OpaquePointer {
        var cfg: OpaquePointer?
        let rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)
        guard rv == 0, let cfg else { throw .tlsConfiguration("cannot allocate: \(String(cString: nng_strerror(rv)))") }
        func check(_ rv: Int32, _ what: String) throws(WireError) {
            guard rv == 0 else {
                nng_tls_config_free(cfg)
                throw .tlsConfiguration("\(what): \(String(cString: nng_strerror(rv)))")
            }
        }
        try check(nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2), "TLS version 1.2")
        // REQUIRED on both sides: listeners default to NONE in nng 1.5.2, which would accept
        // any client at all.
        try check(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED), "auth mode")
        try check(nng_tls_config_ca_chain(cfg, caPEM, nil), "CA certificate")
        if let certificatePEM, let privateKeyPEM {
            try check(nng_tls_config_own_cert(cfg, certificatePEM, privateKeyPEM, nil), "own certificate and key")
        } else if server {
            nng_tls_config_free(cfg)
            throw .tlsConfiguration("a listener needs its own certificate and key")
        }
        if !server, let serverName {
            try check(nng_tls_config_server_name(cfg, serverName), "server name")
        }
        return cfg
    }
}

/// Options shared by every nng socket Tanba opens.
enum NNGSocketOptions {
    /// Size limit and reconnect pacing. RECVMAXSZ defaults to unlimited in nng, so it is set
    /// on every socket; oversize messages are dropped by nng before reaching us.
    static func apply(_ socket: nng_socket, maximumMessageSize: Int) throws(WireError) {
        var rv = nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, maximumMessageSize)
        guard rv == 0 else { throw WireError.from(nng: rv) }
        rv = nng_socket_set_ms(socket, NNG_OPT_RECONNMINT, 50)
        guard rv == 0 else { throw WireError.from(nng: rv) }
        rv = nng_socket_set_ms(socket, NNG_OPT_RECONNMAXT, 2000)
        guard rv == 0 else { throw WireError.from(nng: rv) }
    }

    static func checkScheme(_ url: String, tls: TLSCredentials?) throws(WireError) {
        if url.hasPrefix("tls+tcp://") {
            guard tls != nil else { throw .tlsConfiguration("\(url) needs TLS credentials") }
        } else if url.hasPrefix("tcp://") {
            guard tls == nil else { throw .tlsConfiguration("TLS credentials given for plain \(url)") }
        } else {
            throw .invalidAddress(url)
        }
    }
}

/// Handles one request's bytes and returns the answer's bytes.
public typealias RequestHandler = @Sendable ([UInt8]) async -> [UInt8]

/// A REP socket listening on one address, serving requests on several contexts at once.
///
/// Each of `concurrency` workers owns an nng context and loops receive → handler → send,
/// so slow requests do not block others and the socket never needs a lock.
public final class NNGServer: Sendable {
    public let url: String
    /// The TCP port actually bound (useful with port 0).
    public let port: Int
    private let socket: nng_socket
    private let state = ServerState()
    private let workers: [Task<Void, Never>]

    private struct State {
        var closing = false
        var closed = false
        var busy = 0
        /// Workers with a receive posted (idle), by index: `close` cancels exactly these.
        var receiving: Set<Int> = []
    }

    /// Shared between the server object and its worker tasks.
    private final class ServerState: Sendable {
        private let mutex = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    /// Starts listening on `url` (`tcp://127.0.0.1:0` picks a free port; read `port`).
    public init(listeningOn url: String, tls: TLSCredentials? = nil, concurrency: Int = 8,
                maximumMessageSize: Int = WireLimits.maximumMessage, handler: @escaping RequestHandler) throws(WireError) {
        try NNGSocketOptions.checkScheme(url, tls: tls)
        var socket = nng_socket()
        var rv = nng_rep0_open(&socket)
        guard rv == 0 else { throw WireError.from(nng: rv) }
        var listener = nng_listener()
        var config: OpaquePointer?
        do throws(WireError) {
            try NNGSocketOptions.apply(socket, maximumMessageSize: maximumMessageSize)
            rv = nng_listener_create(&listener, socket, url)
            guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
            if let tls {
                config = try tls.makeConfig(server: true)
                rv = nng_listener_set_ptr(listener, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(config))
                guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
            }
            rv = nng_listener_start(listener, 0)
            guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
        } catch {
            if let config { nng_tls_config_free(config) }
            nng_close(socket)
            throw error
        }
        // The listener holds its own reference to the config.
        if let config { nng_tls_config_free(config) }
        var bound: Int32 = 0
        _ = nng_listener_get_int(listener, NNG_OPT_TCP_BOUND_PORT, &bound)

        self.url = url
        self.port = Int(bound)
        self.socket = socket

        var contexts: [nng_ctx] = []
        for _ in 0..<max(1, concurrency) {
            var ctx = nng_ctx()
            rv = nng_ctx_open(&ctx, socket)
            guard rv == 0 else {
                nng_close(socket)
                throw WireError.from(nng: rv)
            }
            contexts.append(ctx)
        }
        let state = self.state
        workers = contexts.enumerated().map { index, ctx in
            Task.detached { await Self.serve(index: index, ctx: ctx, state: state, handler: handler) }
        }
    }

    private static func serve(index: Int, ctx: nng_ctx, state: ServerState, handler: RequestHandler) async {
        while true {
            // No new receive once closing: see `close` for why no receive may be posted then.
            let go = state.withLock { s -> Bool in
                guard !s.closing else { return false }
                s.receiving.insert(index)
                return true
            }
            guard go else { return }
            let received: Result<[UInt8], WireError>
            do throws(WireError) {
                received = .success(try await NNGMessage.receive(on: ctx, timeoutMilliseconds: -1))
            } catch {
                received = .failure(error)
            }
            let accepted = state.withLock { s -> Bool in
                s.receiving.remove(index)
                guard !s.closing, case .success = received else { return false }
                s.busy += 1
                return true
            }
            guard accepted, case .success(let request) = received else {
                switch received {
                case .failure(.closed), .failure(.cancelled): return
                case .failure:
                    // A broken pipe or similar on one request: keep serving the others.
                    if state.withLock({ $0.closing }) { return }
                    continue
                case .success:
                    // Arrived during close: dropped, its sender times out and retries elsewhere.
                    return
                }
            }
            let answer = await handler(request)
            // The requester may be gone; a failed send only loses this one answer.
            try? await NNGMessage.send(answer, on: ctx, timeoutMilliseconds: 5000)
            state.withLock { $0.busy -= 1 }
        }
    }

    /// Graceful close: stop taking new requests, let requests being handled finish and
    /// answer (up to `drainTimeout`), then close the socket.
    ///
    /// The listener is not closed first: in nng that also closes the connections it
    /// accepted, and the answers still being computed would have nowhere to go. Requests
    /// that arrive during the drain are dropped; their senders time out and retry elsewhere.
    ///
    /// Order matters because of an nng 1.5.2 defect (docs/operations.md, "nng 1.5.2 close
    /// race"): closing a connection while a message is being read from it can leave that
    /// connection's receive pending forever, and nng's single reaper thread then waits for
    /// it — every later `nng_close` in the process blocks. So the idle workers' receives are
    /// cancelled first: with no context waiting, nng's REP socket reads at most one more
    /// message per connection and then stops reading it, so by the time the socket is
    /// closed no read is in progress (a request that started arriving just before the
    /// cancel has `settle` to land). The close itself runs off the cooperative pool with a
    /// bounded wait (`NNGClose`), so even a wedged nng cannot hang the caller.
    public func close(drainTimeout: Duration = .seconds(5)) async {
        let idle = state.withLock { s -> [Int]? in
            guard !s.closing else { return nil }
            s.closing = true
            return Array(s.receiving)
        }
        guard let idle else { return }
        // Cancelling a worker's task cancels its pending receive (AIOOperation); busy
        // workers are left alone so their handlers run to the end and answer.
        for index in idle { workers[index].cancel() }
        let clock = ContinuousClock()
        let cancelledAt = clock.now
        let deadline = cancelledAt + drainTimeout
        while state.withLock({ $0.busy }) > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        let settled = cancelledAt + NNGClose.settle
        if clock.now < settled { try? await Task.sleep(until: settled) }
        state.withLock { $0.closed = true }
        await NNGClose.close(socket, what: "server \(url)")
        for worker in workers { await worker.value }
    }

    /// A server dropped without `close()` still releases its port and ends its workers
    /// (abruptly: answers in progress are lost). Same order as `close` — receives
    /// cancelled, `settle`, then the socket — on the close's own thread.
    deinit {
        let open = state.withLock { s -> Bool in
            defer { s.closed = true; s.closing = true }
            return !s.closed
        }
        guard open else { return }
        for worker in workers { worker.cancel() }
        let socket = self.socket
        let settle = NNGClose.settle
        NNGClose.start(what: "server \(url) (deinit)") {
            Thread.sleep(forTimeInterval: Double(settle.components.attoseconds) / 1e18 + Double(settle.components.seconds))
            nng_close(socket)
        }
    }
}

/// A REQ socket dialed to one server. Each request opens its own context, so any number
/// of requests may be in flight at once, each with its own deadline.
public final class NNGClient: Sendable {
    public let url: String
    /// Largest request this client will send: the server's receive limit, which is the
    /// same constant on every Tanba node. Larger requests fail fast with .messageTooLarge
    /// instead of being silently dropped by the peer.
    public let maximumMessageSize: Int
    private let socket: nng_socket
    private let closed = Mutex(false)

    /// Dials `url`. With `waitForConnection` the first connection attempt happens now and
    /// its failure is thrown (connection refused, TLS failure); without it nng keeps
    /// retrying in the background and requests time out until a peer appears.
    public init(connectingTo url: String, tls: TLSCredentials? = nil, waitForConnection: Bool = true,
                maximumMessageSize: Int = WireLimits.maximumMessage) throws(WireError) {
        try NNGSocketOptions.checkScheme(url, tls: tls)
        var socket = nng_socket()
        var rv = nng_req0_open(&socket)
        guard rv == 0 else { throw WireError.from(nng: rv) }
        // No resend timer (nng's default re-sends an unanswered request after 60 s): a
        // request that legitimately runs longer (an add-worker's rebalance of a 100,000-person
        // gallery) was re-sent, the copy refused as a replay (stale timestamp), and that
        // refusal became the caller's answer. Callers retry themselves, with the same
        // request ID; nng still re-sends at once when a pipe closes and another connects.
        rv = nng_socket_set_ms(socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)
        guard rv == 0 else { nng_close(socket); throw WireError.from(nng: rv) }
        var config: OpaquePointer?
        do throws(WireError) {
            try NNGSocketOptions.apply(socket, maximumMessageSize: maximumMessageSize)
            var dialer = nng_dialer()
            rv = nng_dialer_create(&dialer, socket, url)
            guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
            if let tls {
                config = try tls.makeConfig(server: false)
                rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(config))
                guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
            }
            rv = nng_dialer_start(dialer, waitForConnection ? 0 : Int32(NNG_FLAG_NONBLOCK))
            if tls != nil, rv == Int32(NNG_ECONNSHUT.rawValue) || rv == Int32(NNG_ECONNRESET.rawValue) {
                // mbedTLS on the listener drops the connection when it rejects our
                // certificate; to the dialer that is a shutdown mid-handshake.
                throw WireError.tlsFailure("\(url) closed the connection during the handshake (our certificate was refused)")
            }
            guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
        } catch {
            if let config { nng_tls_config_free(config) }
            nng_close(socket)
            throw error
        }
        if let config { nng_tls_config_free(config) }
        self.url = url
        self.socket = socket
        self.maximumMessageSize = maximumMessageSize
    }

    /// Sends `request` and waits for the answer until `deadline` has elapsed.
    public func request(_ request: [UInt8], deadline: Duration) async throws(WireError) -> [UInt8] {
        guard request.count <= maximumMessageSize else {
            throw .messageTooLarge(size: request.count, limit: maximumMessageSize)
        }
        guard !closed.withLock({ $0 }) else { throw .closed }
        var ctx = nng_ctx()
        let rv = nng_ctx_open(&ctx, socket)
        guard rv == 0 else { throw WireError.from(nng: rv, address: url) }
        defer { nng_ctx_close(ctx) }
        let clock = ContinuousClock()
        let end = clock.now + deadline
        try await NNGMessage.send(request, on: ctx, timeoutMilliseconds: Self.milliseconds(until: end, clock))
        let answer = try await NNGMessage.receive(on: ctx, timeoutMilliseconds: Self.milliseconds(until: end, clock))
        return answer
    }

    static func milliseconds(until end: ContinuousClock.Instant, _ clock: ContinuousClock) -> Int32 {
        let left = clock.now.duration(to: end)
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        // 0 would mean "do not wait at all" to nng; 1 ms keeps an expired deadline a timeout.
        return Int32(clamping: max(1, ms))
    }

    /// Closes the socket; requests in flight fail with .closed. Blocks at most
    /// `NNGClose.limit` (see `NNGClose` for what happens when nng does not return).
    public func close() {
        let first = closed.withLock { c -> Bool in defer { c = true }; return !c }
        if first { NNGClose.closeBlocking(socket, what: "client \(url)") }
    }

    deinit { close() }
}
