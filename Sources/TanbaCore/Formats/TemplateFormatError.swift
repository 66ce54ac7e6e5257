/// Why a template could not be read or written. Every case says what is wrong and, for
/// reading, at which byte offset of the input; for writing, at which offset of the output
/// the offending value would have gone.
public enum TemplateFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ends (or its declared record ends) before a field could be read: at `offset`,
    /// `needed` bytes were required but only `available` remained.
    case truncated(offset: Int, needed: Int, available: Int)
    /// The first four bytes are neither "FMR\0" (ISO/ANSI) nor "TNBT" (native).
    case badMagic(found: [UInt8])
    /// The magic is right but the version is not one this codec reads (`found` holds the raw
    /// version bytes at `offset`).
    case unsupportedVersion(found: [UInt8], offset: Int)
    /// A record length field (at `offset`) disagrees with the bytes actually present or used.
    case lengthMismatch(declared: Int, actual: Int, offset: Int)
    /// `count` bytes follow the end of the record at `offset` (zero padding after an ISO/ANSI
    /// record is tolerated; anything else is refused so that no data is silently ignored).
    case trailingBytes(offset: Int, count: Int)
    /// The input (or the record to be written) is `size` bytes, above the `limit` every codec
    /// enforces before looking inside.
    case oversized(size: Int, limit: Int)
    /// A field holds a value the format or Tanba's model cannot represent.
    case valueOutOfRange(field: String, value: Int, offset: Int)
    /// The native record's CRC-32 does not match its contents: it is corrupt or cut short.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// The bytes parse both as ISO/IEC 19794-2 and as ANSI INCITS 378; pass the format explicitly.
    case ambiguous

    public var description: String {
        switch self {
        case let .truncated(offset, needed, available):
            return "template truncated at byte \(offset): needed \(needed) byte\(needed == 1 ? "" : "s"), only \(available) left"
        case let .badMagic(found):
            return "not a fingerprint template: starts with \(Self.hex(found)) instead of \"FMR\\0\" (ISO/ANSI) or \"TNBT\" (native)"
        case let .unsupportedVersion(found, offset):
            return "unsupported template version \(Self.hex(found)) at byte \(offset)"
        case let .lengthMismatch(declared, actual, offset):
            return "record length field at byte \(offset) declares \(declared) bytes, but the record occupies \(actual)"
        case let .trailingBytes(offset, count):
            return "\(count) unexpected byte\(count == 1 ? "" : "s") after the end of the record at byte \(offset)"
        case let .oversized(size, limit):
            return "template of \(size) bytes exceeds the \(limit)-byte limit"
        case let .valueOutOfRange(field, value, offset):
            return "\(field) = \(value) is out of range (byte \(offset))"
        case let .checksumMismatch(stored, computed):
            return "native template checksum mismatch: stored \(Self.hex32(stored)), computed \(Self.hex32(computed)); the record is corrupt or truncated"
        case .ambiguous:
            return "the record is valid both as ISO/IEC 19794-2:2005 and as ANSI INCITS 378-2004; specify the format"
        }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "nothing" }
        return bytes.map { hexDigits($0, width: 2) }.joined(separator: " ")
    }

    private static func hex32(_ value: UInt32) -> String { "0x" + hexDigits(value, width: 8) }

    private static func hexDigits<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
