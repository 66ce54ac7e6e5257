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
/// Speed comes from two things. The kernels come quantised from `GaborFilterBank`, one
/// 15×16 block per pixel read as 16-lane vectors. And only 16×16 blocks whose input could
/// have changed are filtered: a block is recomputed only if some block within one kernel
/// radius changed by more than `tolerance` in the previous pass. Empty regions far from the
/// growing front and regions that have already converged cost nothing, so a pass touches
/// only the front, and the iteration stops when nothing moves any more.
struct RidgeGrowth {
    /// Amplification before clipping. Larger values grow faster and give crisper, more
    /// binary ridges; below about 1.3 the pattern fades instead of spreading.
    var gain: Float = 2.0
    /// A block counts as changed when one of its pixels moved by more than this.
    var tolerance: Float = 0.02
    var maxIterations = 120

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
                        while iterations < maxIterations {
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
                            // Jacobi step: filter every active block from `img` into `tmp`...
                            for b in 0..<(bw * bh) where active[b] {
                                changed[b] = filterBlock(b % bw, b / bw, width: width, height: height, stride: stride,
                                                         source: img, target: tmp, kernelIndex: kidx, kernels: kernels,
                                                         clip: true)
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

    /// Filters one block; returns whether any pixel moved by more than `tolerance`.
    @inline(__always)
    private func filterBlock(_ bx: Int, _ by: Int, width: Int, height: Int, stride: Int,
                             source: UnsafeMutableBufferPointer<Float>, target: UnsafeMutableBufferPointer<Float>,
                             kernelIndex: UnsafeBufferPointer<Int32>, kernels: UnsafeBufferPointer<Float>,
                             clip: Bool) -> Bool {
        let r = GaborFilterBank.radius
        let rows = GaborFilterBank.rows
        let src = UnsafeRawPointer(source.baseAddress!)
        let ker = UnsafeRawPointer(kernels.baseAddress!)
        let rowBytes = stride * MemoryLayout<Float>.stride
        let kernelRowBytes = GaborFilterBank.rowStride * MemoryLayout<Float>.stride
        let kernelBytes = GaborFilterBank.kernelSize * MemoryLayout<Float>.stride
        var moved: Float = 0
        for y in (by * Self.block)..<min(height, (by + 1) * Self.block) {
            for x in (bx * Self.block)..<min(width, (bx + 1) * Self.block) {
                let k = Int(kernelIndex[y * width + x])
                let at = (y + r) * stride + x + r
                guard k >= 0 else { target[at] = 0; continue }
                // The window's top-left corner in the padded image is (x, y).
                var s = src + (y * stride + x) * MemoryLayout<Float>.stride
                var w = ker + k * kernelBytes
                var acc = SIMD16<Float>()
                for _ in 0..<rows {
                    acc += s.loadUnaligned(as: SIMD16<Float>.self) * w.loadUnaligned(as: SIMD16<Float>.self)
                    s += rowBytes
                    w += kernelRowBytes
                }
                var v = acc.sum()
                if clip { v = min(1, max(-1, gain * v)) }
                moved = max(moved, abs(v - source[at]))
                target[at] = v
            }
        }
        return moved > tolerance
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
