import TanbaCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Contextual ridge enhancement before minutiae detection, after Hong, Wan & Jain (1998)
/// and the Handbook of Fingerprint Recognition (ch. 3): local normalisation, a segmentation
/// mask, an orientation field from the smoothed gradient structure tensor, a ridge
/// wavelength per block from oriented x-signatures, and oriented Gabor filtering.
///
/// The Gabor filter is applied in its separable form (Areekul et al. 2005): a Gaussian
/// along the local ridge direction, then a cosine-modulated Gaussian across it, each a
/// 1-D kernel stepped along the dominant axis and taken from a bank quantised by
/// orientation and wavelength. Following the local orientation in both passes makes the
/// pair behave like a slightly curved Gabor filter.
///
/// Input and output are 8-bit images at 500 dpi with dark ridges; the background
/// (outside the mask) is set to white so the detector finds nothing there.
public struct RidgeEnhancer: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// Cell size (px) of the orientation and segmentation grid.
        public var cell = 8
        /// Half-size (px) of the window for local mean/variance normalisation.
        public var normalisationRadius = 12
        /// Gaussian smoothing of the doubled-angle orientation field, in cells.
        public var orientationSigma: Float = 2.0
        /// A cell is foreground when its grey-level deviation exceeds this fraction of the
        /// 90th percentile over the image.
        public var segmentationThreshold: Float = 0.25
        /// Absolute floor (grey levels) for the foreground deviation.
        public var segmentationMinimumDeviation: Float = 4
        /// Block size (px) for ridge wavelength estimation.
        public var frequencyBlock = 16
        /// Length (across ridges) and width (along ridges) of the x-signature window.
        public var signatureLength = 32
        public var signatureWidth = 16
        /// Valid ridge wavelengths (px at 500 dpi) and the fallback.
        public var minimumWavelength: Float = 4.5
        public var maximumWavelength: Float = 15
        public var defaultWavelength: Float = 9
        /// Use one median wavelength for the whole image instead of the block map.
        public var globalWavelength = false
        /// Quantisation of the filter bank.
        public var orientationBins = 32
        public var wavelengthStep: Float = 0.5
        /// Gaussian widths of the Gabor filter as fractions of the wavelength
        /// (across ridges, along ridges); a kernel extends to `extent` standard deviations.
        public var sigmaAcross: Float = 0.5
        public var sigmaAlong: Float = 0.5
        public var extent: Float = 2.5
        /// Weight of the normalised input blended into the filtered image (0 = pure filter).
        public var blend: Float = 0
        /// Grey-level gain applied to the filter response (ridges dark, valleys light).
        public var gain: Float = 90
        /// Minutiae closer than this (px) to the background or the image edge are dropped.
        public var borderMargin: Float = 10

        public init() {}

        /// The parameters that shape the kernel bank.
        var bankKey: [Float] {
            [Float(orientationBins), wavelengthStep, minimumWavelength, maximumWavelength,
             sigmaAcross, sigmaAlong, extent]
        }
    }

    /// The enhanced image and the foreground mask it was made with.
    public struct Result: Sendable {
        public var image: FingerprintImage
        /// Foreground cells, row-major, `cellsX * cellsY`.
        public var foreground: [Bool]
        public var cellsX: Int
        public var cellsY: Int
        public var cell: Int

        /// Whether a point lies inside the foreground at least `margin` pixels away from
        /// the background and from the image edge.
        public func isInside(x: Int, y: Int, margin: Float) -> Bool {
            let fx = Float(x) + 0.5, fy = Float(y) + 0.5
            let w = Float(image.width), h = Float(image.height)
            if fx < margin || fy < margin || fx > w - margin || fy > h - margin { return false }
            let cx = x / cell, cy = y / cell
            guard cx >= 0, cy >= 0, cx < cellsX, cy < cellsY, foreground[cy * cellsX + cx] else { return false }
            let r = Int((margin / Float(cell)).rounded(.up)) + 1
            let m2 = margin * margin
            for j in max(0, cy - r)...min(cellsY - 1, cy + r) {
                for i in max(0, cx - r)...min(cellsX - 1, cx + r) where !foreground[j * cellsX + i] {
                    // Distance from the point to the background cell's rectangle.
                    let x0 = Float(i * cell), x1 = x0 + Float(cell)
                    let y0 = Float(j * cell), y1 = y0 + Float(cell)
                    let dx = max(0, max(x0 - fx, fx - x1)), dy = max(0, max(y0 - fy, fy - y1))
                    if dx * dx + dy * dy < m2 { return false }
                }
            }
            return true
        }
    }

    public var parameters: Parameters
    public init(parameters: Parameters = .init()) { self.parameters = parameters }

    static let defaultBank = KernelBank(Parameters())

    public func enhance(_ image: FingerprintImage) -> Result {
        let p = parameters
        let w = image.width, h = image.height, n = w * h
        let cs = max(4, p.cell)
        let cw = (w + cs - 1) / cs, ch = (h + cs - 1) / cs

        // MARK: integral images and local normalisation
        var sum = [Int](repeating: 0, count: (w + 1) * (h + 1))
        var sq = [Int](repeating: 0, count: (w + 1) * (h + 1))
        image.pixels.withUnsafeBufferPointer { px in
            sum.withUnsafeMutableBufferPointer { s in
                sq.withUnsafeMutableBufferPointer { q in
                    let W = w + 1
                    for y in 0..<h {
                        var rs = 0, rq = 0
                        for x in 0..<w {
                            let v = Int(px[y * w + x])
                            rs += v; rq += v * v
                            s[(y + 1) * W + x + 1] = s[y * W + x + 1] + rs
                            q[(y + 1) * W + x + 1] = q[y * W + x + 1] + rq
                        }
                    }
                }
            }
        }
        func boxStats(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> (mean: Float, sd: Float) {
            // Half-open [x0, x1) x [y0, y1), already clamped.
            let W = w + 1
            let a = sum[y1 * W + x1] - sum[y0 * W + x1] - sum[y1 * W + x0] + sum[y0 * W + x0]
            let b = sq[y1 * W + x1] - sq[y0 * W + x1] - sq[y1 * W + x0] + sq[y0 * W + x0]
            let cnt = Float((x1 - x0) * (y1 - y0))
            let m = Float(a) / cnt
            return (m, max(0, Float(b) / cnt - m * m).squareRoot())
        }

        var norm = [Float](repeating: 0, count: n)
        let nr = max(2, p.normalisationRadius)
        norm.withUnsafeMutableBufferPointer { out in
            image.pixels.withUnsafeBufferPointer { px in
                sum.withUnsafeBufferPointer { s in
                    sq.withUnsafeBufferPointer { q in
                        let W = w + 1
                        for y in 0..<h {
                            let y0 = max(0, y - nr), y1 = min(h, y + nr + 1)
                            for x in 0..<w {
                                let x0 = max(0, x - nr), x1 = min(w, x + nr + 1)
                                let a = s[y1 * W + x1] - s[y0 * W + x1] - s[y1 * W + x0] + s[y0 * W + x0]
                                let b = q[y1 * W + x1] - q[y0 * W + x1] - q[y1 * W + x0] + q[y0 * W + x0]
                                let inv = 1 / Float((x1 - x0) * (y1 - y0))
                                let m = Float(a) * inv
                                let v = max(0, Float(b) * inv - m * m)
                                out[y * w + x] = (Float(px[y * w + x]) - m) / max(v.squareRoot(), 3)
                            }
                        }
                    }
                }
            }
        }

        // MARK: per-cell gradient structure tensor and grey-level deviation
        var gxx = [Float](repeating: 0, count: cw * ch)
        var gyy = gxx, gxy = gxx
        norm.withUnsafeBufferPointer { a in
            gxx.withUnsafeMutableBufferPointer { sxx in
                gyy.withUnsafeMutableBufferPointer { syy in
                    gxy.withUnsafeMutableBufferPointer { sxy in
                        for y in 1..<(h - 1) {
                            let row = (y / cs) * cw
                            for x in 1..<(w - 1) {
                                let i = y * w + x
                                let gx = (a[i - w + 1] + 2 * a[i + 1] + a[i + w + 1]) - (a[i - w - 1] + 2 * a[i - 1] + a[i + w - 1])
                                let gy = (a[i + w - 1] + 2 * a[i + w] + a[i + w + 1]) - (a[i - w - 1] + 2 * a[i - w] + a[i - w + 1])
                                let c = row + x / cs
                                sxx[c] += gx * gx; syy[c] += gy * gy; sxy[c] += gx * gy
                            }
                        }
                    }
                }
            }
        }
        var deviation = [Float](repeating: 0, count: cw * ch)
        for cy in 0..<ch {
            for cx in 0..<cw {
                let x0 = max(0, cx * cs - cs / 2), x1 = min(w, cx * cs + cs + cs / 2)
                let y0 = max(0, cy * cs - cs / 2), y1 = min(h, cy * cs + cs + cs / 2)
                deviation[cy * cw + cx] = boxStats(x0, y0, x1, y1).sd
            }
        }

        // MARK: segmentation
        let sortedDev = deviation.sorted()
        let p90 = sortedDev[min(sortedDev.count - 1, Int(Float(sortedDev.count) * 0.9))]
        let threshold = max(p.segmentationMinimumDeviation, p.segmentationThreshold * p90)
        var fg = deviation.map { $0 > threshold }
        fg = Morphology.clean(fg, width: cw, height: ch)

        // MARK: orientation field (doubled-angle vectors, mask-weighted Gaussian smoothing)
        var vx = [Float](repeating: 0, count: cw * ch), vy = vx
        for i in 0..<(cw * ch) {
            let wgt: Float = fg[i] ? 1 : 0.05
            vx[i] = (gxx[i] - gyy[i]) * wgt
            vy[i] = 2 * gxy[i] * wgt
        }
        Grid.gaussianSmooth(&vx, width: cw, height: ch, sigma: p.orientationSigma)
        Grid.gaussianSmooth(&vy, width: cw, height: ch, sigma: p.orientationSigma)

        // MARK: ridge wavelength per block (x-signature zero crossings)
        let fb = max(cs, p.frequencyBlock)
        let bw = (w + fb - 1) / fb, bh = (h + fb - 1) / fb
        var freq = [Float](repeating: 0, count: bw * bh)
        var valid = [Float](repeating: 0, count: bw * bh)
        var blockFG = [Bool](repeating: false, count: bw * bh)
        let sigL = max(8, p.signatureLength), sigW = max(1, p.signatureWidth)
        var signature = [Float](repeating: 0, count: sigL)
        norm.withUnsafeBufferPointer { a in
            for by in 0..<bh {
                for bx in 0..<bw {
                    let cxc = Float(bx * fb) + Float(fb) / 2, cyc = Float(by * fb) + Float(fb) / 2
                    let ci = min(cw - 1, Int(cxc) / cs), cj = min(ch - 1, Int(cyc) / cs)
                    guard fg[cj * cw + ci] else { continue }
                    blockFG[by * bw + bx] = true
                    let (ox, oy) = Grid.bilinear(vx, vy, width: cw, height: ch,
                                                 gx: cxc / Float(cs) - 0.5, gy: cyc / Float(cs) - 0.5)
                    let phi = 0.5 * fastAtan2(oy, ox)
                    let ux = cosf(phi), uy = sinf(phi) // across ridges
                    let ax = -uy, ay = ux               // along ridges
                    for k in 0..<sigL {
                        let t = Float(k) - Float(sigL - 1) / 2
                        var acc: Float = 0
                        for j in 0..<sigW {
                            let r = Float(j) - Float(sigW - 1) / 2
                            let sx = cxc - 0.5 + t * ux + r * ax, sy = cyc - 0.5 + t * uy + r * ay
                            acc += Grid.sample(a, width: w, height: h, x: sx, y: sy)
                        }
                        signature[k] = acc / Float(sigW)
                    }
                    if let lambda = RidgeEnhancer.wavelength(of: signature),
                       lambda >= p.minimumWavelength, lambda <= p.maximumWavelength {
                        freq[by * bw + bx] = 1 / lambda
                        valid[by * bw + bx] = 1
                    }
                }
            }
        }
        let validFreqs = zip(freq, valid).filter { $0.1 > 0 }.map(\.0).sorted()
        let medianFreq = validFreqs.isEmpty ? 1 / p.defaultWavelength : validFreqs[validFreqs.count / 2]
        if p.globalWavelength {
            for i in 0..<freq.count { freq[i] = medianFreq }
        } else {
            freq = Grid.fill(freq, valid: valid, width: bw, height: bh, fallback: medianFreq)
        }

        // MARK: per-pixel filter index (orientation bin x wavelength bin)
        let bank = p.bankKey == Parameters().bankKey ? RidgeEnhancer.defaultBank : KernelBank(p)
        let nO = bank.orientations, nF = bank.wavelengths
        let pad = bank.maxRadius + 1
        let pw = w + 2 * pad, ph = h + 2 * pad
        // Pixel masks: foreground, and foreground dilated by the across-kernel reach.
        let reachCells = (bank.maxRadius + cs - 1) / cs
        let fgDilated = Morphology.dilate(fg, width: cw, height: ch, radius: reachCells)
        var filterIndex = [UInt16](repeating: 0, count: n)
        do {
            var tx0 = [Int](repeating: 0, count: w), tx1 = tx0, tfx = [Float](repeating: 0, count: w)
            var bx0 = tx0, bx1 = tx0, bfx = tfx
            for x in 0..<w {
                (tx0[x], tx1[x], tfx[x]) = Grid.axis(Float(x) + 0.5, cell: cs, count: cw)
                (bx0[x], bx1[x], bfx[x]) = Grid.axis(Float(x) + 0.5, cell: fb, count: bw)
            }
            let lmin = bank.minimumWavelength, lstep = bank.wavelengthStep
            let oScale = Float(nO) / (2 * Float.pi)
            for y in 0..<h {
                let (ty0, ty1, tfy) = Grid.axis(Float(y) + 0.5, cell: cs, count: ch)
                let (by0, by1, bfy) = Grid.axis(Float(y) + 0.5, cell: fb, count: bh)
                let crow = (y / cs) * cw
                for x in 0..<w where fgDilated[crow + x / cs] {
                    let i00 = ty0 * cw + tx0[x], i01 = ty0 * cw + tx1[x]
                    let i10 = ty1 * cw + tx0[x], i11 = ty1 * cw + tx1[x]
                    let fx = tfx[x]
                    let ox = (vx[i00] * (1 - fx) + vx[i01] * fx) * (1 - tfy) + (vx[i10] * (1 - fx) + vx[i11] * fx) * tfy
                    let oy = (vy[i00] * (1 - fx) + vy[i01] * fx) * (1 - tfy) + (vy[i10] * (1 - fx) + vy[i11] * fx) * tfy
                    var ob = Int((fastAtan2(oy, ox) * oScale).rounded())
                    if ob < 0 { ob += nO }
                    if ob >= nO { ob -= nO }
                    let gfx = bfx[x]
                    let f = (freq[by0 * bw + bx0[x]] * (1 - gfx) + freq[by0 * bw + bx1[x]] * gfx) * (1 - bfy)
                        + (freq[by1 * bw + bx0[x]] * (1 - gfx) + freq[by1 * bw + bx1[x]] * gfx) * bfy
                    let lambda = 1 / max(f, 1e-3)
                    let fi = min(nF - 1, max(0, Int(((lambda - lmin) / lstep).rounded())))
                    filterIndex[y * w + x] = UInt16(ob * nF + fi)
                }
            }
        }

        // MARK: separable oriented Gabor filtering
        var src = [Float](repeating: 0, count: pw * ph)
        for y in 0..<h {
            for x in 0..<w { src[(y + pad) * pw + x + pad] = norm[y * w + x] }
        }
        let alongOffsets = bank.alongDX.indices.map { Int32(bank.alongDY[$0] * pw + bank.alongDX[$0]) }
        let acrossOffsets = bank.acrossDX.indices.map { Int32(bank.acrossDY[$0] * pw + bank.acrossDX[$0]) }
        var along = [Float](repeating: 0, count: pw * ph)
        src.withUnsafeBufferPointer { s in
            along.withUnsafeMutableBufferPointer { d in
                alongOffsets.withUnsafeBufferPointer { off in
                    bank.alongWeight.withUnsafeBufferPointer { wt in
                        bank.alongStart.withUnsafeBufferPointer { st in
                            filterIndex.withUnsafeBufferPointer { fi in
                                for y in 0..<h {
                                    let crow = (y / cs) * cw
                                    for x in 0..<w where fgDilated[crow + x / cs] {
                                        let k = Int(fi[y * w + x])
                                        let c = (y + pad) * pw + x + pad
                                        var acc: Float = 0
                                        for t in Int(st[k])..<Int(st[k + 1]) { acc += s[c + Int(off[t])] * wt[t] }
                                        d[c] = acc
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 255, count: n)
        let gain = p.gain, blend = max(0, min(1, p.blend))
        along.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                acrossOffsets.withUnsafeBufferPointer { off in
                    bank.acrossWeight.withUnsafeBufferPointer { wt in
                        bank.acrossStart.withUnsafeBufferPointer { st in
                            filterIndex.withUnsafeBufferPointer { fi in
                                norm.withUnsafeBufferPointer { nm in
                                    for y in 0..<h {
                                        let crow = (y / cs) * cw
                                        for x in 0..<w where fg[crow + x / cs] {
                                            let k = Int(fi[y * w + x])
                                            let c = (y + pad) * pw + x + pad
                                            var acc: Float = 0
                                            for t in Int(st[k])..<Int(st[k + 1]) { acc += s[c + Int(off[t])] * wt[t] }
                                            let e = (1 - blend) * acc + blend * nm[y * w + x]
                                            o[y * w + x] = UInt8(clamping: Int((128 + gain * e).rounded()))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Result(image: FingerprintImage(width: w, height: h, pixels: out, dpi: image.dpi),
                      foreground: fg, cellsX: cw, cellsY: ch, cell: cs)
    }

    /// Ridge wavelength from an x-signature: mean spacing of its zero crossings (after
    /// light smoothing and mean removal); nil when the signature is not periodic enough.
    static func wavelength(of s: [Float]) -> Float? {
        let n = s.count
        var sm = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let a = s[max(0, i - 1)], b = s[i], c = s[min(n - 1, i + 1)]
            sm[i] = 0.25 * a + 0.5 * b + 0.25 * c
        }
        let mean = sm.reduce(0, +) / Float(n)
        var varSum: Float = 0
        for i in 0..<n { sm[i] -= mean; varSum += sm[i] * sm[i] }
        // The normalised image has unit deviation; a signature averaged along a wrong
        // orientation or over noise keeps little of it.
        guard varSum / Float(n) > 0.05 else { return nil }
        var crossings = [Float]()
        for i in 1..<n where (sm[i - 1] < 0) != (sm[i] < 0) {
            let t = sm[i - 1] / (sm[i - 1] - sm[i])
            crossings.append(Float(i - 1) + t)
        }
        guard crossings.count >= 3 else { return nil }
        let half = (crossings.last! - crossings.first!) / Float(crossings.count - 1)
        // Half periods must be consistent.
        var dev: Float = 0
        for i in 1..<crossings.count {
            let d = crossings[i] - crossings[i - 1] - half
            dev += d * d
        }
        dev = (dev / Float(crossings.count - 1)).squareRoot()
        guard dev < 0.4 * half else { return nil }
        return 2 * half
    }
}

/// Fast atan2 (max error about 1e-5 rad).
@inline(__always) func fastAtan2(_ y: Float, _ x: Float) -> Float {
    let ax = abs(x), ay = abs(y)
    let mx = max(ax, ay), mn = min(ax, ay)
    if mx == 0 { return 0 }
    let a = mn / mx
    let s = a * a
    var r = ((-0.046_496_474_9 * s + 0.159_314_22) * s - 0.327_622_764) * s * a + a
    if ay > ax { r = 1.570_796_37 - r }
    if x < 0 { r = 3.141_592_74 - r }
    return y < 0 ? -r : r
}
