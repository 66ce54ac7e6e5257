import Crypto
import TanbaCore
import Testing
@testable import TanbaWire

/// Protocol version 2: ENROLL and UPDATE carry per-finger exceptions; every other message,
/// and an ENROLL/UPDATE without exceptions, keeps the version-1 layout.
@Suite struct ExceptionsProtocolV2Tests {
    static let identity = try! NodeIdentity(name: "station-1", signingKey: Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 7, count: 32)))
    static var keyring: Keyring {
        var k = Keyring()
        try! k.trust("station-1", key: identity.publicKey)
        return k
    }
    static let exceptions = [
        FingerException(position: .leftIndex, kind: .bandaged, reason: "cut, healing"),
        FingerException(position: .leftLittle, kind: .missing, reason: "amputated"),
        FingerException(position: .rightLittle, kind: .noPattern, reason: "no papillary pattern (dermatitis)"),
    ]

    @Test func enrollAndUpdateWithExceptionsTravelAsVersion2AndRoundTrip() throws {
        let record = WireFixtures.record(fingers: [.rightThumb, .rightIndex])
        for message in [WireMessage.enroll(EnrollRequest(iin: WireFixtures.iin(1), record: record, exceptions: Self.exceptions)),
                        .update(UpdateRequest(iin: WireFixtures.iin(1), record: record, reason: "scars", exceptions: Self.exceptions))] {
            #expect(message.protocolVersion == 2)
            let bytes = Self.identity.seal(message, requestID: .random())
            #expect(bytes[4] == 2, "version byte")
            let envelope = try Self.keyring.open(bytes)
            #expect(envelope.version == 2)
            #expect(try envelope.message() == message)
            // A version-1 reader sees bytes after the last version-1 field: refused, typed.
            #expect(throws: DecodeError.self) { try WireMessage.decode(type: message.type, payload: envelope.payload, version: 1) }
        }
        // Without exceptions: the version-1 layout, byte for byte, still version 1.
        let plain = WireMessage.enroll(EnrollRequest(iin: WireFixtures.iin(1), record: record))
        #expect(plain.protocolVersion == 1 && Self.identity.seal(plain, requestID: .random())[4] == 1)
        #expect(try WireMessage.decode(type: .enroll, payload: plain.encodedBody(), version: 2) == plain)
    }

    @Test func badExceptionListsGetTypedErrors() throws {
        let record = WireFixtures.record(fingers: [.rightThumb])
        let body = WireMessage.enroll(EnrollRequest(iin: WireFixtures.iin(1), record: record,
                                                    exceptions: [FingerException(position: .leftThumb, kind: .wound, reason: "burn")])).encodedBody()
        // The list is the last 1 + (1 + 1 + 2 + 4) bytes: count, position, kind, text.
        let listStart = body.count - 9
        var badKind = body
        badKind[listStart + 2] = 9
        #expect(throws: DecodeError.invalidValue(field: "exception kind", reason: "unknown code 9 (1 missing, 2 bandaged, 3 wound, 4 deformed, 5 no pattern)")) {
            try WireMessage.decode(type: .enroll, payload: badKind, version: 2)
        }
        var badPosition = body
        badPosition[listStart + 1] = 11
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .enroll, payload: badPosition, version: 2) }
        var tooMany = body
        tooMany[listStart] = 11
        #expect(throws: DecodeError.oversized(field: "finger exceptions", size: 11, limit: 10)) {
            try WireMessage.decode(type: .enroll, payload: tooMany, version: 2)
        }
        let twice = WireMessage.enroll(EnrollRequest(iin: WireFixtures.iin(1), record: record, exceptions: [
            FingerException(position: .leftThumb, kind: .wound, reason: "a"), FingerException(position: .leftThumb, kind: .missing, reason: "b"),
        ])).encodedBody()
        #expect(throws: DecodeError.invalidValue(field: "exception finger position", reason: "finger position 6 appears twice")) {
            try WireMessage.decode(type: .enroll, payload: twice, version: 2)
        }
        // Truncated anywhere inside the list: typed, never a crash.
        for cut in (listStart + 1)..<body.count {
            #expect(throws: DecodeError.self) { try WireMessage.decode(type: .enroll, payload: Array(body[..<cut]), version: 2) }
        }
        // An envelope of an unknown version is refused before its body is read.
        var future = Self.identity.seal(.ping(nonce: 1), requestID: .random())
        future[4] = Envelope.currentVersion + 1
        #expect(throws: DecodeError.unsupportedVersion(Envelope.currentVersion + 1)) { try Envelope.decode(future) }
    }
}
