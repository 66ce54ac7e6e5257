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
        public var segmentationThreshold: Float = 0.35
        /// Absolute floor (grey levels) for the foreground deviation.
        public var segmentationMinimumDeviation: Float = 4
        /// Half-size (px) of a box blur applied before measuring the deviation (0 = none).
        public var segmentationBlur = 1
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
        /// Filtering rounds: from the second on, the orientation field is re-estimated from
        /// the previous round's output (smoothed with `refinedOrientationSigma` cells) and the
        /// normalised input is filtered again with it.
        public var iterations = 1
        public var refinedOrientationSigma: Float = 1.0
        /// Weight of the normalised input blended into the filtered image (0 = pure filter).
        public var blend: Float = 0.3
        /// Grey-level gain applied to the filter response (ridges dark, valleys light).
        public var gain: Float = 90
        /// Minutiae closer than this (px) to the background or the image edge are dropped.
        public var borderMargin: Float = 10
        /// The filtered image extends this many cells beyond the mask, so that the ridge
        /// endings it makes at its edge fall outside the mask.
        public var outputDilation = 0

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
        let g = CellGrid(width: image.width, height: image.height, cell: max(4, p.cell))
        let w = g.width, h = g.height, n = w * h
        guard w >= 2 * g.cell, h >= 2 * g.cell else {
            // Too small to estimate anything: unchanged, all foreground.
            return Result(image: image, foreground: [Bool](repeating: true, count: g.cellsX * g.cellsY),
                          cellsX: g.cellsX, cellsY: g.cellsY, cell: g.cell)
        }

        // Normalisation and segmentation.
        var (norm, deviation) = RidgeEnhancer.normalise(image, grid: g, radius: max(2, p.normalisationRadius))
        if p.segmentationBlur > 0 {
            deviation = RidgeEnhancer.blurredDeviation(image, grid: g, radius: p.segmentationBlur)
        }
        let sortedDev = deviation.sorted()
        let p90 = sortedDev[min(sortedDev.count - 1, Int(Float(sortedDev.count) * 0.9))]
        let threshold = max(p.segmentationMinimumDeviation, p.segmentationThreshold * p90)
        let fg = Morphology.clean(deviation.map { $0 > threshold }, width: g.cellsX, height: g.cellsY)

        // Orientation and wavelength.
        var (vx, vy) = RidgeEnhancer.orientation(RidgeEnhancer.tensor(norm, grid: g), foreground: fg,
                                                 grid: g, sigma: p.orientationSigma)
        let fmap = frequencyMap(norm, vx: vx, vy: vy, foreground: fg, grid: g)

        // Filtering.
        let bank = p.bankKey == Parameters().bankKey ? RidgeEnhancer.defaultBank : KernelBank(p)
        let fgOut = Morphology.dilate(fg, width: g.cellsX, height: g.cellsY, radius: max(0, p.outputDilation))
        let reachCells = (bank.maxRadius + g.cell - 1) / g.cell
        let fgAlong = Morphology.dilate(fgOut, width: g.cellsX, height: g.cellsY, radius: reachCells)
        let filter = SeparableGabor(bank: bank, width: w, height: h, source: norm)
        var index = RidgeEnhancer.filterIndices(vx: vx, vy: vy, frequency: fmap, bank: bank, region: fgAlong, grid: g)
        var response = filter.apply(index: index, alongRegion: fgAlong, outRegion: fgOut, grid: g)
        if p.iterations > 1 {
            for _ in 1..<p.iterations {
                (vx, vy) = RidgeEnhancer.orientation(RidgeEnhancer.tensor(response, grid: g), foreground: fg,
                                                     grid: g, sigma: p.refinedOrientationSigma)
                index = RidgeEnhancer.filterIndices(vx: vx, vy: vy, frequency: fmap, bank: bank, region: fgAlong, grid: g)
                response = filter.apply(index: index, alongRegion: fgAlong, outRegion: fgOut, grid: g)
            }
        }

        // To 8 bits: ridges dark, background white.
        var out = [UInt8](repeating: 255, count: n)
        let gain = p.gain, blend = max(0, min(1, p.blend))
        out.withUnsafeMutableBufferPointer { o in
            response.withUnsafeBufferPointer { e in
                norm.withUnsafeBufferPointer { nm in
                    for y in 0..<h {
                        let crow = (y / g.cell) * g.cellsX
                        for x in 0..<w where fgOut[crow + g.cellOfX[x]] {
                            let v = (1 - blend) * e[y * w + x] + blend * nm[y * w + x]
                            o[y * w + x] = UInt8(clamping: Int((128 + gain * v).rounded(.toNearestOrEven)))
                        }
                    }
                }
            }
        }
        return Result(image: FingerprintImage(width: w, height: h, pixels: out, dpi: image.dpi),
                      foreground: fg, cellsX: g.cellsX, cellsY: g.cellsY, cell: g.cell)
    }

    // MARK: - Stages

    /// Local zero-mean, unit-deviation normalisation (box window of half-size `radius`),
    /// and the grey-level deviation around each cell (a 2-cell window) for segmentation.
    static func normalise(_ image: FingerprintImage, grid g: CellGrid, radius nr: Int) -> ([Float], [Float]) {
        let w = g.width, h = g.height, W = w + 1
        var sum = [Int](repeating: 0, count: (w + 1) * (h + 1))
        var sq = [Int](repeating: 0, count: (w + 1) * (h + 1))
        var norm = [Float](repeating: 0, count: w * h)
        image.pixels.withUnsafeBufferPointer { px in
            sum.withUnsafeMutableBufferPointer { s in
                sq.withUnsafeMutableBufferPointer { q in
                    for y in 0..<h {
                        var rs = 0, rq = 0
                        for x in 0..<w {
                            let v = Int(px[y * w + x])
                            rs += v; rq += v * v
                            s[(y + 1) * W + x + 1] = s[y * W + x + 1] + rs
                            q[(y + 1) * W + x + 1] = q[y * W + x + 1] + rq
                        }
                    }
                    norm.withUnsafeMutableBufferPointer { out in
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
        let cs = g.cell
        var deviation = [Float](repeating: 0, count: g.cellsX * g.cellsY)
        for cy in 0..<g.cellsY {
            for cx in 0..<g.cellsX {
                let x0 = max(0, cx * cs - cs / 2), x1 = min(w, cx * cs + cs + cs / 2)
                let y0 = max(0, cy * cs - cs / 2), y1 = min(h, cy * cs + cs + cs / 2)
                let a = sum[y1 * W + x1] - sum[y0 * W + x1] - sum[y1 * W + x0] + sum[y0 * W + x0]
                let b = sq[y1 * W + x1] - sq[y0 * W + x1] - sq[y1 * W + x0] + sq[y0 * W + x0]
                let cnt = Float((x1 - x0) * (y1 - y0))
                let m = Float(a) / cnt
                deviation[cy * g.cellsX + cx] = max(0, Float(b) / cnt - m * m).squareRoot()
            }
        }
        return (norm, deviation)
    }

    /// Grey-level deviation around each cell (2-cell window) of the image after a box blur
    /// of half-size `radius`: sensor noise averages out, ridges (wider) mostly survive.
    static func blurredDeviation(_ image: FingerprintImage, grid g: CellGrid, radius r: Int) -> [Float] {
        let w = g.width, h = g.height, W = w + 1
        var sum = [Int](repeating: 0, count: (w + 1) * (h + 1))
        image.pixels.withUnsafeBufferPointer { px in
            sum.withUnsafeMutableBufferPointer { s in
                for y in 0..<h {
                    var rs = 0
                    for x in 0..<w {
                        rs += Int(px[y * w + x])
                        s[(y + 1) * W + x + 1] = s[y * W + x + 1] + rs
                    }
                }
            }
        }
        // Blurred image, then its integral images.
        var bs = [Float](repeating: 0, count: (w + 1) * (h + 1)), bq = bs
        sum.withUnsafeBufferPointer { s in
            bs.withUnsafeMutableBufferPointer { S in
                bq.withUnsafeMutableBufferPointer { Q in
                    for y in 0..<h {
                        let y0 = max(0, y - r), y1 = min(h, y + r + 1)
                        var rs: Float = 0, rq: Float = 0
                        for x in 0..<w {
                            let x0 = max(0, x - r), x1 = min(w, x + r + 1)
                            let a = s[y1 * W + x1] - s[y0 * W + x1] - s[y1 * W + x0] + s[y0 * W + x0]
                            let v = Float(a) / Float((x1 - x0) * (y1 - y0))
                            rs += v; rq += v * v
                            S[(y + 1) * W + x + 1] = S[y * W + x + 1] + rs
                            Q[(y + 1) * W + x + 1] = Q[y * W + x + 1] + rq
                        }
                    }
                }
            }
        }
        let cs = g.cell
        var deviation = [Float](repeating: 0, count: g.cellsX * g.cellsY)
        for cy in 0..<g.cellsY {
            for cx in 0..<g.cellsX {
                let x0 = max(0, cx * cs - cs / 2), x1 = min(w, cx * cs + cs + cs / 2)
                let y0 = max(0, cy * cs - cs / 2), y1 = min(h, cy * cs + cs + cs / 2)
                let a = bs[y1 * W + x1] - bs[y0 * W + x1] - bs[y1 * W + x0] + bs[y0 * W + x0]
                let b = bq[y1 * W + x1] - bq[y0 * W + x1] - bq[y1 * W + x0] + bq[y0 * W + x0]
                let cnt = Float((x1 - x0) * (y1 - y0))
                let m = a / cnt
                deviation[cy * g.cellsX + cx] = max(0, b / cnt - m * m).squareRoot()
            }
        }
        return deviation
    }

    /// Per-cell sums of the gradient structure tensor (Sobel gradients): (gxx, gyy, gxy).
    static func tensor(_ a: [Float], grid g: CellGrid) -> ([Float], [Float], [Float]) {
        let w = g.width, h = g.height, cw = g.cellsX
        var gxx = [Float](repeating: 0, count: g.cellsX * g.cellsY)
        var gyy = gxx, gxy = gxx
        a.withUnsafeBufferPointer { a in
            gxx.withUnsafeMutableBufferPointer { sxx in
                gyy.withUnsafeMutableBufferPointer { syy in
                    gxy.withUnsafeMutableBufferPointer { sxy in
                        g.cellOfX.withUnsafeBufferPointer { cx in
                            for y in 1..<(h - 1) {
                                let row = (y / g.cell) * cw
                                for x in 1..<(w - 1) {
                                    let i = y * w + x
                                    let d1 = a[i + w + 1] - a[i - w - 1], d2 = a[i - w + 1] - a[i + w - 1]
                                    let gx = d1 + d2 + 2 * (a[i + 1] - a[i - 1])
                                    let gy = d1 - d2 + 2 * (a[i + w] - a[i - w])
                                    let c = row + cx[x]
                                    sxx[c] += gx * gx; syy[c] += gy * gy; sxy[c] += gx * gy
                                }
                            }
                        }
                    }
                }
            }
        }
        return (gxx, gyy, gxy)
    }

    /// Doubled-angle orientation vectors per cell, smoothed with a Gaussian; background
    /// cells weigh little, so the field near the mask edge follows the foreground.
    static func orientation(_ t: ([Float], [Float], [Float]), foreground fg: [Bool], grid g: CellGrid,
                            sigma: Float) -> ([Float], [Float]) {
        let (gxx, gyy, gxy) = t
        var vx = [Float](repeating: 0, count: gxx.count), vy = vx
        for i in 0..<gxx.count {
            let wgt: Float = fg[i] ? 1 : 0.05
            vx[i] = (gxx[i] - gyy[i]) * wgt
            vy[i] = 2 * gxy[i] * wgt
        }
        Grid.gaussianSmooth(&vx, width: g.cellsX, height: g.cellsY, sigma: sigma)
        Grid.gaussianSmooth(&vy, width: g.cellsX, height: g.cellsY, sigma: sigma)
        return (vx, vy)
    }

    struct FrequencyMap {
        var values: [Float]   // ridge frequency (1/px) per block
        var block: Int
        var blocksX: Int
        var blocksY: Int
    }

    /// Ridge frequency per block from x-signatures (mean spacing of zero crossings),
    /// with invalid blocks filled from their neighbours, then smoothed.
    func frequencyMap(_ norm: [Float], vx: [Float], vy: [Float], foreground fg: [Bool], grid g: CellGrid) -> FrequencyMap {
        let p = parameters
        let w = g.width, h = g.height, cs = g.cell
        let fb = max(cs, p.frequencyBlock)
        let bw = (w + fb - 1) / fb, bh = (h + fb - 1) / fb
        var freq = [Float](repeating: 0, count: bw * bh)
        var valid = [Float](repeating: 0, count: bw * bh)
        let sigL = max(8, p.signatureLength), sigW = max(1, p.signatureWidth)
        var signature = [Float](repeating: 0, count: sigL)
        norm.withUnsafeBufferPointer { a in
            for by in 0..<bh {
                for bx in 0..<bw {
                    let cxc = Float(bx * fb) + Float(fb) / 2, cyc = Float(by * fb) + Float(fb) / 2
                    let ci = min(g.cellsX - 1, Int(cxc) / cs), cj = min(g.cellsY - 1, Int(cyc) / cs)
                    guard fg[cj * g.cellsX + ci] else { continue }
                    let (ox, oy) = Grid.bilinear(vx, vy, width: g.cellsX, height: g.cellsY,
                                                 gx: cxc / Float(cs) - 0.5, gy: cyc / Float(cs) - 0.5)
                    let phi = 0.5 * fastAtan2(oy, ox)
                    let ux = cosf(phi), uy = sinf(phi) // across ridges
                    let ax = -uy, ay = ux               // along ridges
                    for k in 0..<sigL {
                        let t = Float(k) - Float(sigL - 1) / 2
                        var acc: Float = 0
                        for j in 0..<sigW {
                            let r = Float(j) - Float(sigW - 1) / 2
                            acc += Grid.sample(a, width: w, height: h,
                                               x: cxc - 0.5 + t * ux + r * ax, y: cyc - 0.5 + t * uy + r * ay)
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
            freq = [Float](repeating: medianFreq, count: freq.count)
        } else {
            freq = Grid.fill(freq, valid: valid, width: bw, height: bh, fallback: medianFreq)
        }
        return FrequencyMap(values: freq, block: fb, blocksX: bw, blocksY: bh)
    }

    /// Bank kernel per pixel (orientation bin * wavelengths + wavelength bin), from the
    /// bilinearly interpolated orientation vectors and frequencies, inside `region` cells.
    static func filterIndices(vx: [Float], vy: [Float], frequency fm: FrequencyMap, bank: KernelBank,
                              region: [Bool], grid g: CellGrid) -> [UInt16] {
        let w = g.width, h = g.height, cs = g.cell, cw = g.cellsX
        let nO = bank.orientations, nF = bank.wavelengths
        let fb = fm.block, bw = fm.blocksX, bh = fm.blocksY
        var index = [UInt16](repeating: 0, count: w * h)
        var tx0 = [Int](repeating: 0, count: w), tx1 = tx0, tfx = [Float](repeating: 0, count: w)
        var bx0 = tx0, bx1 = tx0, bfx = tfx
        for x in 0..<w {
            (tx0[x], tx1[x], tfx[x]) = Grid.axis(Float(x) + 0.5, cell: cs, count: cw)
            (bx0[x], bx1[x], bfx[x]) = Grid.axis(Float(x) + 0.5, cell: fb, count: bw)
        }
        let lmin = bank.minimumWavelength, lstep = bank.wavelengthStep
        let oScale = Float(nO) / (2 * Float.pi)
        let freq = fm.values
        index.withUnsafeMutableBufferPointer { idx in
            for y in 0..<h {
                let (ty0, ty1, tfy) = Grid.axis(Float(y) + 0.5, cell: cs, count: g.cellsY)
                let (by0, by1, bfy) = Grid.axis(Float(y) + 0.5, cell: fb, count: bh)
                let crow = (y / cs) * cw
                for x in 0..<w where region[crow + g.cellOfX[x]] {
                    let i00 = ty0 * cw + tx0[x], i01 = ty0 * cw + tx1[x]
                    let i10 = ty1 * cw + tx0[x], i11 = ty1 * cw + tx1[x]
                    let fx = tfx[x]
                    let ox = (vx[i00] * (1 - fx) + vx[i01] * fx) * (1 - tfy) + (vx[i10] * (1 - fx) + vx[i11] * fx) * tfy
                    let oy = (vy[i00] * (1 - fx) + vy[i01] * fx) * (1 - tfy) + (vy[i10] * (1 - fx) + vy[i11] * fx) * tfy
                    var ob = Int((fastAtan2(oy, ox) * oScale).rounded(.toNearestOrEven))
                    if ob < 0 { ob += nO }
                    if ob >= nO { ob -= nO }
                    let gfx = bfx[x]
                    let f = (freq[by0 * bw + bx0[x]] * (1 - gfx) + freq[by0 * bw + bx1[x]] * gfx) * (1 - bfy)
                        + (freq[by1 * bw + bx0[x]] * (1 - gfx) + freq[by1 * bw + bx1[x]] * gfx) * bfy
                    let lambda = 1 / max(f, 1e-3)
                    let fi = min(nF - 1, max(0, Int(((lambda - lmin) / lstep).rounded(.toNearestOrEven))))
                    idx[y * w + x] = UInt16(ob * nF + fi)
                }
            }
        }
        return index
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
        var first: Float = -1, last: Float = -1, count = 0
        var prev: Float = -1, dev: Float = 0
        var spacings = [Float]()
        for i in 1..<n where (sm[i - 1] < 0) != (sm[i] < 0) {
            let z = Float(i - 1) + sm[i - 1] / (sm[i - 1] - sm[i])
            if count == 0 { first = z } else { spacings.append(z - prev) }
            prev = z; last = z; count += 1
        }
        guard count >= 3 else { return nil }
        let half = (last - first) / Float(count - 1)
        // Half periods must be consistent.
        for d in spacings { dev += (d - half) * (d - half) }
        dev = (dev / Float(spacings.count)).squareRoot()
        guard dev < 0.4 * half else { return nil }
        return 2 * half
    }
}

/// Image size and its cell grid, with the cell column of every pixel column.
struct CellGrid {
    let width: Int, height: Int, cell: Int
    let cellsX: Int, cellsY: Int
    let cellOfX: [Int]

    init(width: Int, height: Int, cell: Int) {
        self.width = width; self.height = height; self.cell = cell
        cellsX = (width + cell - 1) / cell; cellsY = (height + cell - 1) / cell
        cellOfX = (0..<width).map { $0 / cell }
    }
}

/// The separable oriented Gabor filter over one normalised image (kept zero-padded so
/// the kernels need no bounds checks).
struct SeparableGabor {
    let bank: KernelBank
    let width: Int, height: Int, pad: Int, paddedWidth: Int
    let source: [Float]
    let alongOffsets: [Int32], acrossOffsets: [Int32]

    init(bank: KernelBank, width w: Int, height h: Int, source norm: [Float]) {
        self.bank = bank; width = w; height = h
        pad = bank.maxRadius + 1
        let pw = w + 2 * pad
        paddedWidth = pw
        var src = [Float](repeating: 0, count: pw * (h + 2 * pad))
        for y in 0..<h {
            for x in 0..<w { src[(y + pad) * pw + x + pad] = norm[y * w + x] }
        }
        source = src
        alongOffsets = bank.alongDX.indices.map { Int32(bank.alongDY[$0] * pw + bank.alongDX[$0]) }
        acrossOffsets = bank.acrossDX.indices.map { Int32(bank.acrossDY[$0] * pw + bank.acrossDX[$0]) }
    }

    /// Along-ridge smoothing inside `alongRegion`, then the across-ridge band-pass inside
    /// `outRegion` (cells); returns the response per pixel, zero outside `outRegion`.
    func apply(index: [UInt16], alongRegion: [Bool], outRegion: [Bool], grid g: CellGrid) -> [Float] {
        let w = width, h = height, pad = pad, pw = paddedWidth, cs = g.cell, cw = g.cellsX
        var along = [Float](repeating: 0, count: source.count)
        var response = [Float](repeating: 0, count: w * h)
        source.withUnsafeBufferPointer { s in
            along.withUnsafeMutableBufferPointer { d in
                alongOffsets.withUnsafeBufferPointer { off in
                    bank.alongWeight.withUnsafeBufferPointer { wt in
                        bank.alongStart.withUnsafeBufferPointer { st in
                            index.withUnsafeBufferPointer { fi in
                                for y in 0..<h {
                                    let crow = (y / cs) * cw
                                    for x in 0..<w where alongRegion[crow + g.cellOfX[x]] {
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
        along.withUnsafeBufferPointer { s in
            response.withUnsafeMutableBufferPointer { o in
                acrossOffsets.withUnsafeBufferPointer { off in
                    bank.acrossWeight.withUnsafeBufferPointer { wt in
                        bank.acrossStart.withUnsafeBufferPointer { st in
                            index.withUnsafeBufferPointer { fi in
                                for y in 0..<h {
                                    let crow = (y / cs) * cw
                                    for x in 0..<w where outRegion[crow + g.cellOfX[x]] {
                                        let k = Int(fi[y * w + x])
                                        let c = (y + pad) * pw + x + pad
                                        var acc: Float = 0
                                        for t in Int(st[k])..<Int(st[k + 1]) { acc += s[c + Int(off[t])] * wt[t] }
                                        o[y * w + x] = acc
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return response
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
