import Testing
@testable import TanbaCore

@Suite struct ANSITemplateTests {
    @Test func decodesHandBuiltRecordFieldByField() throws {
        let record = try TemplateCodec.decode(Fixtures.ansi, as: .ansi378_2004)
        #expect(record == Fixtures.ansiRecord)
        #expect(record.captureEquipmentFlags == 0x8)
        #expect(record.captureDeviceTypeID == 1)
    }

    @Test func reencodesToIdenticalBytes() throws {
        // ANSI → ISO units → ANSI is exact, so a canonical ANSI record comes back unchanged.
        let record = try TemplateCodec.decode(Fixtures.ansi)
        #expect(try TemplateCodec.encode(record, as: .ansi378_2004) == Fixtures.ansi)
    }

    @Test func angleConversionRoundsToNearest() {
        // 2-degree units to 256ths of a turn and back, checked on known values.
        #expect(MinutiaeRecordCodec.isoAngle(ansi: 0) == 0)
        #expect(MinutiaeRecordCodec.isoAngle(ansi: 45) == 64)       // 90°
        #expect(MinutiaeRecordCodec.isoAngle(ansi: 90) == 128)      // 180°
        #expect(MinutiaeRecordCodec.isoAngle(ansi: 1) == 1)         // 2° → 1.42 units
        #expect(MinutiaeRecordCodec.isoAngle(ansi: 179) == 255)     // 358° → 254.58 units
        #expect(MinutiaeRecordCodec.isoAngle(ansi: 180) == nil)     // 360° is not a code
        #expect(MinutiaeRecordCodec.ansiAngle(iso: 64) == 45)
        #expect(MinutiaeRecordCodec.ansiAngle(iso: 255) == 179)     // 358.6° → 179.3 units
        #expect(MinutiaeRecordCodec.ansiAngle(iso: 3) == 2)         // 4.2° → 2.11 units
    }

    @Test func angleRoundTripPrecisionIsAsDocumented() throws {
        // Every ANSI code survives ANSI → ISO → ANSI.
        for ansi in UInt8(0)..<180 {
            let iso = try #require(MinutiaeRecordCodec.isoAngle(ansi: ansi))
            #expect(MinutiaeRecordCodec.ansiAngle(iso: iso) == ansi)
        }
        // ISO → ANSI → ISO: exact for 180 values, one unit (1.40625°) off for the other 76.
        var off = 0
        for iso in 0...255 {
            let ansi = MinutiaeRecordCodec.ansiAngle(iso: UInt8(iso))
            #expect(ansi < 180)
            let back = try #require(MinutiaeRecordCodec.isoAngle(ansi: ansi))
            let d = abs(Int(back) - iso)
            #expect(min(d, 256 - d) <= 1)
            if d != 0 { off += 1 }
        }
        #expect(off == 76)
    }

    @Test func tenPrintRoundTripsWithinAnglePrecision() throws {
        let tenPrint = Fixtures.tenPrint()
        let bytes = try TemplateCodec.encode(tenPrint, as: .ansi378_2004)
        #expect(bytes.count == 26 + 10 * (4 + 30 * 6 + 2))
        #expect(Fixtures.be16(bytes, 8) == bytes.count)
        #expect(Fixtures.be16(bytes, 10) == 0x1B && Fixtures.be16(bytes, 12) == 0x2)   // CBEFF product ID
        let decoded = try TemplateCodec.decode(bytes)
        #expect(decoded.productOwner == 0x1B && decoded.productType == 0x2 && decoded.captureDeviceID == 0x0ABC)
        #expect(decoded.views.count == 10)
        for (got, sent) in zip(decoded.views, tenPrint.views) {
            #expect(got.position == sent.position && got.impression == sent.impression && got.quality == sent.quality)
            #expect(got.minutiae.count == sent.minutiae.count)
            for (g, s) in zip(got.minutiae, sent.minutiae) {
                #expect(g.x == s.x && g.y == s.y && g.kind == s.kind && g.quality == s.quality)
                let d = abs(Int(g.angle) - Int(s.angle))
                #expect(min(d, 256 - d) <= 1, "angle \(s.angle) came back as \(g.angle)")
            }
        }
        // Once in ANSI's grid, a record is stable.
        #expect(try TemplateCodec.encode(decoded, as: .ansi378_2004) == bytes)
    }

    @Test func recordsOver64KiBUseTheLongLengthForm() throws {
        let view = FingerTemplate(position: .rightMiddle, width: 400, height: 400, minutiae: (0..<255).map {
            Minutia(x: UInt16($0), y: UInt16(400 - $0), angle: UInt8($0), kind: .ridgeEnding, quality: 0)
        })
        // 50 views over the 11 position codes: at most 5 views of any finger (ISO allows 16).
        let views = (0..<50).map { i in
            var v = view
            v.position = FingerPosition.allCases[i % FingerPosition.allCases.count]
            return v
        }
        let record = FingerprintRecord(views: views, productOwner: 7)
        let bytes = try TemplateCodec.encode(record, as: .ansi378_2004)
        #expect(bytes.count == 30 + 50 * (4 + 255 * 6 + 2))
        #expect(bytes.count > 65535)
        #expect(Fixtures.be16(bytes, 8) == 0)                 // escape: 2-byte length 0 …
        #expect(Fixtures.be32(bytes, 10) == bytes.count)      // … then the 4-byte length
        #expect(Fixtures.be16(bytes, 14) == 7)                // CBEFF owner follows it
        #expect(TemplateCodec.detect(bytes) == .ansi378_2004)
        let decoded = try TemplateCodec.decode(bytes)
        #expect(decoded.views.count == 50 && decoded.productOwner == 7)
        #expect(try TemplateCodec.encode(decoded, as: .ansi378_2004) == bytes)
    }

    @Test func longLengthFormIsAcceptedForSmallRecordsToo() throws {
        // Not what a writer should do below 64 KiB, but the layout is unambiguous.
        var long = Array(Fixtures.ansi[0..<8])
        long += [0x00, 0x00]                 // 2-byte length 0: the 4-byte length follows
        long += [0x00, 0x00, 0x00, 0x30]     // record length 48 = 44 + 4
        long += Fixtures.ansi[10...]
        #expect(TemplateCodec.detect(long) == .ansi378_2004)
        #expect(try TemplateCodec.decode(long) == Fixtures.ansiRecord)
    }

    @Test func rejectsAnglesBeyond358Degrees() {
        var bytes = Fixtures.ansi
        bytes[34] = 180   // first minutia's angle byte: 26 + 4 + 4
        #expect(throws: TemplateFormatError.valueOutOfRange(
            field: "view 0 minutia 0 angle (2-degree units, 0...179)", value: 180, offset: 34)) {
            try TemplateCodec.decode(bytes)
        }
    }

    @Test func wrongDialectIsRefusedByTheLengthField() {
        // Read as ISO, the ANSI length 44 and CBEFF owner 0x33 form the 4-byte length 0x002C0033.
        #expect(throws: TemplateFormatError.lengthMismatch(declared: 0x002C_0033, actual: 44, offset: 8)) {
            try TemplateCodec.decode(Fixtures.ansi, as: .iso19794_2_2005)
        }
        // Read as ANSI, the ISO length's zero top half selects the long form: 0x003C1234.
        #expect(throws: TemplateFormatError.lengthMismatch(declared: 0x003C_1234, actual: 60, offset: 8)) {
            try TemplateCodec.decode(Fixtures.iso, as: .ansi378_2004)
        }
    }
}
