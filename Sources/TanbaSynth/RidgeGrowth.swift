/// SFinGe's iterative ridge generation (Cappelli, Erol, Maio & Maltoni, ICPR 2000;
/// Handbook of Fingerprint Recognition, 2nd ed., §8.3.4).
///
/// An image that is empty except for a few seed spots is filtered again and again with the
/// space-variant Gabor filter tuned, at each pixel, to the local ridge orientation and period.
/// After every pass the result is amplified and clipped to [−1, 1], which turns the weak,
/// wavy response into saturated ridges and valleys. Ridges thus spread outward from each
/// seed at the local orientation and spacing; where two growing patterns meet out of phase,
/// or where the orientation or period forces a ridge to be added or dropped, the filter
/// settles on a ridge ending or a bifurcation. Minutiae are never placed: they emerge.
///
/// Speed comes from two things. The kernels come precomputed and quantised from
/// `GaborFilterBank` (a 15×16 block per pixel, multiplied in with eight running sums that
/// the optimiser maps onto vector registers). And only 16×16 blocks whose input could have
/// changed are filtered: a block is recomputed only if some block within one kernel radius
/// changed by more than `tolerance` in the previous pass. Empty regions far from the growing
/// front and regions that have already converged cost nothing. Growth stops a fixed number
/// of passes after the area is filled (see `settlingPasses`).
struct RidgeGrowth {
    /// Amplification before clipping. Larger values grow faster and give crisper, more
    /// binary ridges (3 saves ~15% of the passes but yields ~7% fewer minutiae); too small a
    /// gain and the pattern fades instead of spreading.
    var gain: Float = 2.0
    /// A block counts as changed when one of its pixels moved by more than this.
    var tolerance: Float = 0.01
    /// Passes after the area is filled. The pattern never freezes completely (ridge edges
    /// and minutiae keep creeping, like defects in any pattern-forming system), but after a
    /// few passes the ridges are clean and further passes change little.
    var settlingPasses = 16
    var maxIterations = 150
    /// The area may count as filled once this fraction of its pixels carries a pattern (|v| ≥ 0.1).
    static let filledFraction = 0.9

    static let block = 16

    /// Grows a ridge pattern.
    /// - Parameters:
    ///   - kernelIndex: per pixel, the `GaborFilterBank` kernel to use, or −1 where the
    ///     image stays empty (outside the fingerprint area).
    ///   - seeds: pixel positions where growth starts.
    /// - Returns: the ridge map, row-major `width*height`: the final filter response without
    ///   clipping, ridges positive (about +1.3 on a ridge centre) and valleys negative. Its
    ///   smooth profile lets impressions thin or thicken ridges by thresholding it.
    func grow(width: Int, height: Int, kernelIndex: [Int32], seeds: [(x: Int, y: Int)],
              bank: GaborFilterBank) -> (ridges: [Float], iterations: Int) {
        precondition(kernelIndex.count == width * height)
        let r = GaborFilterBank.radius
        let stride = width + 2 * r + GaborFilterBank.rowStride
        let paddedCount = (height + 2 * r) * stride
        var image = [Float](repeating: 0, count: paddedCount)
        var scratch = [Float](repeating: 0, count: paddedCount)
        let bw = (width + Self.block - 1) / Self.block
        let bh = (height + Self.block - 1) / Self.block
        var changed = [Bool](repeating: false, count: bw * bh)
        var active = changed
        // Saturated pixels per block, kept current for the blocks filtered in each pass.
        var saturated = [Int](repeating: 0, count: bw * bh)
        let areaPixels = kernelIndex.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var history: [Double] = []
        var passesLeft = maxIterations

        // Seeds: small discs of "ridge", so the first passes already carry a real signal.
        for s in seeds {
            for dy in -2...2 {
                for dx in -2...2 where dx * dx + dy * dy <= 5 {
                    let x = s.x + dx, y = s.y + dy
                    guard x >= 0, x < width, y >= 0, y < height, kernelIndex[y * width + x] >= 0 else { continue }
                    image[(y + r) * stride + x + r] = 1
                    changed[(y / Self.block) * bw + x / Self.block] = true
                }
            }
        }

        var iterations = 0
        image.withUnsafeMutableBufferPointer { img in
            scratch.withUnsafeMutableBufferPointer { tmp in
                kernelIndex.withUnsafeBufferPointer { kidx in
                    bank.coefficients.withUnsafeBufferPointer { kernels in
                        while iterations < maxIterations && passesLeft > 0 {
                            // A block must be refiltered if anything within one block changed.
                            var any = false
                            for by in 0..<bh {
                                for bx in 0..<bw {
                                    var a = false
                                    for ny in max(0, by - 1)...min(bh - 1, by + 1) {
                                        for nx in max(0, bx - 1)...min(bw - 1, bx + 1) where changed[ny * bw + nx] {
                                            a = true
                                        }
                                    }
                                    active[by * bw + bx] = a
                                    any = any || a
                                }
                            }
                            if !any { break }
                            iterations += 1
                            passesLeft -= 1
                            // Jacobi step: filter every active block from `img` into `tmp`...
                            for b in 0..<(bw * bh) where active[b] {
                                (changed[b], saturated[b]) = filterBlock(
                                    b % bw, b / bw, width: width, height: height, stride: stride,
                                    source: img, target: tmp, kernelIndex: kidx, kernels: kernels, clip: true)
                            }
                            // Filled: most of the area carries a pattern and the front has stopped
                            // advancing (a few percent, the zero crossings, always stay near 0).
                            let filled = Double(saturated.reduce(0, +)) / Double(max(1, areaPixels))
                            history.append(filled)
                            if passesLeft > settlingPasses, filled >= Self.filledFraction,
                               history.count > 5, filled - history[history.count - 6] < 0.002 {
                                passesLeft = settlingPasses
                            }
                            // ...then copy the new values back, so every block read the old image.
                            for b in 0..<(bw * bh) where active[b] {
                                copyBlock(b % bw, b / bw, width: width, height: height, stride: stride, from: tmp, to: img)
                            }
                        }
                        // One last unclipped pass gives the smooth ridge profile.
                        for b in 0..<(bw * bh) {
                            _ = filterBlock(b % bw, b / bw, width: width, height: height, stride: stride,
                                            source: img, target: tmp, kernelIndex: kidx, kernels: kernels, clip: false)
                        }
                    }
                }
            }
        }

        var ridges = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            let row = (y + r) * stride + r
            for x in 0..<width { ridges[y * width + x] = scratch[row + x] }
        }
        return (ridges, iterations)
    }

    /// Filters one block; returns whether any pixel moved by more than `tolerance`, and how
    /// many of its pixels are saturated.
    @inline(__always)
    private func filterBlock(_ bx: Int, _ by: Int, width: Int, height: Int, stride: Int,
                             source: UnsafeMutableBufferPointer<Float>, target: UnsafeMutableBufferPointer<Float>,
                             kernelIndex: UnsafeBufferPointer<Int32>, kernels: UnsafeBufferPointer<Float>,
                             clip: Bool) -> (changed: Bool, saturated: Int) {
        let r = GaborFilterBank.radius
        let rows = GaborFilterBank.rows
        let src = UnsafePointer(source.baseAddress!)
        let ker = kernels.baseAddress!
        let kernelRow = GaborFilterBank.rowStride
        var moved: Float = 0
        var saturated = 0
        for y in (by * Self.block)..<min(height, (by + 1) * Self.block) {
            for x in (bx * Self.block)..<min(width, (bx + 1) * Self.block) {
                let k = Int(kernelIndex[y * width + x])
                let at = (y + r) * stride + x + r
                guard k >= 0 else { target[at] = 0; continue }
                // The window's top-left corner in the padded image is (x, y). Eight scalar
                // accumulators, one per lane of two 4-wide vectors: the optimiser turns them
                // into SIMD multiply-adds, and unlike SIMD types they stay fast in debug builds.
                var s = src + y * stride + x
                var w = ker + k * GaborFilterBank.kernelSize
                var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                var a4: Float = 0, a5: Float = 0, a6: Float = 0, a7: Float = 0
                for _ in 0..<rows {
                    var c = 0
                    while c < kernelRow {
                        a0 += w[c] * s[c]
                        a1 += w[c + 1] * s[c + 1]
                        a2 += w[c + 2] * s[c + 2]
                        a3 += w[c + 3] * s[c + 3]
                        a4 += w[c + 4] * s[c + 4]
                        a5 += w[c + 5] * s[c + 5]
                        a6 += w[c + 6] * s[c + 6]
                        a7 += w[c + 7] * s[c + 7]
                        c += 8
                    }
                    s += stride
                    w += kernelRow
                }
                let acc = ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))
                var v = acc
                if clip { v = min(1, max(-1, gain * v)) }
                moved = max(moved, abs(v - source[at]))
                if abs(v) >= 0.1 { saturated += 1 }
                target[at] = v
            }
        }
        return (moved > tolerance, saturated)
    }

    @inline(__always)
    private func copyBlock(_ bx: Int, _ by: Int, width: Int, height: Int, stride: Int,
                           from: UnsafeMutableBufferPointer<Float>, to: UnsafeMutableBufferPointer<Float>) {
        let r = GaborFilterBank.radius
        let x0 = bx * Self.block, x1 = min(width, x0 + Self.block)
        for y in (by * Self.block)..<min(height, (by + 1) * Self.block) {
            let row = (y + r) * stride + r
            for x in x0..<x1 { to[row + x] = from[row + x] }
        }
    }
}
