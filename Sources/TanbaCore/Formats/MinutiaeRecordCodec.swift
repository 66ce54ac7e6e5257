/// Reader and writer for the two "FMR" finger minutiae record standards, which share one
/// layout except for the header and the angle unit:
///
/// | field (bytes)                   | ISO/IEC 19794-2:2005 | ANSI INCITS 378-2004            |
/// |---------------------------------|----------------------|---------------------------------|
/// | format identifier (4)           | "FMR\0"              | "FMR\0"                         |
/// | version (4)                     | " 20\0"              | " 20\0"                         |
/// | record length                   | 4                    | 2, or 0x0000 then 4 (> 65535)   |
/// | CBEFF product owner, type (2+2) | —                    | yes                             |
/// | equipment: 4 bits + 12 bits (2) | certification + ID   | compliance + ID                 |
/// | image width, height (2+2)       | pixels               | pixels                          |
/// | resolution x, y (2+2)           | pixels per cm        | pixels per cm                   |
/// | number of finger views (1)      | yes                  | yes                             |
/// | reserved (1)                    | 0                    | 0                               |
/// | header size                     | 24                   | 26, or 30 with the long length  |
///
/// Each finger view, in both standards: finger position (1),
/// view number (high nibble) + impression type (low nibble) (1), finger quality (1),
/// minutia count (1); then six bytes per minutia — type (2 bits) + x (14 bits),
/// reserved (2 bits) + y (14 bits), angle (1), quality (1); then a 2-byte extended data
/// block length and that many bytes of extended data (ridge counts, cores and deltas,
/// vendor areas), which Tanba skips.
///
/// Angles: ISO counts 256 steps per turn, which is what `Minutia.angle` stores; ANSI counts
/// 2-degree steps, 0...179. See `ansiAngle(iso:)` for the conversion and its precision.
enum MinutiaeRecordCodec {
    enum Dialect: Sendable {
        case iso, ansi
    }

    static let magic: [UInt8] = [0x46, 0x4D, 0x52, 0x00]      // "FMR\0"
    static let version: [UInt8] = [0x20, 0x32, 0x30, 0x00]    // " 20\0"
    /// Offset of the record length field, the same in both standards.
    static let lengthOffset = 8
    static let isoHeaderSize = 24
    static let ansiHeaderSize = 26
    /// ANSI's escape for records over 65535 bytes: a zero 2-byte length, then a 4-byte one.
    static let ansiLongHeaderSize = 30
    /// Finger view header (4) plus the extended data block length (2): the least a view takes.
    static let minimumViewSize = 6
    static let minutiaSize = 6
    /// Both standards cap finger and minutia quality at 100.
    static let maximumQuality: UInt8 = 100
    static let maximumCoordinate: UInt16 = 0x3FFF

    // MARK: Reading

    static func decode(_ bytes: [UInt8], dialect: Dialect) throws(TemplateFormatError) -> FingerprintRecord {
        var reader = ByteReader(bytes, order: .bigEndian)
        try expectMagicAndVersion(&reader)

        let declared: Int
        var productOwner: UInt16 = 0, productType: UInt16 = 0
        let minimumSize: Int
        switch dialect {
        case .iso:
            declared = Int(try reader.u32())
            minimumSize = isoHeaderSize
        case .ansi:
            let short = try reader.u16()
            if short != 0 {
                declared = Int(short)
                minimumSize = ansiHeaderSize
            } else {
                declared = Int(try reader.u32())
                minimumSize = ansiLongHeaderSize
            }
            productOwner = try reader.u16()
            productType = try reader.u16()
        }
        try checkDeclaredLength(declared, minimumSize: minimumSize, in: bytes)
        // From here on the record's own length bounds every read, not the buffer.
        reader.limit(to: declared)

        let equipment = try reader.u16()
        let width = try reader.u16(), height = try reader.u16()
        let resolutionX = try reader.u16(), resolutionY = try reader.u16()
        let viewCount = Int(try reader.u8())
        try reader.skip(1)  // reserved

        try reader.require(viewCount * minimumViewSize)
        var views: [FingerTemplate] = []
        views.reserveCapacity(viewCount)
        for index in 0..<viewCount {
            views.append(try decodeView(&reader, index: index, dialect: dialect,
                                        width: width, height: height,
                                        resolutionX: resolutionX, resolutionY: resolutionY))
        }
        guard reader.offset == declared else {
            throw .lengthMismatch(declared: declared, actual: reader.offset, offset: lengthOffset)
        }
        return FingerprintRecord(views: views, captureDeviceID: equipment,
                                 productOwner: productOwner, productType: productType)
    }

    private static func expectMagicAndVersion(_ reader: inout ByteReader) throws(TemplateFormatError) {
        let foundMagic = try reader.raw(magic.count)
        guard foundMagic == magic else { throw .badMagic(found: foundMagic) }
        let versionOffset = reader.offset
        let foundVersion = try reader.raw(version.count)
        guard foundVersion == version else { throw .unsupportedVersion(found: foundVersion, offset: versionOffset) }
    }

    /// The declared length must cover at least the header and at most the input. A shorter
    /// record followed only by zero bytes is accepted: SourceAFIS's `iso-*.dat` test
    /// templates are zero-padded to 384 bytes after their 263/269-byte records (docs/formats.md).
    private static func checkDeclaredLength(_ declared: Int, minimumSize: Int,
                                            in bytes: [UInt8]) throws(TemplateFormatError) {
        guard declared >= minimumSize, declared <= bytes.count else {
            throw .lengthMismatch(declared: declared, actual: bytes.count, offset: lengthOffset)
        }
        guard bytes[declared...].allSatisfy({ $0 == 0 }) else {
            throw .trailingBytes(offset: declared, count: bytes.count - declared)
        }
    }

    private static func decodeView(_ reader: inout ByteReader, index: Int, dialect: Dialect,
                                   width: UInt16, height: UInt16,
                                   resolutionX: UInt16, resolutionY: UInt16) throws(TemplateFormatError) -> FingerTemplate {
        let positionOffset = reader.offset
        let positionCode = try reader.u8()
        guard let position = FingerPosition(rawValue: positionCode) else {
            throw .valueOutOfRange(field: "view \(index) finger position", value: Int(positionCode), offset: positionOffset)
        }
        // The view number (high nibble) only orders several views of one finger; the model
        // keeps that order in the array, and the writer renumbers from it.
        let impressionCode = try reader.u8() & 0x0F
        guard let impression = ImpressionType(rawValue: impressionCode) else {
            throw .valueOutOfRange(field: "view \(index) impression type", value: Int(impressionCode), offset: positionOffset + 1)
        }
        let quality = try reader.u8()
        guard quality <= maximumQuality else {
            throw .valueOutOfRange(field: "view \(index) finger quality", value: Int(quality), offset: positionOffset + 2)
        }
        let count = Int(try reader.u8())
        try reader.require(count * minutiaSize + 2)

        var minutiae: [Minutia] = []
        minutiae.reserveCapacity(count)
        for m in 0..<count {
            let start = reader.offset
            let typeAndX = try reader.u16()
            let reservedAndY = try reader.u16()   // the two reserved bits are ignored
            let angleCode = try reader.u8()
            let minutiaQuality = try reader.u8()
            guard let kind = MinutiaKind(rawValue: UInt8(typeAndX >> 14)) else {
                throw .valueOutOfRange(field: "view \(index) minutia \(m) type", value: Int(typeAndX >> 14), offset: start)
            }
            let angle: UInt8
            switch dialect {
            case .iso:
                angle = angleCode
            case .ansi:
                guard let converted = isoAngle(ansi: angleCode) else {
                    throw .valueOutOfRange(field: "view \(index) minutia \(m) angle (2-degree units, 0...179)",
                                           value: Int(angleCode), offset: start + 4)
                }
                angle = converted
            }
            guard minutiaQuality <= maximumQuality else {
                throw .valueOutOfRange(field: "view \(index) minutia \(m) quality", value: Int(minutiaQuality), offset: start + 5)
            }
            minutiae.append(Minutia(x: typeAndX & maximumCoordinate, y: reservedAndY & maximumCoordinate,
                                    angle: angle, kind: kind, quality: minutiaQuality))
        }

        // Extended data block: skipped whole, bounded by the record length. Its areas are not
        // walked because implementations disagree on whether an area's length counts its own
        // 4-byte header (the SourceAFIS test templates' one area only fits if it does;
        // FingerprintIO's reader assumes it does not), whereas the block length is unambiguous.
        let extendedLength = Int(try reader.u16())
        try reader.skip(extendedLength)

        return FingerTemplate(position: position, impression: impression, width: width, height: height,
                              resolutionX: resolutionX, resolutionY: resolutionY,
                              quality: quality, minutiae: minutiae)
    }

    // MARK: Writing

    /// Writes `record` in `dialect`.
    ///
    /// Both standards carry one image size and one resolution for the whole record, so the
    /// header gets the largest width and the largest height over the views and the first
    /// view's resolution; a reader then gives those values to every view. View numbers are
    /// assigned 0, 1, 2… per finger position in array order. Extended data is not written.
    /// ISO has no CBEFF product identifier: `productOwner`/`productType` are dropped there.
    static func encode(_ record: FingerprintRecord, dialect: Dialect) throws(TemplateFormatError) -> [UInt8] {
        let bodySize = record.views.reduce(0) { $0 + minimumViewSize + minutiaSize * $1.minutiae.count }
        let headerSize: Int
        switch dialect {
        case .iso: headerSize = isoHeaderSize
        case .ansi: headerSize = ansiHeaderSize + bodySize > Int(UInt16.max) ? ansiLongHeaderSize : ansiHeaderSize
        }
        let total = headerSize + bodySize
        guard total <= TemplateCodec.maximumRecordSize else {
            throw .oversized(size: total, limit: TemplateCodec.maximumRecordSize)
        }
        var writer = ByteWriter(order: .bigEndian, capacity: total)
        writer.append(magic)
        writer.append(version)
        switch dialect {
        case .iso:
            writer.u32(UInt32(truncatingIfNeeded: total))
        case .ansi:
            if headerSize == ansiHeaderSize {
                writer.u16(UInt16(truncatingIfNeeded: total))
            } else {
                writer.u16(0)
                writer.u32(UInt32(truncatingIfNeeded: total))
            }
            writer.u16(record.productOwner)
            writer.u16(record.productType)
        }
        writer.u16(record.captureDeviceID)
        writer.u16(record.views.map(\.width).max() ?? 0)
        writer.u16(record.views.map(\.height).max() ?? 0)
        writer.u16(record.views.first?.resolutionX ?? 0)
        writer.u16(record.views.first?.resolutionY ?? 0)
        guard let viewCount = UInt8(exactly: record.views.count) else {
            throw .valueOutOfRange(field: "number of finger views", value: record.views.count, offset: writer.offset)
        }
        writer.u8(viewCount)
        writer.u8(0)  // reserved

        var viewsSoFar = [Int](repeating: 0, count: FingerPosition.allCases.count)
        for (index, view) in record.views.enumerated() {
            let viewNumber = viewsSoFar[Int(view.position.rawValue)]
            viewsSoFar[Int(view.position.rawValue)] += 1
            try encodeView(view, index: index, viewNumber: viewNumber, dialect: dialect, into: &writer)
        }
        // The arithmetic above and the writes below describe the same layout; a mismatch
        // would be a bug here, not bad input.
        assert(writer.offset == total, "record size computed as \(total), wrote \(writer.offset)")
        return writer.bytes
    }

    private static func encodeView(_ view: FingerTemplate, index: Int, viewNumber: Int, dialect: Dialect,
                                   into writer: inout ByteWriter) throws(TemplateFormatError) {
        writer.u8(view.position.rawValue)
        guard viewNumber <= 0x0F else {
            throw .valueOutOfRange(field: "view \(index) view number (more than 16 views of \(view.position.displayName))",
                                   value: viewNumber, offset: writer.offset)
        }
        writer.u8(UInt8(viewNumber) << 4 | view.impression.rawValue & 0x0F)
        guard view.quality <= maximumQuality else {
            throw .valueOutOfRange(field: "view \(index) finger quality", value: Int(view.quality), offset: writer.offset)
        }
        writer.u8(view.quality)
        guard let count = UInt8(exactly: view.minutiae.count) else {
            throw .valueOutOfRange(field: "view \(index) minutia count", value: view.minutiae.count, offset: writer.offset)
        }
        writer.u8(count)
        for (m, minutia) in view.minutiae.enumerated() {
            guard minutia.x <= maximumCoordinate else {
                throw .valueOutOfRange(field: "view \(index) minutia \(m) x (14 bits)", value: Int(minutia.x), offset: writer.offset)
            }
            guard minutia.y <= maximumCoordinate else {
                throw .valueOutOfRange(field: "view \(index) minutia \(m) y (14 bits)", value: Int(minutia.y), offset: writer.offset + 2)
            }
            guard minutia.quality <= maximumQuality else {
                throw .valueOutOfRange(field: "view \(index) minutia \(m) quality", value: Int(minutia.quality), offset: writer.offset + 5)
            }
            writer.u16(UInt16(minutia.kind.rawValue) << 14 | minutia.x)
            writer.u16(minutia.y)
            writer.u8(dialect == .iso ? minutia.angle : ansiAngle(iso: minutia.angle))
            writer.u8(minutia.quality)
        }
        writer.u16(0)  // no extended data
    }

    // MARK: Angles

    /// ISO 256ths of a turn → ANSI 2-degree units, rounded to nearest (halves up):
    /// round(iso × 180 / 256). 255 maps to 179, so the result is always 0...179.
    ///
    /// Precision: an ANSI step is 2°, an ISO step 1.40625°. ANSI → ISO → ANSI is exact for all
    /// 180 values; ISO → ANSI → ISO returns the original for 180 of the 256 values and is off
    /// by one ISO unit (1.40625°) for the other 76.
    static func ansiAngle(iso: UInt8) -> UInt8 {
        UInt8((Int(iso) * 180 + 128) / 256)
    }

    /// ANSI 2-degree units → ISO 256ths of a turn, rounded to nearest: round(ansi × 256 / 180).
    /// Nil for codes above 179, which ANSI 378 does not define.
    static func isoAngle(ansi: UInt8) -> UInt8? {
        guard ansi < 180 else { return nil }
        return UInt8((Int(ansi) * 256 + 90) / 180)
    }
}
