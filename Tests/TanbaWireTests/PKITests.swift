import Crypto
import Foundation
import Testing
@testable import TanbaWire

@Suite struct PKITests {
    @Test func ed25519KeysRoundTripThroughPEM() throws {
        let key = Curve25519.Signing.PrivateKey()
        let loaded = try DevelopmentPKI.signingKey(pem: DevelopmentPKI.pem(signingKey: key))
        #expect(loaded.rawRepresentation == key.rawRepresentation)
        let pub = try DevelopmentPKI.publicKey(pem: DevelopmentPKI.pem(publicKey: key.publicKey))
        #expect(pub.rawRepresentation == key.publicKey.rawRepresentation)
        // A P-256 key is not accepted as an envelope key.
        let p256 = P256.Signing.PrivateKey().pemRepresentation
        #expect(throws: (any Error).self) { try DevelopmentPKI.signingKey(pem: p256) }
    }

    @Test func issuingRefusesBadNamesAndMismatchedCAKeys() throws {
        let ca = try DevelopmentPKI.makeCA()
        #expect(throws: (any Error).self) { try DevelopmentPKI.issue(name: "no spaces", ca: ca) }
        let other = try DevelopmentPKI.makeCA()
        let mixed = DevelopmentPKI.PEMPair(certificatePEM: ca.certificatePEM, privateKeyPEM: other.privateKeyPEM)
        #expect(throws: (any Error).self) { try DevelopmentPKI.issue(name: "worker-1", ca: mixed) }
    }

    /// docs/protocol.md says envelope keys made by OpenSSL work; check it when openssl exists.
    @Test func openSSLGeneratedEnvelopeKeysLoad() throws {
        let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let openssl else { print("skipped: no openssl binary"); return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tanba-ossl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: openssl)
            p.arguments = args
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "openssl \(args)")
        }
        try run(["genpkey", "-algorithm", "ed25519", "-out", dir + "/n.sign.key"])
        try run(["pkey", "-in", dir + "/n.sign.key", "-pubout", "-out", dir + "/n.sign.pub"])
        let identity = try DevelopmentPKI.loadIdentity(name: "n", directory: dir)
        let keyring = try DevelopmentPKI.loadKeyring(directory: dir)
        let bytes = identity.seal(.status, requestID: .random(), timestamp: 0)
        #expect(try keyring.open(bytes, now: 0).sender == "n")
    }
}
