import Crypto
import Foundation
import TanbaCore
import TanbaWire

/// The written consent to collect, process and store biometric data [BIO 3, appendix] with
/// the details the personal-data law asks for [PD 8.4]. The station signs its canonical JSON
/// with its Ed25519 envelope key, keeps it, and sends it to the cluster (CONSENT 0x0A) ahead
/// of the enrollment it covers; the operator carries the burden of proof [PD 8.3].
public struct ConsentRecord: Sendable, Codable, Equatable {
    public var id: String
    /// Operator: the organisation (name, BIN) and the employee who accepted the form.
    public var operatorOrganisation: String
    public var operatorBIN: String
    public var operatorEmployee: String
    public var branch: String
    public var station: String
    public var subjectName: String
    public var subjectIIN: String
    public var subjectBirthDate: String
    /// Calendar date of consent in Astana (YYYY-MM-DD).
    public var date: String
    /// Term of consent, e.g. "until revoked" or "5 years".
    public var term: String
    public var thirdPartyTransfer: Bool
    public var crossBorderTransfer: Bool
    public var publication: Bool
    /// Reference of the signed paper (or state-service) form.
    public var formReference: String
    public var purpose: String
    /// Set when a guardian consented on behalf of an incapable person [BIO 5].
    public var guardianIIN: String?
    public var guardianApplication: String?

    public init(id: String = UUID().uuidString.lowercased(), operatorOrganisation: String = "NAO Government for Citizens",
                operatorBIN: String = "", operatorEmployee: String, branch: String, station: String,
                subjectName: String, subjectIIN: IIN, date: IIN.BirthDate, term: String = "until revoked",
                thirdPartyTransfer: Bool = false, crossBorderTransfer: Bool = false, publication: Bool = false,
                formReference: String, purpose: EnrollmentPurpose = .publicServices, guardian: Guardian? = nil) {
        self.id = id
        self.operatorOrganisation = operatorOrganisation
        self.operatorBIN = operatorBIN
        self.operatorEmployee = operatorEmployee
        self.branch = branch
        self.station = station
        self.subjectName = subjectName
        self.subjectIIN = subjectIIN.digits
        self.subjectBirthDate = subjectIIN.birthDate.description
        self.date = date.description
        self.term = term
        self.thirdPartyTransfer = thirdPartyTransfer
        self.crossBorderTransfer = crossBorderTransfer
        self.publication = publication
        self.formReference = formReference
        self.purpose = purpose.rawValue
        self.guardianIIN = guardian?.iin.digits
        self.guardianApplication = guardian?.applicationNumber
    }

    /// Sorted-key JSON: the exact bytes that are signed.
    public func canonicalJSON() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(self))
    }
}

/// A revocation of consent [PD 8], filed at any branch; optionally with a deletion request
/// [BIO 11] (sent as DELETE the same day).
public struct ConsentRevocation: Sendable, Codable, Equatable {
    public var id: String
    public var subjectIIN: String
    public var subjectName: String
    public var date: String
    public var operatorEmployee: String
    public var branch: String
    public var station: String
    public var formReference: String
    /// Filed by a legal representative or guardian rather than the subject.
    public var filedBy: String?
    public var deleteData: Bool

    public init(id: String = UUID().uuidString.lowercased(), subjectIIN: IIN, subjectName: String, date: IIN.BirthDate,
                operatorEmployee: String, branch: String, station: String, formReference: String,
                filedBy: String? = nil, deleteData: Bool) {
        self.id = id
        self.subjectIIN = subjectIIN.digits
        self.subjectName = subjectName
        self.date = date.description
        self.operatorEmployee = operatorEmployee
        self.branch = branch
        self.station = station
        self.formReference = formReference
        self.filedBy = filedBy
        self.deleteData = deleteData
    }

    public func canonicalJSON() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(self))
    }
}

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
