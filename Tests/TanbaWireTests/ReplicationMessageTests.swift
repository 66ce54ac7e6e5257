import TanbaTestSupport
import Testing
@testable import TanbaWire

@Suite struct ReplicationMessageTests {
    @Test func everyTruncationIsATypedError() throws {
        for message in WireFixtures.replicationMessages {
            let body = message.encodedBody()
            #expect(try WireMessage.decode(type: message.type, payload: body) == message)
            for cut in 0..<body.count {
                #expect(throws: DecodeError.self) { try WireMessage.decode(type: message.type, payload: Array(body[..<cut])) }
            }
            #expect(throws: DecodeError.trailingBytes(count: 1)) { try WireMessage.decode(type: message.type, payload: body + [0]) }
        }
    }

    @Test func entriesOfOneMessageMustBeConsecutive() throws {
        let hash = [UInt8](repeating: 1, count: 32)
        let body = WireMessage.replication(.replicate([ReplicatedEntry(seq: 5, hash: hash, changeset: [1]),
                                                       ReplicatedEntry(seq: 7, hash: hash, changeset: [2])])).encodedBody()
        #expect(throws: DecodeError.invalidValue(field: "seq", reason: "entries of one message must be consecutive")) {
            try WireMessage.decode(type: .replicate, payload: body)
        }
        // A forged count cannot make the decoder reserve memory for entries that are not there.
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .replicate, payload: [0xFF, 0x0F]) }
        #expect(throws: DecodeError.self) {
            try WireMessage.decode(type: .replicateKeys, payload: [UInt8](repeating: 0, count: 20) + [0xFF, 0xFF, 0xFF, 0xFF])
        }
    }

    @Test func randomMutationsNeverCrashTheDecoder() {
        var rng = SplitMix64(seed: 44)
        for message in WireFixtures.replicationMessages {
            let body = message.encodedBody()
            for _ in 0..<2_000 {
                var mutated = body
                for _ in 0..<(1 + Int(rng.next() % 4)) where !mutated.isEmpty {
                    mutated[Int(rng.next() % UInt64(mutated.count))] = rng.byte()
                }
                _ = try? WireMessage.decode(type: message.type, payload: mutated)
            }
        }
    }
}
