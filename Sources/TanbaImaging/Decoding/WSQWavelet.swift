/// The image side of WSQ: where the 64 subbands lie, and the inverse of the wavelet packet
/// transform that produced them.
///
/// WSQ decomposes the image with a fixed tree of 2-D splits (each split filters rows and
/// columns into a lowpass and a highpass half): 20 split nodes, 64 leaf subbands, of which the
/// encoder codes the first 60. Reconstruction merges the nodes' quadrants back, deepest first.
///
/// Bit-exactness with the reference decoders (NBIS, JNBIS) matters because WSQ images are
/// compared against reference reconstructions in certification and in tests. It needs the
/// same single-precision operations in the same order: each output sample is the lowpass taps
/// then the highpass taps, summed one at a time, in the order the reference walks them. The
/// tap lists are computed once per line length (`SynthesisPlan`) and then applied to every
/// line, which also turns the column pass into contiguous row operations the compiler
/// vectorizes.
enum WSQWavelet {
    struct Rect: Equatable {
        var x = 0, y = 0, width = 0, height = 0
    }

    /// A 2-D split. "Inverted" halves hold the highpass part first (top or left): the packet
    /// tree flips the spectrum of highpass branches, and the encoder compensates this way.
    struct Node {
        let rect: Rect
        let highpassOnTop: Bool
        let highpassOnLeft: Bool
    }

    // MARK: Filters

    /// The synthesis filters of the DTT segment. Each is odd-length and symmetric; the table
    /// stores its centre half, signs alternating with the distance from the centre (the
    /// synthesis highpass is the analysis lowpass modulated by (-1)^k, and vice versa).
    struct Filters {
        let lowpass: [Float]
        let highpass: [Float]

        /// 9/7 taps in every WSQ file seen; longer ones are refused rather than trusted.
        static let maxTaps = 31

        init(segment: ByteReader) throws(ImageDecodeError) {
            var reader = segment
            let highCount = Int(try reader.u8()), lowCount = Int(try reader.u8())
            for count in [highCount, lowCount] {
                guard count % 2 == 1, count <= Self.maxTaps else {
                    throw .unsupported(.wsq, "\(count)-tap wavelet filter (odd lengths up to \(Self.maxTaps) are supported)")
                }
            }
            highpass = try Self.symmetric(count: highCount, &reader)
            lowpass = try Self.symmetric(count: lowCount, &reader)
        }

        private static func symmetric(count: Int, _ reader: inout ByteReader) throws(ImageDecodeError) -> [Float] {
            let center = count / 2
            var taps = [Float](repeating: 0, count: count)
            for distance in 0...center {
                let negative = try reader.u8() != 0
                let exponent = try reader.u8()
                var value = WSQ.scaled(try reader.u32BE(), exponent: exponent)
                if negative { value = -value }
                if distance % 2 == 1 { value = -value }
                taps[center + distance] = value
                taps[center - distance] = value
            }
            return taps
        }
    }

    // MARK: Layout

    /// Where the split nodes and subbands of a `width` x `height` image lie. The split sizes
    /// follow the standard: an odd length gives the extra sample to the lowpass half.
    struct Layout {
        let width: Int, height: Int
        /// The 20 split nodes, parents before children.
        let nodes: [Node]
        /// The 64 subbands in coefficient order.
        let subbands: [Rect]

        /// Subbands the encoder quantizes and codes; 60...63 (the finest diagonal detail) are
        /// always dropped.
        static let codedSubbands = 60

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            let image = Rect(x: 0, y: 0, width: width, height: height)

            // Node 0 splits the image; its lowpass quadrant (node 1) is split again into
            // nodes 14 (lowpass), 4 and 5; node 14 into 15...18, and node 15's lowpass
            // quadrant is node 19. Nodes 2, 3, 6...13 split the remaining detail quadrants
            // once more. The highpass-first flags are those of the standard.
            let level1 = Self.quadrants(of: image)
            let level2 = Self.quadrants(of: level1[0])
            let node4 = level2[1], node5 = level2[2], node14 = level2[0]
            let children4 = Self.quadrants(of: node4, lowpassOnLeft: false)
            let children5 = Self.quadrants(of: node5, lowpassOnTop: false)
            let children14 = Self.quadrants(of: node14)
            let node19 = Self.quadrants(of: children14[0])[0]
            let rects = [image, level1[0], level1[1], level1[2], node4, node5]
                + children4 + children5 + [node14] + children14 + [node19]
            let highpassOnLeft: Set = [2, 4, 7, 9, 11, 13, 16, 18]
            let highpassOnTop: Set = [3, 5, 8, 9, 12, 13, 17, 18]
            nodes = rects.enumerated().map { index, rect in
                Node(rect: rect, highpassOnTop: highpassOnTop.contains(index), highpassOnLeft: highpassOnLeft.contains(index))
            }

            // Subbands: the 4 of node 19, then 16 per region split twice (node 14's first is
            // node 19 itself, node 0's first three are nodes 14, 4 and 5, already listed).
            subbands = Self.quadrants(of: node19)
                + Self.sixteen(in: node14).dropFirst()
                + Self.sixteen(in: node4, lowpassOnLeft: false)
                + Self.sixteen(in: node5, lowpassOnTop: false)
                + Self.sixteen(in: image).dropFirst(3)
        }

        /// Quantized coefficients the data blocks hold: all coded subbands with a bin width.
        func coefficientCount(_ quantization: WSQ.Quantization) -> Int {
            (0..<Self.codedSubbands).reduce(0) { total, index in
                quantization.binWidths[index] == 0 ? total : total + subbands[index].width * subbands[index].height
            }
        }

        /// Lengths of the two halves of a split.
        private static func split(_ length: Int, lowpassFirst: Bool) -> (Int, Int) {
            let large = (length + 1) / 2, small = length / 2
            return lowpassFirst ? (large, small) : (small, large)
        }

        /// Top-left, top-right, bottom-left, bottom-right.
        private static func quadrants(of rect: Rect, lowpassOnLeft: Bool = true, lowpassOnTop: Bool = true) -> [Rect] {
            let (left, right) = split(rect.width, lowpassFirst: lowpassOnLeft)
            let (top, bottom) = split(rect.height, lowpassFirst: lowpassOnTop)
            return [
                Rect(x: rect.x, y: rect.y, width: left, height: top),
                Rect(x: rect.x + left, y: rect.y, width: right, height: top),
                Rect(x: rect.x, y: rect.y + top, width: left, height: bottom),
                Rect(x: rect.x + left, y: rect.y + top, width: right, height: bottom),
            ]
        }

        /// The 16 subbands of a region split twice: each quadrant split again, its highpass
        /// halves coming first where the quadrant itself is a highpass half.
        private static func sixteen(in rect: Rect, lowpassOnLeft: Bool = true, lowpassOnTop: Bool = true) -> [Rect] {
            let parts = quadrants(of: rect, lowpassOnLeft: lowpassOnLeft, lowpassOnTop: lowpassOnTop)
            return quadrants(of: parts[0])
                + quadrants(of: parts[1], lowpassOnLeft: false)
                + quadrants(of: parts[2], lowpassOnTop: false)
                + quadrants(of: parts[3], lowpassOnLeft: false, lowpassOnTop: false)
        }
    }

    // MARK: Reconstruction

    /// Unquantizes `coefficients` into their subbands, inverts the transform and maps the
    /// result to pixels: `pixel = value * scale + shift`, rounded and clamped.
    static func reconstruct(coefficients: [Int32], layout: Layout, quantization: WSQ.Quantization,
                            filters: Filters, shift: Float, scale: Float) -> [UInt8] {
        let width = layout.width
        var image = [Float](repeating: 0, count: width * layout.height)

        // Each coded subband's coefficients, row by row. A nonzero q lies in a bin of width
        // Q beyond the zero bin (width Z); it is reconstructed at the bin centre C:
        // Q (q - C) + Z / 2 for q > 0, mirrored for q < 0.
        var next = 0
        let center = quantization.binCenter
        for index in 0..<Layout.codedSubbands where quantization.binWidths[index] != 0 {
            let band = layout.subbands[index]
            let binWidth = quantization.binWidths[index], halfZero = quantization.zeroBinWidths[index] / 2
            for y in band.y..<band.y + band.height {
                for x in band.x..<band.x + band.width {
                    let q = coefficients[next]
                    next += 1
                    image[y * width + x] = q == 0 ? 0
                        : q > 0 ? binWidth * (Float(q) - center) + halfZero
                        : binWidth * (Float(q) + center) - halfZero
                }
            }
        }

        var scratch = [Float](repeating: 0, count: image.count)
        var plans: [Int: SynthesisPlan] = [:]
        func plan(_ length: Int, highpassFirst: Bool) -> SynthesisPlan {
            let key = length << 1 | (highpassFirst ? 1 : 0)
            if let plan = plans[key] { return plan }
            let plan = SynthesisPlan(length: length, highpassFirst: highpassFirst, filters: filters)
            plans[key] = plan
            return plan
        }
        for node in layout.nodes.reversed() {
            let rect = node.rect
            guard rect.width > 0, rect.height > 0 else { continue }
            let columns = plan(rect.height, highpassFirst: node.highpassOnTop)
            let rows = plan(rect.width, highpassFirst: node.highpassOnLeft)
            image.withUnsafeMutableBufferPointer { image in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    // Columns: image rect -> scratch (same stride), then rows: scratch -> image rect.
                    columns.synthesizeColumns(from: image, origin: rect.y * width + rect.x, to: scratch,
                                              count: rect.width, stride: width)
                    rows.synthesizeRows(from: scratch, to: image, origin: rect.y * width + rect.x,
                                        count: rect.height, stride: width)
                }
            }
        }

        return image.map { value in
            var pixel = value * scale
            pixel += shift
            pixel += 0.5
            return pixel >= 255 ? 255 : pixel >= 0 ? UInt8(pixel) : 0 // NaN, impossible, gives 0
        }
    }

    /// One-dimensional synthesis for lines of one length: the taps of every output sample.
    ///
    /// A line of n samples holds ceil(n/2) lowpass then floor(n/2) highpass samples (the
    /// other way round when highpass comes first). Lowpass sample k sits at output position
    /// 2k, highpass sample k at 2k + 1; beyond the ends both are extended symmetrically, with
    /// or without repeating the edge sample as the standard prescribes for odd filters.
    struct SynthesisPlan {
        /// Output sample n sums terms starts[n]..<starts[n + 1]: input sample sources[t]
        /// times weights[t].
        private var starts: [Int] = []
        private var sources: [Int] = []
        private var weights: [Float] = []

        init(length: Int, highpassFirst: Bool, filters: Filters) {
            let lowCount = (length + 1) / 2, highCount = length / 2
            let lowBase = highpassFirst ? highCount : 0, highBase = highpassFirst ? 0 : lowCount
            let low = filters.lowpass, high = filters.highpass
            let lowCenter = low.count / 2, highCenter = high.count / 2
            let odd = length % 2 == 1
            for n in 0..<length {
                starts.append(sources.count)
                // Filter taps ascending, as the reference sums them; each tap meets the
                // subband sample whose position has the right parity.
                for tap in stride(from: (lowCenter - n) & 1, to: low.count, by: 2) {
                    let k = Self.reflect((n - lowCenter + tap) / 2, count: lowCount, repeatLeft: false, repeatRight: !odd)
                    sources.append(lowBase + k)
                    weights.append(low[tap])
                }
                guard highCount > 0 else { continue }
                for tap in stride(from: (highCenter + 1 - n) & 1, to: high.count, by: 2) {
                    let k = Self.reflect((n - 1 - highCenter + tap) / 2, count: highCount, repeatLeft: true, repeatRight: odd)
                    sources.append(highBase + k)
                    weights.append(high[tap])
                }
            }
            starts.append(sources.count)
        }

        /// Folds an index into 0..<count by mirroring at the ends, either about the edge
        /// sample (…2 1 0 1 2…) or repeating it (…1 0 0 1…).
        static func reflect(_ index: Int, count: Int, repeatLeft: Bool, repeatRight: Bool) -> Int {
            guard count > 1 else { return 0 }
            var index = index
            // Each reflection moves the index strictly closer to the range; filters are short.
            while index < 0 || index >= count {
                if index < 0 {
                    index = repeatLeft ? -index - 1 : -index
                } else {
                    index = repeatRight ? 2 * count - 1 - index : 2 * (count - 1) - index
                }
            }
            return index
        }

        /// Filters `count` adjacent columns whose first sample is at `origin` (rows `stride`
        /// apart) into rows 0..<length of `output`. Row-wise, so the inner loop is contiguous
        /// and vectorizes; summing from zero changes nothing, as 0 + a == a.
        func synthesizeColumns(from input: UnsafeMutableBufferPointer<Float>, origin: Int,
                               to output: UnsafeMutableBufferPointer<Float>, count: Int, stride: Int) {
            guard let input = input.baseAddress, let output = output.baseAddress else { return }
            var term = 0
            for n in 0..<starts.count - 1 {
                let target = output + n * stride
                target.update(repeating: 0, count: count)
                while term < starts[n + 1] {
                    let source = input + origin + sources[term] * stride, weight = weights[term]
                    var x = 0 // `while`, not `for in`: debug builds run this billions of times per suite
                    while x < count {
                        target[x] += source[x] * weight
                        x += 1
                    }
                    term += 1
                }
            }
        }

        /// Filters rows 0..<count of `input` (each `stride` apart) into the rows of `output`
        /// starting at `origin`.
        func synthesizeRows(from input: UnsafeMutableBufferPointer<Float>, to output: UnsafeMutableBufferPointer<Float>,
                            origin: Int, count: Int, stride: Int) {
            guard let input = input.baseAddress, let output = output.baseAddress else { return }
            starts.withUnsafeBufferPointer { starts in
                sources.withUnsafeBufferPointer { sources in
                    weights.withUnsafeBufferPointer { weights in
                        for row in 0..<count {
                            let source = input + row * stride, target = output + origin + row * stride
                            var term = 0
                            for n in 0..<starts.count - 1 {
                                var sum: Float = 0
                                while term < starts[n + 1] {
                                    sum += source[sources[term]] * weights[term]
                                    term += 1
                                }
                                target[n] = sum
                            }
                        }
                    }
                }
            }
        }
    }
}
