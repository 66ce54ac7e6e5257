import TanbaCore

/// WSQ, the FBI's Wavelet Scalar Quantization format for 500-dpi fingerprints (CJIS
/// IAFIS-IC-0110). Written here because no WSQ library is packaged for Debian; the reference
/// implementations (NIST NBIS `dwsq`, and its Java port JNBIS used by SourceAFIS) served as
/// the specification where the standard is terse.
///
/// Decoding, in file order:
/// 1. tables: transform (DTT: the synthesis filters), quantization (DQT: bin widths per
///    subband), Huffman (DHT, up to 8), comments (COM: a NISTCOM may give the PPI);
/// 2. the frame header (SOF: size and the pixel shift/scale the encoder applied);
/// 3. blocks (SOB, usually three), each naming a Huffman table and holding entropy-coded
///    quantized coefficients: JPEG-style canonical codes whose symbols are zero runs, small
///    values inline, or escapes to 8/16-bit literals;
/// then `WSQWavelet` rebuilds the image: unquantize into 60 subbands, invert the wavelet
/// packet transform, undo the shift and scale.
///
/// The arithmetic follows the reference decoders step for step (single precision, the same
/// summation order), so the output matches theirs; see docs/imaging.md for measurements.
///
/// The input is untrusted: every length, count and table index is checked, the coefficient
/// count is bounded by the image size, and all loops are bounded by the input length or the
/// announced (already limited) image size.
enum WSQ {
    private enum Marker {
        static let startOfImage: UInt16 = 0xFFA0
        static let endOfImage: UInt16 = 0xFFA1
        static let startOfFrame: UInt16 = 0xFFA2
        static let startOfBlock: UInt16 = 0xFFA3
        static let transformTable: UInt16 = 0xFFA4
        static let quantizationTable: UInt16 = 0xFFA5
        static let huffmanTable: UInt16 = 0xFFA6
        static let restartInterval: UInt16 = 0xFFA7
        static let comment: UInt16 = 0xFFA8
    }

    static func decode(_ bytes: [UInt8]) throws(ImageDecodeError) -> FingerprintImage {
        var reader = ByteReader(bytes, format: .wsq)
        guard try reader.u16BE() == Marker.startOfImage else { throw .corrupt(.wsq, "no start-of-image marker") }

        var filters: WSQWavelet.Filters?
        var quantization: Quantization?
        var huffmanTables = [HuffmanTable?](repeating: nil, count: 8)
        var frame: Frame?
        var ppi: Int?
        var layout: WSQWavelet.Layout?
        var expectedCount = 0 // coefficients the layout and quantization table call for
        var coefficients: [Int32] = []

        markers: while true {
            let marker = try reader.u16BE()
            switch marker {
            case Marker.transformTable:
                filters = try WSQWavelet.Filters(segment: segment(&reader))
            case Marker.quantizationTable:
                // Coefficients are counted against the table in force at the first block.
                guard layout == nil else { throw .unsupported(.wsq, "quantization table redefined between blocks") }
                quantization = try Quantization(segment: segment(&reader))
            case Marker.huffmanTable:
                try HuffmanTable.read(segment: segment(&reader), into: &huffmanTables)
            case Marker.comment:
                ppi = nistPPI(try segment(&reader)) ?? ppi
            case Marker.restartInterval:
                var table = try segment(&reader)
                guard try table.u16BE() == 0 else { throw .unsupported(.wsq, "restart intervals") }
            case Marker.startOfFrame:
                guard frame == nil else { throw .corrupt(.wsq, "second frame header") }
                let header = try Frame(segment: segment(&reader))
                try ImageDecoder.checkSize(width: header.width, height: header.height, format: .wsq)
                frame = header
            case Marker.startOfBlock:
                guard let frame else { throw .corrupt(.wsq, "data block before the frame header") }
                guard let quantization else { throw .corrupt(.wsq, "data block before the quantization table") }
                if layout == nil {
                    // Not reserved: a forged frame size must not buy a large allocation;
                    // the array grows with the data actually decoded.
                    let newLayout = WSQWavelet.Layout(width: frame.width, height: frame.height)
                    expectedCount = newLayout.coefficientCount(quantization) // <= width x height
                    layout = newLayout
                }
                var header = try segment(&reader)
                let tableID = Int(try header.u8())
                guard tableID < huffmanTables.count, let table = huffmanTables[tableID] else {
                    throw .corrupt(.wsq, "block uses undefined Huffman table \(tableID)")
                }
                try decodeBlock(&reader, table: table, into: &coefficients, limit: expectedCount)
            case Marker.endOfImage:
                break markers
            default:
                throw .corrupt(.wsq, "unexpected marker 0x\(String(marker, radix: 16, uppercase: true))")
            }
        }

        guard let frame, let layout, let quantization else { throw .corrupt(.wsq, "no image data") }
        guard let filters else { throw .corrupt(.wsq, "no transform table") }
        guard coefficients.count == expectedCount else {
            throw .corrupt(.wsq, "image data holds \(coefficients.count) of \(expectedCount) coefficients")
        }
        let pixels = WSQWavelet.reconstruct(coefficients: coefficients, layout: layout, quantization: quantization,
                                            filters: filters, shift: frame.shift, scale: frame.scale)
        return FingerprintImage(width: frame.width, height: frame.height, pixels: pixels, dpi: ppi.map(Double.init))
    }

    /// A marker segment's payload (its two length bytes count themselves).
    private static func segment(_ reader: inout ByteReader) throws(ImageDecodeError) -> ByteReader {
        let length = Int(try reader.u16BE())
        guard length >= 2 else { throw .corrupt(.wsq, "segment length \(length)") }
        return try reader.segment(length - 2)
    }

    /// WSQ writes decimal fractions as an integer and a power-of-ten exponent. The division is
    /// done the way the reference decoders do it (in double, rounded to float at each step),
    /// so that the table values, and everything computed from them, are bit-identical.
    static func scaled(_ value: UInt32, exponent: UInt8) -> Float {
        var result = Float(value)
        for _ in 0..<exponent { result = Float(Double(result) / 10) }
        return result
    }

    // MARK: Tables

    /// SOF: image size and the affine map from reconstructed values back to pixels.
    private struct Frame {
        let width: Int, height: Int
        let shift: Float, scale: Float

        init(segment: ByteReader) throws(ImageDecodeError) {
            var reader = segment
            try reader.skip(2) // black and white levels: informative only
            height = Int(try reader.u16BE())
            width = Int(try reader.u16BE())
            let shiftExponent = try reader.u8()
            shift = WSQ.scaled(UInt32(try reader.u16BE()), exponent: shiftExponent)
            let scaleExponent = try reader.u8()
            scale = WSQ.scaled(UInt32(try reader.u16BE()), exponent: scaleExponent)
            // Encoder number and software id follow; nothing depends on them.
        }
    }

    /// DQT: per subband, the bin width (0 = subband not coded) and zero-bin width, plus the
    /// bin centre shared by all.
    struct Quantization {
        static let subbandCount = 64
        let binCenter: Float
        let binWidths: [Float]
        let zeroBinWidths: [Float]

        init(segment: ByteReader) throws(ImageDecodeError) {
            var reader = segment
            let exponent = try reader.u8()
            binCenter = WSQ.scaled(UInt32(try reader.u16BE()), exponent: exponent)
            var widths = [Float](), zeroWidths = [Float]()
            for _ in 0..<Self.subbandCount {
                let binExponent = try reader.u8()
                widths.append(WSQ.scaled(UInt32(try reader.u16BE()), exponent: binExponent))
                let zeroExponent = try reader.u8()
                zeroWidths.append(WSQ.scaled(UInt32(try reader.u16BE()), exponent: zeroExponent))
            }
            binWidths = widths
            zeroBinWidths = zeroWidths
        }
    }

    /// A canonical Huffman code as JPEG defines it: 16 counts of codes per length, then the
    /// symbols in code order. Decoding walks lengths 1...16 comparing against the largest
    /// code of each length (ITU T.81 F.2.2.3).
    struct HuffmanTable {
        /// Largest code of each length (index 1...16); -1 when there is none.
        private var maxCode = [Int](repeating: -1, count: 17)
        /// Added to a code of each length to get its symbol's index.
        private var symbolOffset = [Int](repeating: 0, count: 17)
        private let symbols: [UInt8]

        /// Reads the one or more tables of a DHT segment.
        static func read(segment: ByteReader, into tables: inout [HuffmanTable?]) throws(ImageDecodeError) {
            var reader = segment
            repeat {
                let id = Int(try reader.u8())
                guard id < tables.count else { throw .corrupt(.wsq, "Huffman table id \(id)") }
                tables[id] = try HuffmanTable(&reader)
            } while !reader.isAtEnd
        }

        private init(_ reader: inout ByteReader) throws(ImageDecodeError) {
            var counts = [Int]()
            for _ in 1...16 { counts.append(Int(try reader.u8())) }
            symbols = Array(try reader.read(counts.reduce(0, +))) // at most 16 x 255 bytes

            // Canonical assignment: consecutive codes within a length, doubling between
            // lengths. A table whose counts overflow a length is not a prefix code.
            var code = 0, index = 0
            for length in 1...16 {
                code <<= 1
                let count = counts[length - 1]
                if count > 0 {
                    symbolOffset[length] = index - code
                    code += count
                    index += count
                    maxCode[length] = code - 1
                }
                guard code <= 1 << length else { throw .corrupt(.wsq, "Huffman code lengths overflow") }
            }
        }

        /// The next symbol, or nil when the bits run out first (the end of the block: the
        /// encoder pads the last byte with 1 bits, which never complete a code).
        func decode(_ bits: inout BitReader) throws(ImageDecodeError) -> UInt8? {
            var code = 0
            for length in 1...16 {
                guard let bit = bits.next() else { return nil }
                code = code << 1 | bit
                if code <= maxCode[length] {
                    let index = code + symbolOffset[length]
                    guard symbols.indices.contains(index) else { break }
                    return symbols[index]
                }
            }
            throw .corrupt(.wsq, "invalid Huffman code")
        }
    }

    // MARK: Entropy-coded data

    /// Bits of one block, most significant first, with JPEG-style byte stuffing removed.
    struct BitReader {
        private let bytes: [UInt8]
        private var position = 0 // in bits

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func next() -> Int? {
            guard position < bytes.count * 8 else { return nil }
            defer { position += 1 }
            return Int(bytes[position >> 3] >> (7 - UInt8(position & 7))) & 1
        }

        mutating func next(_ count: Int) -> Int? {
            guard count <= bytes.count * 8 - position else { return nil }
            var value = 0
            for _ in 0..<count { value = value << 1 | (next() ?? 0) }
            return value
        }
    }

    /// Decodes one block (the bytes up to the next marker) and appends its coefficients,
    /// never more than `limit` in all.
    private static func decodeBlock(_ reader: inout ByteReader, table: HuffmanTable,
                                    into coefficients: inout [Int32], limit: Int) throws(ImageDecodeError) {
        // Entropy-coded data ends at the first 0xFF not followed by a stuffed 0x00.
        let bytes = reader.bytes
        var data = [UInt8]()
        var position = reader.offset
        while true {
            guard position < reader.end else { throw .truncated(.wsq) }
            let byte = bytes[position]
            if byte == 0xFF {
                guard position + 1 < reader.end else { throw .truncated(.wsq) }
                if bytes[position + 1] != 0x00 { break }
                position += 1 // skip the stuffed zero
            }
            data.append(byte)
            position += 1
        }
        try reader.seek(to: position)

        func append(_ value: Int32, count: Int = 1) throws(ImageDecodeError) {
            guard count <= limit - coefficients.count else {
                throw .corrupt(.wsq, "more coefficients than the image has")
            }
            coefficients.append(contentsOf: repeatElement(value, count: count))
        }
        func literal(_ bits: inout BitReader, _ count: Int) throws(ImageDecodeError) -> Int {
            guard let value = bits.next(count) else { throw .corrupt(.wsq, "coefficient cut off by a marker") }
            return value
        }

        var bits = BitReader(data)
        while let symbol = try table.decode(&bits) {
            switch symbol {
            case 1...100: try append(0, count: Int(symbol)) // zero run
            case 101: try append(Int32(try literal(&bits, 8)))
            case 102: try append(-Int32(try literal(&bits, 8)))
            case 103: try append(Int32(try literal(&bits, 16)))
            case 104: try append(-Int32(try literal(&bits, 16)))
            case 105: try append(0, count: try literal(&bits, 8))
            case 106: try append(0, count: try literal(&bits, 16))
            case 107...254: try append(Int32(symbol) - 180) // -73...74 inline
            default: throw .corrupt(.wsq, "invalid coefficient symbol \(symbol)")
            }
        }
    }

    // MARK: Comments

    /// The PPI field of a NISTCOM comment ("NIST_COM" then "KEY value" lines); nil when absent,
    /// unknown (-1) or not a number.
    private static func nistPPI(_ segment: ByteReader) -> Int? {
        var reader = segment
        guard reader.starts(with: Array("NIST_COM".utf8)), let text = try? reader.read(reader.remaining) else { return nil }
        for line in text.split(separator: 0x0A) {
            let fields = line.split(separator: 0x20, maxSplits: 1)
            guard fields.count == 2, fields[0].elementsEqual("PPI".utf8) else { continue }
            let value = String(decoding: fields[1].filter { !$0.isASCIIWhitespace }, as: UTF8.self)
            if let ppi = Int(value), ppi > 0 { return ppi }
        }
        return nil
    }
}
