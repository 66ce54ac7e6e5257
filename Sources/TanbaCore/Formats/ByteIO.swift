/// Byte order of a binary layout. ISO/IEC 19794-2 and ANSI INCITS 378 store every multi-byte
/// field most significant byte first; the native format is little-endian because every
/// machine Tanba runs on is.
enum ByteOrder: Sendable {
    case bigEndian, littleEndian
}

/// A bounds-checked cursor over untrusted bytes, shared by the three template codecs.
///
/// Every read checks the remaining length first and throws `TemplateFormatError.truncated`
/// with the offset it stopped at, so no codec ever indexes past the end or traps on hostile
/// input. `end` can be pulled in (`limit(to:)`) so that a record's own length field, not the
/// size of the buffer it arrived in, bounds what its parts may consume.
struct ByteReader {
    private let bytes: [UInt8]
    let order: ByteOrder
    /// Offset of the next byte to read, from the start of the input.
    private(set) var offset: Int = 0
    /// One past the last byte this reader may consume.
    private(set) var end: Int

    init(_ bytes: [UInt8], order: ByteOrder) {
        self.bytes = bytes
        self.order = order
        self.end = bytes.count
    }

    var remaining: Int { end - offset }

    /// Restricts reading to `0..<newEnd` (never widens).
    mutating func limit(to newEnd: Int) {
        end = max(offset, min(end, newEnd))
    }

    /// Throws unless `count` more bytes are available. Codecs call this with
    /// `declared count × element size` *before* reserving storage for the elements, so a
    /// forged count costs an error, not an allocation.
    func require(_ count: Int) throws(TemplateFormatError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(offset: offset, needed: count, available: remaining)
        }
    }

    mutating func u8() throws(TemplateFormatError) -> UInt8 {
        try require(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(TemplateFormatError) -> UInt16 {
        try require(2)
        defer { offset += 2 }
        let a = UInt16(bytes[offset]), b = UInt16(bytes[offset + 1])
        return order == .bigEndian ? a << 8 | b : b << 8 | a
    }

    mutating func u32() throws(TemplateFormatError) -> UInt32 {
        try require(4)   // so that a cut field is reported at its start
        let a = UInt32(try u16()), b = UInt32(try u16())
        return order == .bigEndian ? a << 16 | b : b << 16 | a
    }

    /// Reads `count` bytes verbatim.
    mutating func raw(_ count: Int) throws(TemplateFormatError) -> [UInt8] {
        try require(count)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func skip(_ count: Int) throws(TemplateFormatError) {
        try require(count)
        offset += count
    }
}

/// The writing half: appends fixed-width integers in one byte order.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []
    let order: ByteOrder

    init(order: ByteOrder, capacity: Int = 0) {
        self.order = order
        bytes.reserveCapacity(capacity)
    }

    /// Offset the next byte will be written at (used to report where a bad value would go).
    var offset: Int { bytes.count }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        let hi = UInt8(truncatingIfNeeded: value >> 8), lo = UInt8(truncatingIfNeeded: value)
        if order == .bigEndian { bytes.append(hi); bytes.append(lo) } else { bytes.append(lo); bytes.append(hi) }
    }

    mutating func u32(_ value: UInt32) {
        let hi = UInt16(truncatingIfNeeded: value >> 16), lo = UInt16(truncatingIfNeeded: value)
        if order == .bigEndian { u16(hi); u16(lo) } else { u16(lo); u16(hi) }
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}
