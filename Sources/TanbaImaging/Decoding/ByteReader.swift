/// A cursor over untrusted bytes. Every read is bounds-checked and throws `.truncated` instead of
/// trapping, so the hand-written decoders (BMP, PGM, WSQ) and the container peeks (PNG pHYs,
/// JPEG JFIF) can read a hostile file with straight-line code and no index arithmetic of
/// their own.
///
/// A reader may be confined to a window of the file (`segment(_:)`), so a table that claims to
/// be 40 bytes long cannot read the 41st, whatever its contents say.
struct ByteReader {
    let bytes: [UInt8]
    let format: ImageFormat
    private(set) var offset: Int
    /// One past the last readable byte of this reader's window.
    let end: Int

    init(_ bytes: [UInt8], format: ImageFormat) {
        self.init(bytes, format: format, window: 0..<bytes.count)
    }

    private init(_ bytes: [UInt8], format: ImageFormat, window: Range<Int>) {
        self.bytes = bytes
        self.format = format
        self.offset = window.lowerBound
        self.end = window.upperBound
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    /// The next byte without consuming it, or nil at the end.
    func peek() -> UInt8? { offset < end ? bytes[offset] : nil }

    mutating func u8() throws(ImageDecodeError) -> UInt8 {
        try require(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16BE() throws(ImageDecodeError) -> UInt16 {
        try require(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u16LE() throws(ImageDecodeError) -> UInt16 {
        try require(2)
        defer { offset += 2 }
        return UInt16(bytes[offset + 1]) << 8 | UInt16(bytes[offset])
    }

    mutating func u32BE() throws(ImageDecodeError) -> UInt32 {
        try require(4)
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    mutating func u32LE() throws(ImageDecodeError) -> UInt32 {
        try require(4)
        defer { offset += 4 }
        return UInt32(bytes[offset + 3]) << 24 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset])
    }

    /// The next `count` bytes (sharing the file's storage).
    mutating func read(_ count: Int) throws(ImageDecodeError) -> ArraySlice<UInt8> {
        try require(count)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func skip(_ count: Int) throws(ImageDecodeError) {
        try require(count)
        offset += count
    }

    /// Moves to an absolute position inside the window (the end itself is allowed).
    mutating func seek(to position: Int) throws(ImageDecodeError) {
        guard position >= 0, position <= end else { throw .truncated(format) }
        offset = position
    }

    /// The next `count` bytes as a reader of their own; this reader moves past them.
    mutating func segment(_ count: Int) throws(ImageDecodeError) -> ByteReader {
        try require(count)
        defer { offset += count }
        return ByteReader(bytes, format: format, window: offset..<offset + count)
    }

    /// Whether the next bytes are `prefix` (nothing is consumed).
    func starts(with prefix: [UInt8]) -> Bool {
        remaining >= prefix.count && bytes[offset..<offset + prefix.count].elementsEqual(prefix)
    }

    private func require(_ count: Int) throws(ImageDecodeError) {
        guard count >= 0, count <= end - offset else { throw .truncated(format) }
    }
}

extension UInt8 {
    /// Space, tab, line feed, vertical tab, form feed or carriage return (C's isspace).
    var isASCIIWhitespace: Bool { self == 0x20 || (0x09...0x0D).contains(self) }
}
