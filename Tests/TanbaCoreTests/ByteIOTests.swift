import Testing
@testable import TanbaCore

@Suite struct ByteIOTests {
    @Test(arguments: [ByteOrder.bigEndian, .littleEndian])
    func writerAndReaderAgree(order: ByteOrder) throws {
        var writer = ByteWriter(order: order)
        writer.u8(0xAB)
        writer.u16(0x1234)
        writer.u32(0xDEAD_BEEF)
        writer.append([1, 2, 3])
        #expect(writer.offset == 10)
        #expect(Array(writer.bytes[1...2]) == (order == .bigEndian ? [0x12, 0x34] : [0x34, 0x12]))
        #expect(Array(writer.bytes[3...6]) == (order == .bigEndian ? [0xDE, 0xAD, 0xBE, 0xEF] : [0xEF, 0xBE, 0xAD, 0xDE]))

        var reader = ByteReader(writer.bytes, order: order)
        #expect(try reader.u8() == 0xAB)
        #expect(try reader.u16() == 0x1234)
        #expect(try reader.u32() == 0xDEAD_BEEF)
        #expect(try reader.raw(3) == [1, 2, 3])
        #expect(reader.remaining == 0)
    }

    @Test func readsPastTheEndThrowWithTheOffset() throws {
        var reader = ByteReader([1, 2, 3, 4, 5], order: .bigEndian)
        try reader.skip(2)
        #expect(throws: TemplateFormatError.truncated(offset: 2, needed: 4, available: 3)) { try reader.u32() }
        #expect(reader.offset == 2)   // a failed read consumes nothing
        #expect(throws: TemplateFormatError.truncated(offset: 2, needed: -1, available: 3)) { try reader.require(-1) }
        #expect(throws: TemplateFormatError.truncated(offset: 2, needed: Int.max, available: 3)) { try reader.skip(Int.max) }
    }

    @Test func limitBoundsReadsAndNeverWidens() throws {
        var reader = ByteReader([1, 2, 3, 4, 5, 6], order: .littleEndian)
        reader.limit(to: 3)
        #expect(try reader.u16() == 0x0201)
        #expect(throws: TemplateFormatError.truncated(offset: 2, needed: 2, available: 1)) { try reader.u16() }
        reader.limit(to: 6)
        #expect(reader.remaining == 1)
        reader.limit(to: 0)          // below the cursor: nothing left, but no negative room
        #expect(reader.remaining == 0)
    }
}
