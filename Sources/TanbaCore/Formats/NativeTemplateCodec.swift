/// Tanba's own template format: compact, exact, little-endian, checksummed.
///
/// ```
/// offset  size  field
///      0     4  magic "TNBT"
///      4     1  version (1)
///      5     2  captureDeviceID          ┐
///      7     2  productOwner             │ FingerprintRecord
///      9     2  productType              │
///     11     2  view count V             ┘
///     13        V views:
///            1    position               ┐
///            1    impression             │
///            2+2  width, height          │ FingerTemplate (13 bytes)
///            2+2  resolutionX, resolutionY
///            1    quality                │
///            2    minutia count N        ┘
///            2N   x of each minutia      ┐
///            2N   y of each minutia      │ minutiae, column by column
///            N    angle of each minutia  │ (6.25 bytes per minutia)
///            N    quality of each minutia│
///            ⌈N/4⌉ kinds, 2 bits each, minutia i in bits 2(i mod 4)…, unused bits zero ┘
///    end-4     4  CRC-32 (IEEE) of every byte before it
/// ```
///
/// Unlike ISO/ANSI nothing is narrowed: coordinates keep all 16 bits, quality all 8, angles
/// are the model's own unit, so decode(encode(r)) == r for every record. Minutiae are stored
/// by column so the 2-bit kinds pack four to a byte without stealing bits from any other
/// field. The checksum is verified before anything is interpreted: a damaged record is
/// reported as damaged rather than as whatever nonsense field the damage produced.
enum NativeTemplateCodec {
    static let magic: [UInt8] = [0x54, 0x4E, 0x42, 0x54]   // "TNBT"
    static let version: UInt8 = 1
    static let headerSize = 13
    static let viewHeaderSize = 13
    static let checksumSize = 4

    /// Bytes taken by `count` minutiae: 2 + 2 + 1 + 1 each, plus their packed kinds.
    static func minutiaeSize(_ count: Int) -> Int { 6 * count + (count + 3) / 4 }

    static func decode(_ bytes: [UInt8]) throws(TemplateFormatError) -> FingerprintRecord {
        var reader = ByteReader(bytes, order: .littleEndian)
        let foundMagic = try reader.raw(magic.count)
        guard foundMagic == magic else { throw .badMagic(found: foundMagic) }
        let foundVersion = try reader.u8()
        guard foundVersion == version else { throw .unsupportedVersion(found: [foundVersion], offset: magic.count) }
        try reader.require(headerSize + checksumSize - reader.offset)   // rest of header + CRC

        let bodyEnd = bytes.count - checksumSize
        var trailer = ByteReader(bytes, order: .littleEndian)
        try trailer.skip(bodyEnd)
        let stored = try trailer.u32()
        let computed = CRC32.checksum(bytes[..<bodyEnd])
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        reader.limit(to: bodyEnd)

        let captureDeviceID = try reader.u16()
        let productOwner = try reader.u16()
        let productType = try reader.u16()
        let viewCount = Int(try reader.u16())
        try reader.require(viewCount * viewHeaderSize)
        var views: [FingerTemplate] = []
        views.reserveCapacity(viewCount)
        for index in 0..<viewCount {
            views.append(try decodeView(&reader, index: index))
        }
        guard reader.remaining == 0 else { throw .trailingBytes(offset: reader.offset, count: reader.remaining) }
        return FingerprintRecord(views: views, captureDeviceID: captureDeviceID,
                                 productOwner: productOwner, productType: productType)
    }

    private static func decodeView(_ reader: inout ByteReader, index: Int) throws(TemplateFormatError) -> FingerTemplate {
        let start = reader.offset
        let positionCode = try reader.u8()
        guard let position = FingerPosition(rawValue: positionCode) else {
            throw .valueOutOfRange(field: "view \(index) finger position", value: Int(positionCode), offset: start)
        }
        let impressionCode = try reader.u8()
        guard let impression = ImpressionType(rawValue: impressionCode) else {
            throw .valueOutOfRange(field: "view \(index) impression type", value: Int(impressionCode), offset: start + 1)
        }
        let width = try reader.u16(), height = try reader.u16()
        let resolutionX = try reader.u16(), resolutionY = try reader.u16()
        let quality = try reader.u8()
        let count = Int(try reader.u16())
        try reader.require(minutiaeSize(count))

        // Read the columns into place; the count was checked against the bytes left above,
        // so these allocations are bounded by the input size.
        var xs = [UInt16](), ys = [UInt16]()
        xs.reserveCapacity(count)
        ys.reserveCapacity(count)
        for _ in 0..<count { xs.append(try reader.u16()) }
        for _ in 0..<count { ys.append(try reader.u16()) }
        let angles = try reader.raw(count)
        let qualities = try reader.raw(count)
        let kindsOffset = reader.offset
        let packedKinds = try reader.raw((count + 3) / 4)

        var minutiae: [Minutia] = []
        minutiae.reserveCapacity(count)
        for i in 0..<count {
            let code = packedKinds[i / 4] >> (2 * UInt8(i % 4)) & 0b11
            guard let kind = MinutiaKind(rawValue: code) else {
                throw .valueOutOfRange(field: "view \(index) minutia \(i) kind", value: Int(code), offset: kindsOffset + i / 4)
            }
            minutiae.append(Minutia(x: xs[i], y: ys[i], angle: angles[i], kind: kind, quality: qualities[i]))
        }
        // Unused bits of the last kinds byte must be zero, so each record has one encoding.
        if count % 4 != 0, let last = packedKinds.last, last >> (2 * UInt8(count % 4)) != 0 {
            throw .valueOutOfRange(field: "view \(index) padding bits after the last minutia kind",
                                   value: Int(last), offset: kindsOffset + packedKinds.count - 1)
        }
        return FingerTemplate(position: position, impression: impression, width: width, height: height,
                              resolutionX: resolutionX, resolutionY: resolutionY,
                              quality: quality, minutiae: minutiae)
    }

    static func encode(_ record: FingerprintRecord) throws(TemplateFormatError) -> [UInt8] {
        let total = headerSize + checksumSize
            + record.views.reduce(0) { $0 + viewHeaderSize + minutiaeSize($1.minutiae.count) }
        guard total <= TemplateCodec.maximumRecordSize else {
            throw .oversized(size: total, limit: TemplateCodec.maximumRecordSize)
        }
        var writer = ByteWriter(order: .littleEndian, capacity: total)
        writer.append(magic)
        writer.u8(version)
        writer.u16(record.captureDeviceID)
        writer.u16(record.productOwner)
        writer.u16(record.productType)
        guard let viewCount = UInt16(exactly: record.views.count) else {
            throw .valueOutOfRange(field: "number of finger views", value: record.views.count, offset: writer.offset)
        }
        writer.u16(viewCount)
        for (index, view) in record.views.enumerated() {
            writer.u8(view.position.rawValue)
            writer.u8(view.impression.rawValue)
            writer.u16(view.width)
            writer.u16(view.height)
            writer.u16(view.resolutionX)
            writer.u16(view.resolutionY)
            writer.u8(view.quality)
            guard let count = UInt16(exactly: view.minutiae.count) else {
                throw .valueOutOfRange(field: "view \(index) minutia count", value: view.minutiae.count, offset: writer.offset)
            }
            writer.u16(count)
            for m in view.minutiae { writer.u16(m.x) }
            for m in view.minutiae { writer.u16(m.y) }
            for m in view.minutiae { writer.u8(m.angle) }
            for m in view.minutiae { writer.u8(m.quality) }
            var packed: UInt8 = 0
            for (i, m) in view.minutiae.enumerated() {
                packed |= m.kind.rawValue << (2 * UInt8(i % 4))
                if i % 4 == 3 { writer.u8(packed); packed = 0 }
            }
            if view.minutiae.count % 4 != 0 { writer.u8(packed) }
        }
        writer.u32(CRC32.checksum(writer.bytes))
        assert(writer.offset == total, "record size computed as \(total), wrote \(writer.offset)")
        return writer.bytes
    }
}
