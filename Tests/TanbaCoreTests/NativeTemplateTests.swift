import Testing
@testable import TanbaCore

@Suite struct NativeTemplateTests {
    /// Values ISO/ANSI cannot carry: 16-bit coordinates, qualities above 100, per-view sizes.
    static let extreme = FingerprintRecord(
        views: [
            FingerTemplate(position: .leftLittle, impression: .liveScanContactless, width: 65535, height: 1,
                           resolutionX: 0, resolutionY: 65535, quality: 255,
                           minutiae: [
                            Minutia(x: 65535, y: 0, angle: 255, kind: .bifurcation, quality: 255),
                            Minutia(x: 0, y: 65535, angle: 0, kind: .other, quality: 0),
                            Minutia(x: 1234, y: 4321, angle: 77, kind: .ridgeEnding, quality: 101),
                            Minutia(x: 16384, y: 16384, angle: 128, kind: .bifurcation, quality: 7),
                            Minutia(x: 9, y: 9, angle: 9, kind: .ridgeEnding, quality: 9),
                           ]),
            FingerTemplate(position: .unknown, impression: .latent, width: 0, height: 0, minutiae: []),
            FingerTemplate(position: .rightThumb, impression: .swipe, width: 300, height: 400,
                           resolutionX: 197, resolutionY: 197, quality: 50,
                           minutiae: [Minutia(x: 1, y: 2, angle: 3, kind: .other, quality: 4)]),
        ],
        captureDeviceID: 0xFFFF, productOwner: 0xBEEF, productType: 0x0001)

    @Test func roundTripIsExact() throws {
        for record in [Self.extreme, Fixtures.tenPrint(), Fixtures.isoRecord, FingerprintRecord(views: [])] {
            let bytes = try TemplateCodec.encode(record, as: .native)
            #expect(TemplateCodec.detect(bytes) == .native)
            #expect(try TemplateCodec.decode(bytes) == record)
            #expect(try TemplateCodec.encode(try TemplateCodec.decode(bytes), as: .native) == bytes)
        }
    }

    @Test func layoutIsAsDocumented() throws {
        let record = FingerprintRecord(
            views: [FingerTemplate(position: .rightIndex, impression: .liveScanRolled, width: 0x0102, height: 0x0304,
                                   resolutionX: 197, resolutionY: 198, quality: 42,
                                   minutiae: [Minutia(x: 0x1122, y: 0x3344, angle: 0x55, kind: .bifurcation, quality: 0x66),
                                              Minutia(x: 0x0001, y: 0x0002, angle: 0x03, kind: .ridgeEnding, quality: 0x04)])],
            captureDeviceID: 0xA1B2, productOwner: 0xC3D4, productType: 0xE5F6)
        let bytes = try TemplateCodec.encode(record, as: .native)
        var expected: [UInt8] = []
        expected += [0x54, 0x4E, 0x42, 0x54]     // "TNBT"
        expected += [0x01]                       // version 1
        expected += [0xB2, 0xA1]                 // captureDeviceID, little-endian
        expected += [0xD4, 0xC3]                 // productOwner
        expected += [0xF6, 0xE5]                 // productType
        expected += [0x01, 0x00]                 // 1 view
        expected += [0x02, 0x01]                 // position 2, impression 1
        expected += [0x02, 0x01, 0x04, 0x03]     // width 0x0102, height 0x0304
        expected += [0xC5, 0x00, 0xC6, 0x00]     // resolution 197, 198
        expected += [0x2A]                       // quality 42
        expected += [0x02, 0x00]                 // 2 minutiae
        expected += [0x22, 0x11, 0x01, 0x00]     // x column
        expected += [0x44, 0x33, 0x02, 0x00]     // y column
        expected += [0x55, 0x03]                 // angle column
        expected += [0x66, 0x04]                 // quality column
        expected += [0b0000_0110]                // kinds: minutia 0 = 10 (bits 0–1), minutia 1 = 01 (bits 2–3)
        #expect(Array(bytes.dropLast(4)) == expected)
        let crc = CRC32.checksum(expected)
        #expect(Array(bytes.suffix(4)) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
    }

    @Test func sizeIsAboutSixBytesPerMinutia() throws {
        let bytes = try TemplateCodec.encode(Fixtures.tenPrint(perFinger: 40), as: .native)
        // 13-byte header + 4-byte CRC, then per view 13 bytes + 40 × 6 + 40 / 4.
        #expect(bytes.count == 17 + 10 * (13 + 240 + 10))
        // 400 minutiae in 2500 bytes after the fixed overheads: 6.25 each (ISO: 6).
        #expect(Double(bytes.count - 17 - 10 * 13) / 400 == 6.25)
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == CRC32.checkValue)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func everySingleByteCorruptionIsDetected() throws {
        let bytes = try TemplateCodec.encode(Self.extreme, as: .native)
        for i in bytes.indices {
            var damaged = bytes
            damaged[i] ^= 0x10
            #expect(throws: TemplateFormatError.self) { try TemplateCodec.decode(damaged) }
            if i >= 5 {   // past magic and version, the checksum is what catches it
                do {
                    _ = try TemplateCodec.decode(damaged, as: .native)
                } catch {
                    guard case .checksumMismatch = error else {
                        Issue.record("byte \(i): expected checksumMismatch, got \(error)")
                        continue
                    }
                }
            }
        }
    }

    @Test func refusesUnknownVersionAndStructuralLies() throws {
        var bytes = try TemplateCodec.encode(Self.extreme, as: .native)
        var future = bytes
        future[4] = 2
        #expect(throws: TemplateFormatError.unsupportedVersion(found: [2], offset: 4)) { try TemplateCodec.decode(future) }

        // Structurally wrong but correctly checksummed records are still refused.
        func resealed(_ body: [UInt8]) -> [UInt8] {
            let crc = CRC32.checksum(body)
            return body + [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
        }
        bytes.removeLast(4)
        #expect(throws: TemplateFormatError.trailingBytes(offset: bytes.count, count: 1)) {
            try TemplateCodec.decode(resealed(bytes + [0]))
        }
        var badKind = bytes
        let kindsOffset = 13 + 13 + 5 * 6   // first view's packed kinds
        badKind[kindsOffset] |= 0b11
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia 0 kind", value: 3, offset: kindsOffset)) {
            try TemplateCodec.decode(resealed(badKind))
        }
        var padding = bytes
        padding[kindsOffset + 1] |= 0b1000_0000   // 5 minutiae: bits 2–7 of the second byte are unused
        #expect(throws: TemplateFormatError.self) { try TemplateCodec.decode(resealed(padding)) }
        var position = bytes
        position[13] = 11
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 finger position", value: 11, offset: 13)) {
            try TemplateCodec.decode(resealed(position))
        }
    }

    @Test func refusesRecordsItCouldNotReadBack() {
        let huge = FingerprintRecord(views: [FingerTemplate(width: 1, height: 1, minutiae: Array(
            repeating: Minutia(x: 0, y: 0, angle: 0, kind: .other, quality: 0), count: 65536))])
        #expect(throws: TemplateFormatError.valueOutOfRange(field: "view 0 minutia count", value: 65536, offset: 24)) {
            try TemplateCodec.encode(huge, as: .native)
        }
        let tooBig = FingerprintRecord(views: Array(repeating: huge.views[0], count: 3))
        #expect(throws: TemplateFormatError.oversized(size: 17 + 3 * (13 + 6 * 65536 + 16384), limit: 1 << 20)) {
            try TemplateCodec.encode(tooBig, as: .native)
        }
    }
}
