import Crypto
import Foundation
import TanbaCore
import TanbaWire

// ConsentRecord and ConsentRevocation live in TanbaCore: the coordinator reads them too.

/// A consent record with the station's signature over its canonical JSON.
public struct SignedConsent: Sendable, Equatable {
    public var record: ConsentRecord
    public var document: [UInt8]
    public var signature: [UInt8]

    public init(_ record: ConsentRecord, signedBy identity: NodeIdentity) throws {
        self.record = record
        self.document = record.canonicalJSON()
        self.signature = Array(try identity.signingKey.signature(for: document))
    }

    /// Re-reads a stored document and signature (e.g. from the outbox).
    public init(document: [UInt8], signature: [UInt8]) throws {
        self.record = try JSONDecoder().decode(ConsentRecord.self, from: Data(document))
        self.document = document
        self.signature = signature
    }

    public func isValid(publicKey: Curve25519.Signing.PublicKey) -> Bool {
        // The document must be exactly the canonical form of the record it claims to be.
        document == record.canonicalJSON() && publicKey.isValidSignature(signature, for: document)
    }

    public var message: ConsentRequest {
        ConsentRequest(iin: try! IIN(record.subjectIIN), action: .granted, document: document, signature: signature)
    }

    public static func verifier(_ key: Curve25519.Signing.PublicKey) -> ConsentVerifier {
        let raw = key.rawRepresentation
        return { consent in
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
            return consent.isValid(publicKey: key)
        }
    }
}

extension ConsentRevocation {
    public func message(signedBy identity: NodeIdentity) throws -> ConsentRequest {
        let document = canonicalJSON()
        return ConsentRequest(iin: try IIN(subjectIIN), action: .revoked, document: document,
                              signature: Array(try identity.signingKey.signature(for: document)))
    }
}
