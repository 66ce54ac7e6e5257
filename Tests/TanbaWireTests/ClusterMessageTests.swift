import TanbaCore
import TanbaTestSupport
import Testing
@testable import TanbaWire

/// The cluster-internal messages (worker shard operations, admin): round trip, the answer
/// convention, every truncation and random payload mutations.
@Suite struct ClusterMessageTests {
    @Test func clusterMessagesRoundTripAndFollowTheAnswerConvention() throws {
        for message in WireFixtures.clusterMessages {
            let decoded = try WireMessage.decode(type: message.type, payload: message.encodedBody())
            #expect(decoded == message)
        }
        let requests = WireFixtures.clusterMessages.map(\.type).filter(\.isRequest)
        for request in requests where request != .admin {
            #expect(MessageType(rawValue: request.rawValue | 0x80) != nil, "\(request) has an answer type")
        }
        #expect(MessageType(rawValue: MessageType.admin.rawValue | 0x80) == .adminAnswer)
    }

    @Test func everyTruncationOfAClusterBodyIsATypedError() {
        for message in WireFixtures.clusterMessages {
            let body = message.encodedBody()
            for cut in 0..<body.count {
                #expect(throws: DecodeError.self) { try WireMessage.decode(type: message.type, payload: Array(body.prefix(cut))) }
            }
            #expect(throws: DecodeError.trailingBytes(count: 1)) { try WireMessage.decode(type: message.type, payload: body + [0]) }
        }
    }

    @Test func badValuesAreRefused() {
        var w = WireWriter()
        w.u8(99); w.text(""); w.text("")
        #expect(throws: DecodeError.invalidValue(field: "action", reason: "unknown code 99")) {
            try WireMessage.decode(type: .admin, payload: w.bytes)
        }
        w = WireWriter()
        w.u8(1); w.text("bad name!"); w.text("x")
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .admin, payload: w.bytes) }
        // A load batch claiming more entries than allowed is refused before reading them.
        w = WireWriter()
        w.u64(1); w.u16(0); w.bool(false); w.bool(false); w.u16(60000)
        #expect(throws: DecodeError.oversized(field: "entry count", size: 60000, limit: ClusterLimits.maximumLoadBatch)) {
            try WireMessage.decode(type: .shardLoad, payload: w.bytes)
        }
    }

    @Test func fuzzClusterDecodersNeverCrash() {
        var rng = SplitMix64(seed: 33)
        let bodies = WireFixtures.clusterMessages.map { ($0.type, $0.encodedBody()) }
        var rejected = 0
        for _ in 0..<5000 {
            let (type, original) = bodies[Int(rng.next() % UInt64(bodies.count))]
            var body = original
            for _ in 0..<(1 + rng.next() % 3) where !body.isEmpty { body[Int(rng.next() % UInt64(body.count))] = rng.byte() }
            if (try? WireMessage.decode(type: type, payload: body)) == nil { rejected += 1 }
        }
        #expect(rejected > 100)
    }
}
