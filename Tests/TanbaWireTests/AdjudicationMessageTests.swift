import TanbaCore
import Testing
@testable import TanbaWire

/// ADJUDICATE (0x0C) and its answer (0x8C): new types, version-1 envelopes, exact layouts.
@Suite struct AdjudicationMessageTests {
    @Test func everyActionRoundTripsAsVersionOneWithTheDocumentedLayout() throws {
        let iin = WireFixtures.iin(3)
        for message in [WireMessage.adjudicate(AdjudicateRequest(.accept(iin: iin, reason: "distinct ridge counts"), examiner: "exam-1")),
                        .adjudicate(AdjudicateRequest(.reject(iin: iin, reason: "same person"), examiner: "exam-1")),
                        .adjudicate(AdjudicateRequest(.list, examiner: "exam-1"))] {
            #expect(message.protocolVersion == 1)
            #expect(try WireMessage.decode(type: .adjudicate, payload: message.encodedBody()) == message)
        }
        // u8 action, iin, text reason, text examiner.
        var w = WireWriter()
        w.u8(2); w.iin(iin); w.text("same person"); w.text("exam-1")
        #expect(WireMessage.adjudicate(AdjudicateRequest(.reject(iin: iin, reason: "same person"), examiner: "exam-1")).encodedBody() == w.bytes)
        // list: u8 3, text examiner only.
        var l = WireWriter()
        l.u8(3); l.text("exam-1")
        #expect(WireMessage.adjudicate(AdjudicateRequest(.list, examiner: "exam-1")).encodedBody() == l.bytes)
        #expect(MessageType.adjudicate.rawValue == 0x0C && MessageType.adjudicateAnswer.rawValue == 0x8C)
    }

    @Test func badBodiesGetTypedErrors() throws {
        let body = WireMessage.adjudicate(AdjudicateRequest(.accept(iin: WireFixtures.iin(3), reason: "r"), examiner: "e")).encodedBody()
        var unknown = body
        unknown[0] = 9
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .adjudicate, payload: unknown) }
        for cut in [1, 5, body.count - 1] {
            #expect(throws: DecodeError.self) { try WireMessage.decode(type: .adjudicate, payload: Array(body.prefix(cut))) }
        }
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .adjudicate, payload: body + [0]) }
        // An answer claiming more items than its bytes can hold fails before allocating.
        var forged = WireWriter()
        forged.u8(3); forged.u32(1); forged.u16(1000)
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .adjudicateAnswer, payload: forged.bytes) }
        var outcome = WireWriter()
        outcome.u8(7); outcome.u32(0); outcome.u16(0); outcome.coverage(.none)
        #expect(throws: DecodeError.self) { try WireMessage.decode(type: .adjudicateAnswer, payload: outcome.bytes) }
    }
}
