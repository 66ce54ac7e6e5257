import Crypto
import Foundation
import X509

/// A development certificate authority and per-node credentials, as `tanba pki` writes
/// them. For production, replace the CA and node certificates with ones from a real
/// authority (docs/protocol.md says which fields nng/mbedTLS needs); the Ed25519
/// envelope keys stay Tanba's own.
///
/// Files (PEM; private keys mode 0600):
/// - CA directory: `ca.crt`, `ca.key`
/// - node directory: `ca.crt` (copy), `NODE.crt`, `NODE.key`, `NODE.sign.key`, `NODE.sign.pub`
public enum DevelopmentPKI {
    public struct PEMPair: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String
    }

    public enum PKIError: Error, CustomStringConvertible {
        case invalidNodeName(String)
        case unreadable(String)
        case invalid(String)
        public var description: String {
            switch self {
            case .invalidNodeName(let n): "invalid node name '\(n)' (1–64 of A–Z a–z 0–9 . _ -)"
            case .unreadable(let p): "cannot read \(p)"
            case .invalid(let why): why
            }
        }
    }

    /// A self-signed P-256 CA certificate, valid `years` from an hour ago (clock skew).
    public static func makeCA(commonName: String = "Tanba Development CA", years: Int = 10,
                              now: Date = Date()) throws -> PEMPair {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Tanba")
            CommonName(commonName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(years) * 365.25 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(key))
        return PEMPair(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    /// A P-256 certificate for node `name`, signed by the CA: CN and DNS SAN = name (what a
    /// dialer checks as the server name), usable as TLS server and client.
    public static func issue(name: String, ca: PEMPair, years: Int = 2, now: Date = Date()) throws -> PEMPair {
        guard NodeName.isValid(name) else { throw PKIError.invalidNodeName(name) }
        let caCertificate = try Certificate(pemEncoded: ca.certificatePEM)
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: ca.privateKeyPEM)
        guard Certificate.PublicKey(caKey.publicKey) == caCertificate.publicKey else {
            throw PKIError.invalid("the CA key does not belong to the CA certificate")
        }
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Tanba")
            CommonName(name)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames([.dnsName(name)])
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(years) * 365.25 * 86400),
            issuer: caCertificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(caKey))
        return PEMPair(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    // MARK: Ed25519 envelope keys (PKCS#8 / SubjectPublicKeyInfo, the form openssl reads)

    // RFC 8410: the DER around a raw 32-byte Ed25519 key is a fixed prefix.
    private static let privatePrefix: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B,
                                                 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
    private static let publicPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    public static func pem(signingKey: Curve25519.Signing.PrivateKey) -> String {
        PEM.encode(type: "PRIVATE KEY", der: privatePrefix + signingKey.rawRepresentation)
    }

    public static func pem(publicKey: Curve25519.Signing.PublicKey) -> String {
        PEM.encode(type: "PUBLIC KEY", der: publicPrefix + publicKey.rawRepresentation)
    }

    public static func signingKey(pem: String) throws -> Curve25519.Signing.PrivateKey {
        guard let der = PEM.decode(pem, type: "PRIVATE KEY"), der.count == 48, Array(der.prefix(16)) == privatePrefix else {
            throw PKIError.invalid("not an Ed25519 private key (PKCS#8 PEM)")
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
    }

    public static func publicKey(pem: String) throws -> Curve25519.Signing.PublicKey {
        guard let der = PEM.decode(pem, type: "PUBLIC KEY"), der.count == 44, Array(der.prefix(12)) == publicPrefix else {
            throw PKIError.invalid("not an Ed25519 public key (SubjectPublicKeyInfo PEM)")
        }
        return try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
    }

    // MARK: Files

    /// Writes `ca.crt` and `ca.key` into `directory` (created if needed). Refuses to
    /// overwrite an existing CA key: losing it would orphan every issued certificate.
    @discardableResult
    public static func initialize(directory: String) throws -> PEMPair {
        let keyPath = (directory as NSString).appendingPathComponent("ca.key")
        guard !FileManager.default.fileExists(atPath: keyPath) else {
            throw PKIError.invalid("\(keyPath) exists; refusing to overwrite a CA key")
        }
        let ca = try makeCA()
        try write(ca.certificatePEM, to: directory, name: "ca.crt", secret: false)
        try write(ca.privateKeyPEM, to: directory, name: "ca.key", secret: true)
        return ca
    }

    /// Issues node `name` from the CA in `caDirectory` into `directory`: TLS certificate and
    /// key, a copy of the CA certificate, and the node's Ed25519 envelope key pair.
    public static func issue(name: String, caDirectory: String, directory: String) throws {
        let ca = PEMPair(certificatePEM: try read(caDirectory, "ca.crt"), privateKeyPEM: try read(caDirectory, "ca.key"))
        let node = try issue(name: name, ca: ca)
        let signing = Curve25519.Signing.PrivateKey()
        try write(ca.certificatePEM, to: directory, name: "ca.crt", secret: false)
        try write(node.certificatePEM, to: directory, name: "\(name).crt", secret: false)
        try write(node.privateKeyPEM, to: directory, name: "\(name).key", secret: true)
        try write(pem(signingKey: signing), to: directory, name: "\(name).sign.key", secret: true)
        try write(pem(publicKey: signing.publicKey), to: directory, name: "\(name).sign.pub", secret: false)
    }

    /// Node identity from `directory/NAME.sign.key`.
    public static func loadIdentity(name: String, directory: String) throws -> NodeIdentity {
        try NodeIdentity(name: name, signingKey: signingKey(pem: read(directory, "\(name).sign.key")))
    }

    /// A keyring trusting every `*.sign.pub` in `directory`, named by the file.
    public static func loadKeyring(directory: String, windowMilliseconds: Int64 = 30_000) throws -> Keyring {
        var keyring = Keyring(windowMilliseconds: windowMilliseconds)
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        where file.hasSuffix(".sign.pub") {
            let name = String(file.dropLast(".sign.pub".count))
            try keyring.trust(name, key: publicKey(pem: read(directory, file)))
        }
        return keyring
    }

    /// TLS credentials for node `name` from its directory.
    public static func loadTLS(name: String, directory: String) throws -> TLSCredentials {
        TLSCredentials(caPEM: try read(directory, "ca.crt"), certificatePEM: try read(directory, "\(name).crt"),
                       privateKeyPEM: try read(directory, "\(name).key"))
    }

    static func read(_ directory: String, _ name: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: path) else { throw PKIError.unreadable(path) }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes a file; secrets are created with mode 0600 from the start (not chmod after
    /// writing, which would leave a window where the key is world-readable).
    static func write(_ text: String, to directory: String, name: String, secret: Bool) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(name)
        let mode: mode_t = secret ? 0o600 : 0o644
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw PKIError.invalid("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // An existing file keeps its old mode through O_CREAT; force it.
        guard fchmod(fd, mode) == 0 else { throw PKIError.invalid("cannot chmod \(path)") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw PKIError.invalid("cannot write \(path)") }
    }
}

/// Minimal PEM (RFC 7468) for the two fixed-size Ed25519 key forms.
enum PEM {
    static func encode(type: String, der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN \(type)-----"]
        var rest = Substring(base64)
        while !rest.isEmpty { lines.append(String(rest.prefix(64))); rest = rest.dropFirst(64) }
        lines.append("-----END \(type)-----")
        return lines.joined(separator: "\n") + "\n"
    }

    static func decode(_ text: String, type: String) -> [UInt8]? {
        let begin = "-----BEGIN \(type)-----", end = "-----END \(type)-----"
        guard let b = text.range(of: begin), let e = text.range(of: end), b.upperBound <= e.lowerBound else { return nil }
        let body = text[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(body)).map { Array($0) }
    }
}
