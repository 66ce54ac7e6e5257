import Foundation
import Testing
@testable import TanbaWire

/// Certificates made by DevelopmentPKI (swift-certificates), checked by nng/mbedTLS over a
/// real tls+tcp loopback connection.
@Suite(.serialized) struct MutualTLSTests {
    static let ca = try! DevelopmentPKI.makeCA()
    static let server = try! DevelopmentPKI.issue(name: "worker-1", ca: ca)
    static let station = try! DevelopmentPKI.issue(name: "station-1", ca: ca)
    static let rogueCA = try! DevelopmentPKI.makeCA(commonName: "Somebody Else's CA")
    static let rogue = try! DevelopmentPKI.issue(name: "station-1", ca: rogueCA)

    static func serverCredentials() -> TLSCredentials {
        TLSCredentials(caPEM: ca.certificatePEM, certificatePEM: server.certificatePEM, privateKeyPEM: server.privateKeyPEM)
    }

    static func startServer() throws -> NNGServer {
        try NNGServer(listeningOn: "tls+tcp://127.0.0.1:0", tls: serverCredentials()) { request in request + [0xAA] }
    }

    /// Connects and makes one request; any failure (dial or request) is returned.
    static func attempt(port: Int, _ credentials: TLSCredentials) async -> Result<[UInt8], WireError> {
        do {
            let client = try NNGClient(connectingTo: "tls+tcp://127.0.0.1:\(port)", tls: credentials)
            defer { client.close() }
            return .success(try await client.request([1, 2], deadline: .seconds(3)))
        } catch {
            return .failure(error)
        }
    }

    /// The dial itself fails with a typed TLS error: mbedTLS refuses during the handshake.
    static func isRefusal(_ result: Result<[UInt8], WireError>) -> Bool {
        if case .failure(.tlsFailure) = result { return true }
        return false
    }

    @Test func mutualTLSRequestReplySucceeds() async throws {
        let server = try Self.startServer()
        let good = TLSCredentials(caPEM: Self.ca.certificatePEM, certificatePEM: Self.station.certificatePEM,
                                  privateKeyPEM: Self.station.privateKeyPEM, serverName: "worker-1")
        let result = await Self.attempt(port: server.port, good)
        #expect(try result.get() == [1, 2, 0xAA])
        await server.close()
    }

    @Test func clientCertificateFromAnotherCAIsRefusedAndServerKeepsServing() async throws {
        let server = try Self.startServer()
        // The rogue client trusts our CA (so it accepts the server) but presents a
        // certificate our CA never signed.
        let rogue = TLSCredentials(caPEM: Self.ca.certificatePEM, certificatePEM: Self.rogue.certificatePEM,
                                   privateKeyPEM: Self.rogue.privateKeyPEM, serverName: "worker-1")
        let refused = await Self.attempt(port: server.port, rogue)
        #expect(Self.isRefusal(refused), "got \(refused)")
        let good = TLSCredentials(caPEM: Self.ca.certificatePEM, certificatePEM: Self.station.certificatePEM,
                                  privateKeyPEM: Self.station.privateKeyPEM, serverName: "worker-1")
        #expect(try await Self.attempt(port: server.port, good).get() == [1, 2, 0xAA])
        await server.close()
    }

    @Test func clientWithoutCertificateIsRefused() async throws {
        let server = try Self.startServer()
        let anonymous = TLSCredentials(caPEM: Self.ca.certificatePEM, certificatePEM: nil, privateKeyPEM: nil,
                                       serverName: "worker-1")
        let refused = await Self.attempt(port: server.port, anonymous)
        #expect(Self.isRefusal(refused), "got \(refused)")
        await server.close()
    }

    @Test func serverWithUnexpectedNameIsRefusedByTheClient() async throws {
        let server = try Self.startServer()
        let misdirected = TLSCredentials(caPEM: Self.ca.certificatePEM, certificatePEM: Self.station.certificatePEM,
                                         privateKeyPEM: Self.station.privateKeyPEM, serverName: "worker-2")
        let refused = await Self.attempt(port: server.port, misdirected)
        #expect(Self.isRefusal(refused), "got \(refused)")
        await server.close()
    }

    @Test func plainTCPClientCannotTalkToATLSListener() async throws {
        let server = try Self.startServer()
        let client = try NNGClient(connectingTo: "tcp://127.0.0.1:\(server.port)", waitForConnection: false)
        await #expect(throws: WireError.timedOut) { _ = try await client.request([1], deadline: .milliseconds(300)) }
        client.close()
        await server.close()
    }

    @Test func listenerWithoutOwnCertificateIsAConfigurationError() {
        let credentials = TLSCredentials(caPEM: Self.ca.certificatePEM, certificatePEM: nil, privateKeyPEM: nil)
        #expect(throws: WireError.tlsConfiguration("a listener needs its own certificate and key")) {
            _ = try NNGServer(listeningOn: "tls+tcp://127.0.0.1:0", tls: credentials) { $0 }
        }
    }

    @Test func tlsAddressWithoutCredentialsIsRejected() {
        #expect(throws: WireError.self) { _ = try NNGServer(listeningOn: "tls+tcp://127.0.0.1:0") { $0 } }
    }
}
