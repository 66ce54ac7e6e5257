import Testing
@testable import TanbaCore

@Suite struct TemplateDetectionTests {
    @Test func detectsEachFormat() throws {
        #expect(TemplateCodec.detect(Fixtures.iso) == .iso19794_2_2005)
        #expect(TemplateCodec.detect(Fixtures.ansi) == .ansi378_2004)
        #expect(TemplateCodec.detect(try TemplateCodec.encode(Fixtures.isoRecord, as: .native)) == .native)
        #expect(try TemplateCodec.decode(Fixtures.iso) == Fixtures.isoRecord)
        #expect(try TemplateCodec.decode(Fixtures.ansi) == Fixtures.ansiRecord)
    }

    @Test func unknownOrTooShortInputIsNotDetected() {
        #expect(TemplateCodec.detect([]) == nil)
        #expect(TemplateCodec.detect(Array("FMR".utf8)) == nil)
        #expect(TemplateCodec.detect(Array(Fixtures.iso.prefix(11))) == nil)   // length field incomplete
        #expect(TemplateCodec.detect(Array("%PDF-1.7 hello".utf8)) == nil)
        #expect(throws: TemplateFormatError.truncated(offset: 0, needed: 4, available: 2)) { try TemplateCodec.decode([0x46, 0x4D]) }
        #expect(throws: TemplateFormatError.badMagic(found: Array("%PDF".utf8))) { try TemplateCodec.decode(Array("%PDF-1.7".utf8)) }
    }

    /// The four cases of the rule documented on `TemplateCodec.detect`, at their boundaries.
    @Test(arguments: [
        // (16-bit word at offset 8, word at offset 10, expected)
        (0x0000, 0x0018, TemplateFormat.iso19794_2_2005),   // ISO record of 24 bytes (the smallest)
        (0x0000, 0x0011, .iso19794_2_2005),                 // ISO length 17: refused later, but claims ISO
        (0x0000, 0x0010, .ansi378_2004),                    // ANSI long form, length 0x0010_xxxx ≤ 1 MiB
        (0x0000, 0x0000, .ansi378_2004),                    // ANSI long form, small record
        (0x0001, 0x0000, .iso19794_2_2005),                 // ISO record of 64 KiB
        (0x0010, 0x0000, .iso19794_2_2005),                 // ISO record of exactly 1 MiB
        (0x0011, 0x0000, .ansi378_2004),                    // would be an ISO record over 1 MiB
        (0x001A, 0x0000, .ansi378_2004),                    // ANSI record of 26 bytes (the smallest)
        (0xFFFF, 0xFFFF, .ansi378_2004),
    ])
    func lengthFieldDecidesBetweenISOAndANSI(a: Int, b: Int, expected: TemplateFormat) {
        let header = MinutiaeRecordCodec.magic + MinutiaeRecordCodec.version
            + [UInt8(a >> 8), UInt8(a & 0xFF), UInt8(b >> 8), UInt8(b & 0xFF)]
        #expect(TemplateCodec.detect(header) == expected)
    }

    @Test func isoRecordsOver64KiBAreStillISO() throws {
        // 50 views of 255 minutiae: 76,824 bytes, so the top half of the ISO length is 1.
        let view = FingerTemplate(width: 300, height: 300, minutiae: (0..<255).map {
            Minutia(x: UInt16($0), y: UInt16($0), angle: UInt8($0), kind: .bifurcation, quality: 0)
        })
        let views = (0..<50).map { i in
            var v = view
            v.position = FingerPosition.allCases[i % FingerPosition.allCases.count]
            return v
        }
        let bytes = try TemplateCodec.encode(FingerprintRecord(views: views), as: .iso19794_2_2005)
        #expect(bytes.count == 24 + 50 * 1536)
        #expect(bytes[9] == 1)
        #expect(TemplateCodec.detect(bytes) == .iso19794_2_2005)
        #expect(try TemplateCodec.decode(bytes).views == views)
    }

    @Test func explicitFormatOverridesDetection() throws {
        #expect(throws: TemplateFormatError.badMagic(found: MinutiaeRecordCodec.magic)) {
            try TemplateCodec.decode(Fixtures.iso, as: .native)
        }
        #expect(try TemplateCodec.decode(Fixtures.iso, as: .iso19794_2_2005) == Fixtures.isoRecord)
    }

    @Test func inputOverTheLimitIsRefusedBeforeParsing() {
        let limit = TemplateCodec.maximumRecordSize
        #expect(limit == 1_048_576)
        let big = Fixtures.iso + [UInt8](repeating: 0, count: limit)   // a valid record plus zero padding
        for format in [nil] + TemplateFormat.allCases.map(Optional.some) {
            #expect(throws: TemplateFormatError.oversized(size: big.count, limit: limit)) {
                try TemplateCodec.decode(big, as: format)
            }
        }
    }

    @Test func formatNamesAreStable() {
        #expect(TemplateFormat.allCases.map(\.rawValue) == ["iso", "ansi", "native"])
        #expect(TemplateFormat(rawValue: "ansi") == .ansi378_2004)
    }
}
