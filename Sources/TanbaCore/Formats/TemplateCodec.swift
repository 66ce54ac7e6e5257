/// The template formats Tanba reads and writes.
public enum TemplateFormat: String, Sendable, CaseIterable {
    /// ISO/IEC 19794-2:2005 finger minutiae record ("FMR\0", version " 20\0", 4-byte length).
    case iso19794_2_2005 = "iso"
    /// ANSI INCITS 378-2004 finger minutiae record ("FMR\0", version " 20\0", 2- or 6-byte
    /// length, CBEFF product identifier, angles in 2-degree units).
    case ansi378_2004 = "ansi"
    /// Tanba's compact native format ("TNBT"): exact, little-endian, CRC-32 protected.
    case native
}

/// Reads and writes `FingerprintRecord`s in any `TemplateFormat`.
///
/// ```swift
/// let record = try TemplateCodec.decode(bytes)             // format detected
/// let iso = try TemplateCodec.encode(record, as: .iso19794_2_2005)
/// ```
///
/// What survives which format (details in docs/formats.md):
/// - native keeps every field exactly;
/// - ISO and ANSI carry one image size and resolution per record (the largest width and
///   height and the first view's resolution are written), coordinates of 14 bits, qualities
///   of 0...100, and no view numbers (they are renumbered in array order);
/// - ANSI stores angles in 2-degree units: an ISO angle comes back within one ISO unit;
/// - ISO has no CBEFF product identifier, so `productOwner`/`productType` are not written.
///
/// `captureDeviceID` carries the whole 16-bit capture equipment field of ISO/ANSI records:
/// certification (ISO) or compliance (ANSI) flags in the top four bits, the device type ID
/// in the low twelve. Extended data blocks are skipped when reading and not written.
public enum TemplateCodec {
    /// Largest input accepted, and largest record written: 1 MiB. Checked before anything
    /// is parsed. The biggest record ISO/ANSI can express without extended data (255 views
    /// of 255 minutiae) is 392 KB, and a ten-print in the native format is a few kilobytes.
    public static let maximumRecordSize = 1 << 20

    /// The format `bytes` claim to be in, or nil when they match none (or are too short to
    /// tell). Only the header is examined; `decode` checks the rest.
    ///
    /// ISO and ANSI records start with the same eight bytes. They are told apart by the
    /// record length field at offset 8, which the two standards lay out differently
    /// (ISO: 4 bytes; ANSI: 2 bytes, or 0x0000 followed by 4 bytes). Let `a` be the 16-bit
    /// word at offset 8 and `b` the one at offset 10. With inputs capped at 1 MiB
    /// (0x10_0000 bytes):
    /// - `a` ≥ 17: only an ANSI 2-byte length (≥ 26, its minimum header) fits; as an ISO
    ///   length the record would exceed 1 MiB;
    /// - 1 ≤ `a` ≤ 16: only an ISO length of 64 KiB or more; ANSI's 2-byte length would be
    ///   shorter than its own header;
    /// - `a` = 0, `b` ≤ 16: only ANSI's long form (0x0000, then ≤ 0x0010_xxxx); as ISO the
    ///   record would be shorter than its 24-byte header;
    /// - `a` = 0, `b` ≥ 17: only an ISO record under 64 KiB; as ANSI's long form it would
    ///   exceed 1 MiB.
    /// So within the size limit the length field alone always decides, and the CBEFF product
    /// identifier (which may legitimately be zero) is not needed as a tie-breaker.
    public static func detect(_ bytes: [UInt8]) -> TemplateFormat? {
        try? claimedFormat(bytes)
    }

    /// Decodes `bytes`, detecting the format when `format` is nil.
    ///
    /// When detecting, the ISO/ANSI record must parse in exactly one of the two dialects;
    /// should both accept it, `.ambiguous` is thrown rather than guessing. (The length
    /// arithmetic in `detect` shows this cannot happen within `maximumRecordSize`; the check
    /// stays so that raising the limit can never silently mis-decode.)
    public static func decode(_ bytes: [UInt8], as format: TemplateFormat? = nil) throws(TemplateFormatError) -> FingerprintRecord {
        guard bytes.count <= maximumRecordSize else { throw .oversized(size: bytes.count, limit: maximumRecordSize) }
        if let format { return try decodeChecked(bytes, as: format) }

        let claimed = try claimedFormat(bytes)
        let record = try decodeChecked(bytes, as: claimed)
        let other: TemplateFormat? = switch claimed {
        case .iso19794_2_2005: .ansi378_2004
        case .ansi378_2004: .iso19794_2_2005
        case .native: nil
        }
        if let other, (try? decodeChecked(bytes, as: other)) != nil { throw .ambiguous }
        return record
    }

    /// Encodes `record` as `format`. Throws `.valueOutOfRange` for values the format cannot
    /// hold (ISO/ANSI: coordinates above 16383, qualities above 100, more than 255 views or
    /// minutiae per view) and `.oversized` above `maximumRecordSize`.
    public static func encode(_ record: FingerprintRecord, as format: TemplateFormat) throws(TemplateFormatError) -> [UInt8] {
        switch format {
        case .iso19794_2_2005: try MinutiaeRecordCodec.encode(record, dialect: .iso)
        case .ansi378_2004: try MinutiaeRecordCodec.encode(record, dialect: .ansi)
        case .native: try NativeTemplateCodec.encode(record)
        }
    }

    // MARK: Internals

    private static func decodeChecked(_ bytes: [UInt8], as format: TemplateFormat) throws(TemplateFormatError) -> FingerprintRecord {
        switch format {
        case .iso19794_2_2005: try MinutiaeRecordCodec.decode(bytes, dialect: .iso)
        case .ansi378_2004: try MinutiaeRecordCodec.decode(bytes, dialect: .ansi)
        case .native: try NativeTemplateCodec.decode(bytes)
        }
    }

    /// The rule documented on `detect`, throwing the reason when no format matches.
    static func claimedFormat(_ bytes: [UInt8]) throws(TemplateFormatError) -> TemplateFormat {
        var reader = ByteReader(bytes, order: .bigEndian)
        let magic = try reader.raw(4)
        if magic == NativeTemplateCodec.magic { return .native }
        guard magic == MinutiaeRecordCodec.magic else { throw .badMagic(found: magic) }
        try reader.skip(MinutiaeRecordCodec.version.count)  // checked by the decoders
        let a = Int(try reader.u16()), b = Int(try reader.u16())
        let highWordLimit = maximumRecordSize >> 16   // 16: the largest top half of a length ≤ 1 MiB
        if a > highWordLimit { return .ansi378_2004 }
        if a > 0 { return .iso19794_2_2005 }
        return b > highWordLimit ? .iso19794_2_2005 : .ansi378_2004
    }
}
