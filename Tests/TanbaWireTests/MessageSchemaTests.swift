import Crypto
import TanbaCore
import TanbaTestSupport
import Testing
@testable import TanbaWire

@Suite struct MessageSchemaTests {
    let station = WireFixtures.identity("station-1", seed: 1)

    @Test func everyMessageRoundTripsThroughASignedEnvelope() throws {
        var keyring = Keyring()
        try keyring.trust("station-1", key: station.publicKey)
        #expect(Set(WireFixtures.allMessages.map(\.type)) == Set(MessageType.allCases))
        for message in WireFixtures.allMessages {
            let id = RequestID.random()
            let bytes = station.seal(message, requestID: id, timestamp: 1_700_000_000_000)
            let envelope = try keyring.open(bytes, now: 1_700_000_000_500)
            #expect(envelope.requestID == id)
            #expect(envelope.sender == "station-1")
            #expect(envelope.type == message.type)
            #expect(try envelope.message() == message)
        }
    }

    @Test func envelopeLayoutIsAsDocumented() throws {
        let id = RequestID(high: 0x0102_0304_0506_0708, low: 0x1112_1314_1516_1718)
        let bytes = station.seal(.ping(nonce: 0xAABB), requestID: id, timestamp: 0x0000_0180_0000_0001)
        #expect(Array(bytes[0..<4]) == Array("TNBW".utf8))
        #expect(bytes[4] == 1)                               // version
        #expect(bytes[5] == 0x06)                            // PING
        #expect(Array(bytes[6..<14]) == [8, 7, 6, 5, 4, 3, 2, 1])          // high, little-endian
        #expect(Array(bytes[14..<22]) == [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11])
        #expect(bytes[22] == 9)                              // "station-1"
        #expect(Array(bytes[23..<32]) == Array("station-1".utf8))
        #expect(Array(bytes[32..<40]) == [1, 0, 0, 0, 0x80, 1, 0, 0])      // timestamp
        #expect(Array(bytes[40..<44]) == [8, 0, 0, 0])                     // payload length
        #expect(Array(bytes[44..<52]) == [0xBB, 0xAA, 0, 0, 0, 0, 0, 0])   // nonce
        #expect(bytes.count == 52 + 64)
        #expect(station.publicKey.isValidSignature(bytes[52...], for: bytes[..<52]))
    }

    @Test func decoderErrorsAreTyped() throws {
        let good = station.seal(.status, requestID: .random(), timestamp: 5)
        #expect(throws: DecodeError.badMagic) { try Envelope.decode(Array("HTTP/1.1 200 OK".utf8)) }
        var badVersion = good; badVersion[4] = 4   // versions 1 to 3 are spoken
        #expect(throws: DecodeError.unsupportedVersion(4)) { try Envelope.decode(badVersion) }
        badVersion[4] = 0
        #expect(throws: DecodeError.unsupportedVersion(0)) { try Envelope.decode(badVersion) }
        var badType = good; badType[5] = 0x42
        #expect(throws: DecodeError.unknownMessageType(0x42)) { try Envelope.decode(badType) }
        #expect(throws: DecodeError.truncated(field: "signature", offset: good.count - 64)) {
            try Envelope.decode(Array(good.dropLast()))
        }
        #expect(throws: DecodeError.trailingBytes(count: 1)) { try Envelope.decode(good + [0]) }
        let huge = [UInt8](repeating: 0, count: WireLimits.maximumMessage + 1)
        #expect(throws: DecodeError.oversized(field: "message", size: huge.count, limit: WireLimits.maximumMessage)) {
            try Envelope.decode(huge)
        }
        // A payload length claiming more than the limit is refused before anything is read.
        var claim = good
        let p = 23 + 9 + 8
        claim.replaceSubrange(p..<(p + 4), with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: DecodeError.oversized(field: "payload", size: 0x7FFF_FFFF, limit: WireLimits.maximumPayload)) {
            try Envelope.decode(claim)
        }
    }

    @Test func bodyValidationRejectsBadValues() {
        // top-K 0
        var w = WireWriter(); w.record(WireFixtures.record(fingers: [.rightThumb])); w.u16(0); w.f64(0)
        #expect(throws: DecodeError.invalidValue(field: "top-K", reason: "0 not in 1…1000")) {
            try WireMessage.decode(type: .identify, payload: w.bytes)
        }
        // Duplicate positions and non-finger positions are refused; so is an empty probe.
        let dup = WireFixtures.record(fingers: [.rightThumb, .rightThumb])
        w = WireWriter(); w.record(dup); w.u16(5); w.f64(0)
        #expect(throws: DecodeError.invalidValue(field: "probe", reason: "finger position 1 appears twice")) {
            try WireMessage.decode(type: .identify, payload: w.bytes)
        }
        w = WireWriter(); w.record(WireFixtures.record(fingers: [.unknown])); w.u16(5); w.f64(0)
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .identify, payload: w.bytes) }
        w = WireWriter(); w.record(FingerprintRecord(views: [])); w.u16(5); w.f64(0)
        #expect(throws: DecodeError.invalidValue(field: "probe", reason: "0 finger views, expected 1…10")) {
            try WireMessage.decode(type: .identify, payload: w.bytes)
        }
        // Partial flag contradicting the missing list.
        var v = WireWriter(); v.bool(true); v.bool(true); v.shards([1]); v.shards([])
        #expect(throws: DecodeError.invalidValue(field: "partial flag", reason: "disagrees with the missing-shard list")) {
            try WireMessage.decode(type: .deleteAnswer, payload: v.bytes)
        }
        // A bad IIN check digit.
        v = WireWriter(); v.raw(Array("850417600001".utf8)); v.text("x")
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .delete, payload: v.bytes) }
        // NaN score.
        v = WireWriter(); v.u32(1); v.u32(Float.nan.bitPattern)
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .verifyAnswer, payload: v.bytes) }
    }

    @Test func forgedCountsCannotReserveMemory() {
        // 65535 candidates claimed in a 10-byte body: refused by the limit, not attempted.
        var w = WireWriter(); w.u16(1000); w.raw([UInt8](repeating: 0, count: 8))
        #expect(throws: DecodeError.truncated(field: "candidate count", offset: 2)) {
            try WireMessage.decode(type: .identifyAnswer, payload: w.bytes)
        }
        w = WireWriter(); w.u16(60000)
        #expect(throws: DecodeError.oversized(field: "candidate count", size: 60000, limit: 1000)) {
            try WireMessage.decode(type: .identifyAnswer, payload: w.bytes)
        }
    }

    /// Random bytes, random truncations and random byte mutations of valid messages: every
    /// decode either succeeds or throws a DecodeError — it never crashes or hangs.
    @Test func fuzzDecodersNeverCrash() throws {
        var rng = SplitMix64(seed: 20261121)
        var keyring = Keyring(windowMilliseconds: Int64.max)
        try keyring.trust("station-1", key: station.publicKey)
        let valid = WireFixtures.allMessages.map { station.seal($0, requestID: .random(), timestamp: 1) }
        var accepted = 0, rejected = 0
        func exercise(_ bytes: [UInt8]) {
            if let envelope = try? Envelope.decode(bytes) {
                if (try? envelope.message()) != nil { accepted += 1 } else { rejected += 1 }
            } else {
                rejected += 1
            }
            _ = try? keyring.open(bytes, now: 1)
            for type in MessageType.allCases { _ = try? WireMessage.decode(type: type, payload: bytes) }
        }
        for _ in 0..<3000 {
            exercise(rng.bytes(Int(rng.next() % 300)))
        }
        for _ in 0..<4000 {
            var bytes = valid[Int(rng.next() % UInt64(valid.count))]
            switch rng.next() % 3 {
            case 0: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 1:
                for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = rng.byte() }
            default:
                // Mutate inside the payload and re-frame it, so the body decoders see it.
                var envelope = try Envelope.decode(bytes)
                if !envelope.payload.isEmpty {
                    envelope.payload[Int(rng.next() % UInt64(envelope.payload.count))] = rng.byte()
                }
                for type in MessageType.allCases { _ = try? WireMessage.decode(type: type, payload: envelope.payload) }
                bytes = envelope.encoded()
            }
            exercise(bytes)
        }
        // Valid frames still decode, so the loop exercised both paths.
        for bytes in valid { #expect((try? Envelope.decode(bytes).message()) != nil) }
        #expect(rejected > 1000)
    }
}
