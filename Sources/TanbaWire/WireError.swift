import CNNG

/// Everything that can go wrong moving a message between two nodes, as one typed error so
/// callers can tell "peer is down" from "peer said no" from "we sent garbage".
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No answer before the request's deadline (peer slow, dead, or the message was lost).
    case timedOut
    /// The socket or transport was closed locally while the operation was pending.
    case closed
    /// The calling task was cancelled; the pending nng operation was aborted.
    case cancelled
    /// Nothing listens at the address (TCP RST), or the embedded peer is marked dead.
    case connectionRefused(address: String)
    /// A message exceeds the size limit configured for the socket.
    case messageTooLarge(size: Int, limit: Int)
    /// The TLS handshake failed: wrong CA, missing or rejected certificate, bad key, ….
    case tlsFailure(String)
    /// The address is not a supported URL (tcp://host:port or tls+tcp://host:port).
    case invalidAddress(String)
    /// Listening address already taken.
    case addressInUse(address: String)
    /// The TLS configuration could not be loaded (unreadable PEM, key does not match, …).
    case tlsConfiguration(String)
    /// Any other nng error, with its code and nng's own text.
    case nng(code: Int32, message: String)

    public var description: String {
        switch self {
        case .timedOut: "timed out waiting for the peer"
        case .closed: "the connection or socket is closed"
        case .cancelled: "the request was cancelled"
        case .connectionRefused(let address): "connection refused by \(address)"
        case .messageTooLarge(let size, let limit): "message of \(size) bytes exceeds the limit of \(limit) bytes"
        case .tlsFailure(let reason): "TLS failure: \(reason)"
        case .invalidAddress(let address): "invalid address '\(address)' (expected tcp://host:port or tls+tcp://host:port)"
        case .addressInUse(let address): "address already in use: \(address)"
        case .tlsConfiguration(let reason): "TLS configuration: \(reason)"
        case .nng(let code, let message): "nng error \(code): \(message)"
        }
    }

    /// Maps an nng return code to the typed error. `address` names the peer for messages.
    static func from(nng code: Int32, address: String = "") -> WireError {
        switch code {
        case Int32(NNG_ETIMEDOUT.rawValue): .timedOut
        case Int32(NNG_ECLOSED.rawValue): .closed
        case Int32(NNG_ECANCELED.rawValue): .cancelled
        case Int32(NNG_ECONNREFUSED.rawValue): .connectionRefused(address: address)
        case Int32(NNG_EMSGSIZE.rawValue): .messageTooLarge(size: -1, limit: -1)
        case Int32(NNG_ECRYPTO.rawValue), Int32(NNG_EPEERAUTH.rawValue):
            .tlsFailure(String(cString: nng_strerror(code)))
        case Int32(NNG_EADDRINVAL.rawValue), Int32(NNG_ENOTSUP.rawValue): .invalidAddress(address)
        case Int32(NNG_EADDRINUSE.rawValue): .addressInUse(address: address)
        default: .nng(code: code, message: String(cString: nng_strerror(code)))
        }
    }
}
