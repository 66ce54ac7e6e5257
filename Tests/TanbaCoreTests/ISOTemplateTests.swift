import Testing
@testable import TanbaCore

@Suite struct ISOTemplateTests {
    @Test func decodesHandBuiltRecordFieldByField() throws {
        let record = try TemplateCodec.decode(Fixtures.iso, as: .iso19794_2_2005)
        #expect(record == Fixtures.isoRecord)
        #expect(record.captureEquipmentFlags == 0x1)
        #expect(record.captureDeviceTypeID == 0x234)
        #expect(record.productOwner == 0 && record.productType == 0)
    }

    @Test func reencodesToIdenticalBytes() throws {
        let record = try TemplateCodec.decode(Fixtures.iso)
        #expect(try TemplateCodec.encode(record, as: .iso19794_2_2005) == Fixtures.iso)
    }

    @Test func tenPrintRoundTrips() throws {
        let tenPrint = Fixtures.tenPrint()
        let bytes = try TemplateCodec.encode(tenPrint, as: .iso19794_2_2005)
        #expect(bytes.count == 24 + 10 * (4 + 30 * 6 + 2))
        #expect(Fixtures.be32(bytes, 8) == bytes.count)
        #expect(bytes[22] == 10)
        let decoded = try TemplateCodec.decode(bytes)
        #expect(decoded.views.map(\.position) == FingerPosition.tenPrint)
        // ISO has no CBEFF product identifier; everything else survives.
        var expected = tenPrint
        expected.productOwner = 0
        expected.productType = 0
        #expect(decoded == expected)
        #expect(try TemplateCodec.encode(decoded, as: .iso19794_2_2005) == bytes)
    }

    @Test func recordHeaderTakesLargestSizeAndFirstResolution() throws {
        let small = FingerTemplate(position: .rightThumb, width: 300, height: 600, resolutionX: 197, resolutionY: 190,
                                   minutiae: [Minutia(x: 1, y: 2, angle: 3, kind: .ridgeEnding, quality: 4)])
        let large = FingerTemplate(position: .leftThumb, width: 500, height: 400, resolutionX: 250, resolutionY: 250,
                                   minutiae: [])
        let bytes = try TemplateCodec.encode(FingerprintRecord(views: [small, large]), as: .iso19794_2_2005)
        #expect(Fixtures.be16(bytes, 14) == 500)   // width: the larger of 300 and 500
        #expect(Fixtures.be16(bytes, 16) == 600)   // height: the larger of 600 and 400
        #expect(Fixtures.be16(bytes, 18) == 197)   // resolution: the first view's
        #expect(Fixtures.be16(bytes, 20) == 190)
        let decoded = try TemplateCodec.decode(bytes)
        for view in decoded.views {
            #expect((view.width, view.height, view.resolutionX, view.resolutionY) == (500, 600, 197, 190))
        }
        #expect(decoded.views.map(\.minutiae) == [small.minutiae, []])
    }

    @Test func viewNumbersCountViewsOfEachFinger() throws {
        let view = { (p: FingerPosition) in FingerTemplate(position: p, width: 10, height: 10, minutiae: []) }
        let record = FingerprintRecord(views: [view(.rightThumb), view(.leftThumb), view(.rightThumb), view(.rightThumb)])
        let bytes = try TemplateCodec.encode(record, as: .iso19794_2_2005)
        // Each empty view is 6 bytes from offset 24; byte 1 of each holds view number | impression.
        #expect([bytes[25], bytes[31], bytes[37], bytes[43]] == [0x00, 0x00, 0x10, 0x20])
        #expect(try TemplateCodec.decode(bytes) == record)
    }

    @Test func skipsExtendedDataWithinTheRecord() throws {
        // The fixture's first view with a 6-byte extended data block: one ridge-count area
        // (type 0x0001, length 6 including its 4-byte header, 2 bytes of data).
        var bytes = Fixtures.iso
        let firstViewExtension = 24 + 4 + 3 * 6
        bytes.replaceSubrange(firstViewExtension..<firstViewExtension + 2,
                              with: [0x00, 0x06, 0x00, 0x01, 0x00, 0x06, 0xAB, 0xCD])
        bytes[11] += 6   // record length 66
        #expect(try TemplateCodec.decode(bytes) == Fixtures.isoRecord)

        // An extended block that claims more than the record holds is refused.
        bytes[firstViewExtension + 1] = 0x40
        #expect(throws: TemplateFormatError.self) { try TemplateCodec.decode(bytes, as: .iso19794_2_2005) }
    }

    @Test func acceptsZeroPaddingButNotOtherTrailingBytes() throws {
        // Quirk of SourceAFIS's iso-*.dat: the record is followed by zeros up to 384 bytes.
        let padded = Fixtures.iso + [UInt8](repeating: 0, count: 100)
        #expect(try TemplateCodec.decode(padded) == Fixtures.isoRecord)
        let garbage = Fixtures.iso + [0, 0, 7]
        #expect(throws: TemplateFormatError.trailingBytes(offset: 60, count: 3)) {
            try TemplateCodec.decode(garbage, as: .iso19794_2_2005)
        }
    }

    @Test func reportsWhatAndWhereForBadFields() {
        var position = Fixtures.iso
        position[24] = 11   // not a finger position code of ISO 19794-2:2005 (0...10)
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 finger position", value: 11, offset: 24)) {
            try TemplateCodec.decode(position)
        }
        var impression = Fixtures.iso
        impression[25] = 0x04   // impression type 4 is reserved
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 impression type", value: 4, offset: 25)) {
            try TemplateCodec.decode(impression)
        }
        var type = Fixtures.iso
        type[28] |= 0xC0    // minutia type 11 is reserved
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 type", value: 3, offset: 28)) {
            try TemplateCodec.decode(type)
        }
        var quality = Fixtures.iso
        quality[33] = 101
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 quality", value: 101, offset: 33)) {
            try TemplateCodec.decode(quality)
        }
        var version = Fixtures.iso
        version[4...7] = [0x30, 0x33, 0x30, 0x00]   // ISO/IEC 19794-2:2011's "030"
        #expect(throws: TemplateFormatError.unsupportedVersion(found: [0x30, 0x33, 0x30, 0x00], offset: 4)) {
            try TemplateCodec.decode(version)
        }
        #expect(throws: TemplateFormatError.badMagic(found: [0x46, 0x49, 0x52, 0x00])) {
            try TemplateCodec.decode([0x46, 0x49, 0x52, 0x00] + Fixtures.iso.dropFirst(4))
        }
    }

    @Test func lengthFieldMustMatchTheContent() {
        // Cut short: the length field still says 60.
        #expect(throws: TemplateFormatError.lengthMismatch(declared: 60, actual: 59, offset: 8)) {
            try TemplateCodec.decode(Array(Fixtures.iso.dropLast()), as: .iso19794_2_2005)
        }
        // Length field adjusted to a cut record: the second view's minutia runs out of bytes.
        var cut = Array(Fixtures.iso.prefix(52))
        cut[11] = 52
        #expect(throws: TemplateFormatError.truncated(offset: 52, needed: 8, available: 0)) {
            try TemplateCodec.decode(cut, as: .iso19794_2_2005)
        }
        // Views end before the declared length.
        var long = Fixtures.iso + [0xEE]
        long[11] = 61
        #expect(throws: TemplateFormatError.lengthMismatch(declared: 61, actual: 60, offset: 8)) {
            try TemplateCodec.decode(long, as: .iso19794_2_2005)
        }
    }

    @Test func refusesToEncodeWhatDoesNotFit() throws {
        func record(_ m: Minutia, quality: UInt8 = 0) -> FingerprintRecord {
            FingerprintRecord(views: [FingerTemplate(width: 10, height: 10, quality: quality, minutiae: [m])])
        }
        // The first minutia's x goes at byte 28, y at 30, quality at 33.
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 x (14 bits)", value: 16384, offset: 28)) {
            try TemplateCodec.encode(record(Minutia(x: 16384, y: 0, angle: 0, kind: .other, quality: 0)), as: .iso19794_2_2005)
        }
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 y (14 bits)", value: 65535, offset: 30)) {
            try TemplateCodec.encode(record(Minutia(x: 0, y: 65535, angle: 0, kind: .other, quality: 0)), as: .iso19794_2_2005)
        }
        // ANSI's header is two bytes longer (26), so the same y would go at byte 32.
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 y (14 bits)", value: 65535, offset: 32)) {
            try TemplateCodec.encode(record(Minutia(x: 0, y: 65535, angle: 0, kind: .other, quality: 0)), as: .ansi378_2004)
        }
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 quality", value: 101, offset: 33)) {
            try TemplateCodec.encode(record(Minutia(x: 0, y: 0, angle: 0, kind: .other, quality: 101)), as: .iso19794_2_2005)
        }
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 finger quality", value: 200, offset: 26)) {
            try TemplateCodec.encode(record(Minutia(x: 0, y: 0, angle: 0, kind: .other, quality: 0), quality: 200), as: .iso19794_2_2005)
        }
        let crowded = FingerprintRecord(views: [FingerTemplate(width: 10, height: 10, minutiae: Array(
            repeating: Minutia(x: 1, y: 1, angle: 1, kind: .ridgeEnding, quality: 1), count: 256))])
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia count", value: 256, offset: 27)) {
            try TemplateCodec.encode(crowded, as: .iso19794_2_2005)
        }
        let manyViews = FingerprintRecord(views: Array(repeating: FingerTemplate(width: 1, height: 1, minutiae: []), count: 256))
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "number of finger views", value: 256, offset: 22)) {
            try TemplateCodec.encode(manyViews, as: .iso19794_2_2005)
        }
        let seventeen = FingerprintRecord(views: Array(
            repeating: FingerTemplate(position: .leftRing, width: 1, height: 1, minutiae: []), count: 17))
        #expect(throws: TemplateFormatError.self) { try TemplateCodec.encode(seventeen, as: .iso19794_2_2005) }
        // Sixteen views of one finger (view numbers 0...15) are fine.
        #expect(try TemplateCodec.encode(FingerprintRecord(views: Array(seventeen.views.prefix(16))), as: .iso19794_2_2005).count == 24 + 16 * 6)
    }

    @Test func errorDescriptionsSayWhatAndWhere() {
        let error = TemplateFormatError.valueOutOfRange(field: "view 0 finger position", value: 11, offset: 24)
        #expect(error.description == "view 0 finger position = 11 is out of range (byte 24)")
        #expect(TemplateFormatError.truncated(offset: 50, needed: 8, available: 0).description
                == "template truncated at byte 50: needed 8 bytes, only 0 left")
        #expect(TemplateFormatError.badMagic(found: [0x89, 0x50]).description.contains("89 50"))
        #expect(TemplateFormatError.lengthMismatch(declared: 61, actual: 60, offset: 8).description
                == "record length field at byte 8 declares 61 bytes, but the record occupies 60")
        #expect(TemplateFormatError.checksumMismatch(stored: 0xAB, computed: 0xCBF4_3926).description
                .contains("stored 0x000000AB, computed 0xCBF43926"))
        #expect(TemplateFormatError.oversized(size: 2_000_000, limit: 1 << 20).description
                == "template of 2000000 bytes exceeds the 1048576-byte limit")
    }
}
