/// Little-endian readers and writers for the wire schema.
///
/// TanbaCore's ByteReader is internal to that module; the wire format needs its own small
/// pair anyway because every failure here must become a `DecodeError` naming the field,
/// which is what a fuzz test and an operator reading a log both need.

/// Why a message could not be decoded. Every decoder throws only this.
public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the field at `offset` needs.
    case truncated(field: String, offset: Int)
    /// The message or a length field exceeds its documented limit.
    case oversized(field: String, size: Int, limit: Int)
    /// First bytes are not the wire magic "TNBW": not a Tanba message at all.
    case badMagic
    /// Protocol version this node does not speak.
    case unsupportedVersion(UInt8)
    /// Message type code not defined in this protocol version.
    case unknownMessageType(UInt8)
    /// A field holds a value outside its domain (bad IIN digits, finger position 0, …).
    case invalidValue(field: String, reason: String)
    /// Bytes left over after the last field.
    case trailingBytes(count: Int)
    /// The embedded template failed TanbaCore's native codec.
    case badTemplate(String)

    public var description: String {
        switch self {
        case .truncated(let field, let offset): "truncated message: \(field) at offset \(offset)"
        case .oversized(let field, let size, let limit): "\(field) is \(size), limit \(limit)"
        case .badMagic: "not a Tanba wire message (bad magic)"
        case .unsupportedVersion(let v): "unsupported protocol version \(v)"
        case .unknownMessageType(let t): "unknown message type 0x\(String(t, radix: 16))"
        case .invalidValue(let field, let reason): "invalid \(field): \(reason)"
        case .trailingBytes(let count): "\(count) unexpected bytes after the message"
        case .badTemplate(let reason): "bad template: \(reason)"
        }
    }
}

struct WireWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func raw<C: Collection>(_ v: C) where C.Element == UInt8 { bytes.append(contentsOf: v) }
    /// u8 length, then UTF-8 bytes. Callers check limits before writing.
    mutating func shortString(_ s: String) { let u = Array(s.utf8); u8(UInt8(u.count)); raw(u) }
    /// u16 length, then UTF-8 bytes.
    mutating func string16(_ s: String) { let u = Array(s.utf8); u16(UInt16(u.count)); raw(u) }
    /// u32 length, then the bytes.
    mutating func blob(_ b: [UInt8]) { u32(UInt32(b.count)); raw(b) }
}

struct WireReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    private let end: Int

    init(_ bytes: [UInt8], from offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }

    mutating func take(_ count: Int, _ field: String) throws(DecodeError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw .truncated(field: field, offset: offset) }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    private mutating func fixed<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(DecodeError) -> T {
        let slice = try take(MemoryLayout<T>.size, field)
        var v: T = 0
        for (i, b) in slice.enumerated() { v |= T(b) << (8 * i) }
        return v
    }

    mutating func u8(_ field: String) throws(DecodeError) -> UInt8 { try fixed(UInt8.self, field) }
    mutating func u16(_ field: String) throws(DecodeError) -> UInt16 { try fixed(UInt16.self, field) }
    mutating func u32(_ field: String) throws(DecodeError) -> UInt32 { try fixed(UInt32.self, field) }
    mutating func u64(_ field: String) throws(DecodeError) -> UInt64 { try fixed(UInt64.self, field) }
    mutating func i64(_ field: String) throws(DecodeError) -> Int64 { Int64(bitPattern: try u64(field)) }
    mutating func f32(_ field: String) throws(DecodeError) -> Float { Float(bitPattern: try u32(field)) }
    mutating func f64(_ field: String) throws(DecodeError) -> Double { Double(bitPattern: try u64(field)) }

    mutating func bool(_ field: String) throws(DecodeError) -> Bool {
        let start = offset
        switch try u8(field) {
        case 0: return false
        case 1: return true
        default: offset = start; throw .invalidValue(field: field, reason: "boolean must be 0 or 1")
        }
    }

    /// A finite float: NaN and infinities in scores would poison sorting and fusion.
    mutating func finiteF32(_ field: String) throws(DecodeError) -> Float {
        let v = try f32(field)
        guard v.isFinite else { throw .invalidValue(field: field, reason: "not a finite number") }
        return v
    }

    mutating func utf8(_ count: Int, _ field: String) throws(DecodeError) -> String {
        let raw = try take(count, field)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw .invalidValue(field: field, reason: "not valid UTF-8")
        }
        return s
    }

    mutating func shortString(_ field: String, limit: Int = 255) throws(DecodeError) -> String {
        let n = Int(try u8("\(field) length"))
        guard n <= limit else { throw .oversized(field: field, size: n, limit: limit) }
        return try utf8(n, field)
    }

    mutating func string16(_ field: String, limit: Int) throws(DecodeError) -> String {
        let n = Int(try u16("\(field) length"))
        guard n <= limit else { throw .oversized(field: field, size: n, limit: limit) }
        return try utf8(n, field)
    }

    mutating func blob(_ field: String, limit: Int) throws(DecodeError) -> [UInt8] {
        let n = Int(try u32("\(field) length"))
        guard n <= limit else { throw .oversized(field: field, size: n, limit: limit) }
        return Array(try take(n, field))
    }

    /// A count that must not exceed `limit`, and whose items (each at least `minItemSize`
    /// bytes) must fit in what is left — so a forged count cannot make us reserve memory.
    mutating func count16(_ field: String, limit: Int, minItemSize: Int) throws(DecodeError) -> Int {
        let n = Int(try u16(field))
        guard n <= limit else { throw .oversized(field: field, size: n, limit: limit) }
        guard n * minItemSize <= remaining else { throw .truncated(field: field, offset: offset) }
        return n
    }

    func finish() throws(DecodeError) {
        guard remaining == 0 else { throw .trailingBytes(count: remaining) }
    }
}
