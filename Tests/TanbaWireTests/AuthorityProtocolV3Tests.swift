import Crypto
import TanbaCore
import Testing
@testable import TanbaWire

/// Protocol version 3: IDENTIFY and VERIFY may carry the requester (session, account, role,
/// basis kind, case number); without one they keep the version-1 layout byte for byte.
@Suite struct AuthorityProtocolV3Tests {
    static let identity = try! NodeIdentity(name: "client-1", signingKey: Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 9, count: 32)))
    static var keyring: Keyring {
        var k = Keyring()
        try! k.trust("client-1", key: identity.publicKey)
        return k
    }
    static let requester = Requester(session: String(repeating: "0f", count: 32), account: "inv-1", role: "investigator-police",
                                     basis: .administrativeOffence, caseNumber: "АП-2026/17")

    @Test func identifyAndVerifyWithRequesterTravelAsVersion3AndRoundTrip() throws {
        let probe = WireFixtures.record(fingers: [.rightThumb, .rightIndex])
        for message in [WireMessage.identify(IdentifyRequest(probe: probe, topK: 7, requester: Self.requester)),
                        .verify(VerifyRequest(claimedIIN: WireFixtures.iin(1), probe: probe, requester: Self.requester))] {
            #expect(message.protocolVersion == 3)
            let bytes = Self.identity.seal(message, requestID: .random())
            #expect(bytes[4] == 3, "version byte")
            let envelope = try Self.keyring.open(bytes)
            #expect(try envelope.message() == message)
            // A version-2 (or 1) reader sees bytes after its last field: refused, typed; it
            // never runs the request without the requester.
            #expect(throws: DecodeError.self) { try WireMessage.decode(type: message.type, payload: envelope.payload, version: 2) }
        }
        // Without a requester: version 1, and the bytes a version-1 node always sent.
        let station = WireMessage.verify(VerifyRequest(claimedIIN: WireFixtures.iin(1), probe: probe))
        #expect(station.protocolVersion == 1 && Self.identity.seal(station, requestID: .random())[4] == 1)
        var v1 = WireWriter()
        v1.iin(WireFixtures.iin(1)); v1.record(probe)
        #expect(station.encodedBody() == v1.bytes)
        #expect(try WireMessage.decode(type: .verify, payload: v1.bytes, version: 3) == station)
    }

    @Test func badRequestersGetTypedErrors() throws {
        let body = WireMessage.viewRecord(ViewRecordRequest(iin: WireFixtures.iin(2), requester: Self.requester)).encodedBody()
        // Layout: iin (12), session, account, role (u16 + bytes each), u8 basis kind, case number.
        let basisOffset = 12 + (2 + 64) + (2 + 5) + (2 + 19)
        #expect(body[basisOffset] == Requester.BasisKind.administrativeOffence.rawValue)
        var bad = body
        bad[basisOffset] = 10
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .viewRecord, payload: bad, version: 1) }
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .viewRecord, payload: Array(body.dropLast(3)), version: 1) }
        // VIEW_RECORD always carries its requester: an IIN alone does not decode.
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .viewRecord, payload: Array(body.prefix(12)), version: 1) }
        #expect(Envelope.supportedVersions == 1...3)
    }
}
