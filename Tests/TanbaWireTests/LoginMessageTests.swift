import TanbaCore
import Testing
@testable import TanbaWire

/// LOGIN_CHALLENGE / LOGIN / LOGOUT bodies (docs/protocol.md "Login"): exact layout of
/// LOGIN, typed errors for bad values, every truncation refused.
@Suite struct LoginMessageTests {
    @Test func loginLayoutIsAsDocumented() throws {
        let m = WireMessage.login(.login(LoginRequest(account: "inv-1", nonce: "ab", signature: [9, 8], secondFactor: .totp("123456"),
                                                      agreementSignature: [])))
        #expect(m.type == .login && m.type.rawValue == 0x0E && m.protocolVersion == 1)
        var expected: [UInt8] = [5, 0] + Array("inv-1".utf8) + [2, 0] + Array("ab".utf8)
        expected += [2, 0, 0, 0, 9, 8]                         // signature: u32 length + bytes
        expected += [1, 6, 0] + Array("123456".utf8)           // second factor 1 = one-time code, text
        expected += [0, 0, 0, 0]                               // no agreement signature
        #expect(m.encodedBody() == expected)
        #expect(try WireMessage.decode(type: .login, payload: expected) == m)
        #expect(MessageType.loginAnswer.rawValue == 0x8E && MessageType.loginChallenge.rawValue == 0x0D && MessageType.logout.rawValue == 0x0F)
    }

    @Test func badValuesGetTypedErrors() throws {
        var body = WireMessage.login(.login(LoginRequest(account: "a", nonce: "n", signature: [1], secondFactor: .none))).encodedBody()
        let kindOffset = 2 + 1 + 2 + 1 + 4 + 1
        body[kindOffset] = 7
        #expect(throws: DecodeError.invalidValue(field: "second factor kind",
                                                 reason: "unknown code 7 (0 none, 1 one-time code, 2 fingerprint)")) {
            try WireMessage.decode(type: .login, payload: body)
        }
        var w = WireWriter()
        w.text("a"); w.text("n"); w.u32(100_000)
        #expect(throws: DecodeError.oversized(field: "challenge signature", size: 100_000, limit: LoginMessage.maximumSignature)) {
            try WireMessage.decode(type: .login, payload: w.bytes)
        }
        for message in WireFixtures.loginMessages {
            let bytes = message.encodedBody()
            for cut in 0..<bytes.count {
                #expect(throws: DecodeError.self) { try WireMessage.decode(type: message.type, payload: Array(bytes[..<cut])) }
            }
        }
    }
}
