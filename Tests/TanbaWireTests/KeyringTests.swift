import Crypto
import Testing
@testable import TanbaWire

@Suite struct KeyringTests {
    let station = WireFixtures.identity("station-1", seed: 1)
    let impostor = WireFixtures.identity("station-1", seed: 2)   // same name, other key
    let stranger = WireFixtures.identity("station-9", seed: 3)

    var keyring: Keyring {
        var k = Keyring(windowMilliseconds: 30_000)
        try! k.trust("station-1", key: station.publicKey)
        return k
    }

    @Test func acceptsATrustedFreshSignedEnvelope() throws {
        let bytes = station.seal(.ping(nonce: 1), requestID: .random(), timestamp: 1_000_000)
        #expect(try keyring.open(bytes, now: 1_000_000 + 29_999).sender == "station-1")
        #expect(try keyring.open(bytes, now: 1_000_000 - 29_999).sender == "station-1")
    }

    @Test func rejectsUnknownSigner() {
        let bytes = stranger.seal(.ping(nonce: 1), requestID: .random(), timestamp: 1_000)
        #expect(throws: EnvelopeError.unknownSigner("station-9")) { try keyring.open(bytes, now: 1_000) }
    }

    @Test func rejectsSignatureByAnotherKeyUnderATrustedName() {
        let bytes = impostor.seal(.ping(nonce: 1), requestID: .random(), timestamp: 1_000)
        #expect(throws: EnvelopeError.badSignature(sender: "station-1")) { try keyring.open(bytes, now: 1_000) }
    }

    @Test func rejectsAnyTamperedByte() {
        let bytes = station.seal(.delete(DeleteRequest(iin: WireFixtures.iin(4), reason: "r")), requestID: .random(), timestamp: 1_000)
        // Flip one bit in every byte position after the sender name; each must be refused.
        var refused = 0
        for i in 32..<bytes.count {
            var t = bytes
            t[i] ^= 0x01
            if (try? keyring.open(t, now: 1_000)) == nil { refused += 1 }
        }
        #expect(refused == bytes.count - 32)
    }

    @Test func rejectsReplayedStaleEnvelope() {
        let bytes = station.seal(.ping(nonce: 1), requestID: .random(), timestamp: 1_000_000)
        #expect(throws: EnvelopeError.stale(timestamp: 1_000_000, now: 1_030_001, windowMilliseconds: 30_000)) {
            try keyring.open(bytes, now: 1_030_001)
        }
        // From the future, too (a clock far ahead is as untrustworthy as a replay).
        #expect(throws: EnvelopeError.self) { try keyring.open(bytes, now: 969_999) }
        // Extreme timestamps must not overflow the skew computation.
        let far = station.seal(.ping(nonce: 1), requestID: .random(), timestamp: Int64.min)
        #expect(throws: EnvelopeError.self) { try keyring.open(far, now: Int64.max) }
    }

    @Test func revokedSignerIsUnknown() {
        var k = keyring
        k.revoke("station-1")
        let bytes = station.seal(.status, requestID: .random(), timestamp: 0)
        #expect(throws: EnvelopeError.unknownSigner("station-1")) { try k.open(bytes, now: 0) }
    }

    @Test func answersMustComeFromThePeerAskedAndMatchTheRequest() throws {
        var k = keyring
        try k.trust("station-9", key: stranger.publicKey)
        let id = RequestID.random()
        let answer = stranger.seal(.pong(nonce: 1, uptimeMilliseconds: 2), requestID: id, timestamp: 0)
        #expect(throws: EnvelopeError.unexpectedSender(expected: "station-1", found: "station-9")) {
            try k.openAnswer(answer, from: "station-1", to: id, now: 0)
        }
        #expect(throws: EnvelopeError.requestIDMismatch) { try k.openAnswer(answer, from: "station-9", to: .random(), now: 0) }
        #expect(try k.openAnswer(answer, from: "station-9", to: id, now: 0).requestID == id)
    }

    @Test func nodeNamesAreRestricted() {
        #expect(NodeName.isValid("worker-01.dc_2"))
        #expect(!NodeName.isValid(""))
        #expect(!NodeName.isValid("a b"))
        #expect(!NodeName.isValid("../etc/passwd"))
        #expect(!NodeName.isValid(String(repeating: "a", count: 65)))
    }
}
