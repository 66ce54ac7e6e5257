import Foundation
import TanbaCore

/// Turns a master and one set of `ImpressionParameters` into a sensor image.
///
/// The stages follow SFinGe's impression pipeline (Handbook of Fingerprint Recognition, 2nd
/// ed., §8.4), all at the output resolution:
///
/// 1. geometry — every output pixel is traced back to the master through the finger's
///    placement (rotation, translation) and the inverse plastic distortion; the map is
///    smooth, so it is evaluated on an 8-pixel grid and interpolated;
/// 2. contact — the ridges show only where the skin touches the glass: the displaced,
///    shrunk outline, possibly cut by a straight edge, with a ragged border;
/// 3. skin — dry skin (and the low-pressure rim of the contact) prints thin, broken ridges,
///    wet skin thick ridges with merged blotches; the master's smooth ridge profile is
///    thresholded at a moisture-dependent level, which is an erosion or a dilation of the
///    ridges in one step, and fine-grained noise breaks or joins them;
/// 4. sensor — specks, optional scratches, background shading, ridge-darkness variation,
///    a final Gaussian blur and pixel noise.
///
/// All per-pixel work happens on `Planes`: named float planes carved out of one allocation
/// and reached through raw pointers, so the hot loops neither allocate nor bounds-check.
enum ImpressionRenderer {
    static func render(_ master: MasterFingerprint, _ p: ImpressionParameters, width: Int, height: Int,
                       using rng: inout SeededGenerator) -> FingerprintImage {
        var storage = [Float](repeating: 0, count: width * height * Planes.Plane.allCases.count)
        let pixels = storage.withUnsafeMutableBufferPointer { buffer -> [UInt8] in
            let planes = Planes(base: buffer.baseAddress!, width: width, height: height)
            // Ragged contact border: a medium-scale field perturbs the outline.
            planes.noise(.jitter, cell: 22, using: &rng)
            traceToMaster(master, p, planes)
            applySkin(p, planes, using: &rng)
            drawScratches(p.scratches, planes, using: &rng)
            compose(p, planes, using: &rng)
            gaussianBlur(planes[.gray], scratch: planes[.scratch], width: width, height: height, sigma: p.blurSigma)
            return quantize(planes[.gray], count: width * height, noiseSigma: p.noiseSigma, using: &rng)
        }
        return FingerprintImage(width: width, height: height, pixels: pixels, dpi: 500)
    }

    /// The working planes of one impression, all `width*height` floats, row-major.
    struct Planes {
        enum Plane: Int, CaseIterable {
            case ridge      // master ridge profile seen through the geometry
            case contact    // 0…1, how firmly the skin touches the glass
            case rim        // 0 inside the contact, → 1 at its border (lower pressure)
            case jitter, moisture, grain, blotches, specks, shade, contrast   // noise fields
            case ink        // 0…1, how much ridge ink reaches the sensor
            case gray       // rendered gray levels
            case scratch    // temporary
        }
        let base: UnsafeMutablePointer<Float>
        let width: Int, height: Int

        subscript(_ plane: Plane) -> UnsafeMutablePointer<Float> { base + plane.rawValue * width * height }

        /// Fills a plane with value noise of the given cell size.
        func noise(_ plane: Plane, cell: Double, using rng: inout SeededGenerator) {
            ValueNoise(width: width, height: height, cell: cell, using: &rng)
                .render(width: width, height: height, into: self[plane])
        }
    }

    // MARK: 1–2. Geometry and contact

    /// For every output pixel: the master ridge value there, how firmly that skin touches the
    /// glass (0…1), and how close it is to the rim of the contact (0 inside, 1 at the border).
    private static func traceToMaster(_ master: MasterFingerprint, _ p: ImpressionParameters, _ planes: Planes) {
        let width = planes.width, height = planes.height
        let ridge = planes[.ridge], contact = planes[.contact], rim = planes[.rim], edgeJitter = planes[.jitter]
        // Inverse mapping on a coarse grid: output → (undo placement) → undo distortion → master.
        // Stored interleaved: master x, master y per grid node.
        let step = 8
        let gw = width / step + 2, gh = height / step + 2
        var grid = [Float](repeating: 0, count: 2 * gw * gh)
        let cosR = cos(p.rotation), sinR = sin(p.rotation)
        let c = p.contact
        let anchorX = c.centerX + (c.a2 - c.a1) / 2, anchorY = c.centerY + (c.b2 - c.b1) / 2
        let originX = Double(width) / 2 + p.shiftX, originY = Double(height) / 2 + p.shiftY
        for j in 0..<gh {
            for i in 0..<gw {
                let qx = Double(i * step) - originX, qy = Double(j * step) - originY
                let m = p.distortion.inverse(cosR * qx + sinR * qy + anchorX, -sinR * qx + cosR * qy + anchorY)
                grid[2 * (j * gw + i)] = Float(m.x)
                grid[2 * (j * gw + i) + 1] = Float(m.y)
            }
        }

        let area = master.area
        let mw = master.width, mh = master.height
        let invStep: Float = 1 / Float(step)
        master.ridgeMap.withUnsafeBufferPointer { src in
            grid.withUnsafeBufferPointer { grid in
                for y in 0..<height {
                    let fy = Float(y) * invStep
                    let j = Int(fy)
                    let ty = fy - Float(j)
                    for x in 0..<width {
                        let fx = Float(x) * invStep
                        let i = Int(fx)
                        let tx = fx - Float(i)
                        // Bilinear interpolation of the grid's four corners.
                        let g00 = 2 * (j * gw + i), g01 = g00 + 2, g10 = g00 + 2 * gw, g11 = g10 + 2
                        let w00 = (1 - tx) * (1 - ty), w01 = tx * (1 - ty), w10 = (1 - tx) * ty, w11 = tx * ty
                        let mx = w00 * grid[g00] + w01 * grid[g01] + w10 * grid[g10] + w11 * grid[g11]
                        let my = w00 * grid[g00 + 1] + w01 * grid[g01 + 1] + w10 * grid[g10 + 1] + w11 * grid[g11 + 1]
                        let o = y * width + x

                        // Bilinear sample of the master's ridge profile.
                        let ix = Int(mx.rounded(.down)), iy = Int(my.rounded(.down))
                        if ix >= 0, iy >= 0, ix + 1 < mw, iy + 1 < mh {
                            let ux = mx - Float(ix), uy = my - Float(iy)
                            let s = iy * mw + ix
                            let top = src[s] + ux * (src[s + 1] - src[s])
                            let bottom = src[s + mw] + ux * (src[s + mw + 1] - src[s + mw])
                            ridge[o] = top + uy * (bottom - top)
                        } else {
                            ridge[o] = 0
                        }

                        let dmx = Double(mx), dmy = Double(my)
                        let rc = c.radius(dmx, dmy) + 0.12 * (Double(edgeJitter[o]) - 0.5)
                        var inside = smoothstep((1 - rc) / 0.12) * smoothstep((1.03 - area.radius(dmx, dmy)) / 0.05)
                        if let cut = p.cut {
                            let s = cut.normalX * (dmx - anchorX) + cut.normalY * (dmy - anchorY)
                            inside *= smoothstep((cut.offset - s + 14 * (Double(edgeJitter[o]) - 0.5)) / 10)
                        }
                        contact[o] = Float(inside)
                        rim[o] = Float(1 - smoothstep((1 - rc) / 0.35))
                    }
                }
            }
        }
    }

    // MARK: 3. Skin condition

    private static func applySkin(_ p: ImpressionParameters, _ planes: Planes, using rng: inout SeededGenerator) {
        planes.noise(.moisture, cell: rng.uniform(60, 110), using: &rng)   // slow moisture changes
        planes.noise(.grain, cell: rng.uniform(3.5, 5.5), using: &rng)     // about a ridge width
        planes.noise(.blotches, cell: rng.uniform(6, 9), using: &rng)      // a few ridges wide
        planes.noise(.specks, cell: 2.5, using: &rng)
        let ridge = planes[.ridge], contact = planes[.contact], rim = planes[.rim]
        let moistureField = planes[.moisture], grain = planes[.grain], blotches = planes[.blotches]
        let specks = planes[.specks], ink = planes[.ink]
        let count = planes.width * planes.height

        let moisture = Float(p.moisture), variation = Float(p.moistureVariation), edgeDrying = Float(p.edgeDrying)
        // Value-noise values concentrate around ½, so a speck threshold near the top of the
        // range hits roughly the requested fraction of pixels.
        let speckThreshold = Float(1 - 2.2 * p.speckleDensity.squareRoot())
        for i in 0..<count {
            let c = contact[i]
            guard c > 0.001 else { ink[i] = 0; continue }
            // Local dryness: + dry, − wet.
            let dry = moisture + variation * (2 * moistureField[i] - 1) + edgeDrying * rim[i]
            // Threshold the smooth ridge profile (≈ ±1.3): raising it thins the ridges (dry),
            // lowering it thickens them (wet).
            let level = 0.55 * dry
            var v = min(1, max(0, (ridge[i] - level) * 1.6 + 0.5))
            if dry > 0 {
                // Dry: ridges break where the fine grain is high; more gaps the drier.
                let gapThreshold = 0.97 - 0.55 * min(1, dry)
                v *= 1 - min(1, max(0, (grain[i] - gapThreshold) * 10))
            } else {
                // Wet: ink spreads into the valleys as blotches a few ridges wide.
                let blotThreshold = 0.9 - 0.35 * min(1, -dry)
                v = max(v, min(1, max(0, (blotches[i] - blotThreshold) * 8)))
            }
            if specks[i] > speckThreshold { v *= 0.15 }
            ink[i] = v * c
        }
    }

    /// Thin straight marks across the image, as left by scratches on a sensor's glass: they
    /// interrupt the ridges (bright) along a one- or two-pixel line.
    private static func drawScratches(_ n: Int, _ planes: Planes, using rng: inout SeededGenerator) {
        let width = planes.width, height = planes.height, ink = planes[.ink]
        for _ in 0..<n {
            let x0 = rng.uniform(0, Double(width)), y0 = rng.uniform(0, Double(height))
            let angle = rng.uniform(0, Double.pi)
            let length = rng.uniform(0.3, 0.9) * Double(max(width, height))
            let half = rng.uniform(0.5, 1.2)
            let steps = Int(length)
            for s in 0..<steps {
                let t = Double(s) - length / 2
                let cx = x0 + t * cos(angle), cy = y0 + t * sin(angle)
                for oy in -1...1 {
                    for ox in -1...1 {
                        let x = Int(cx) + ox, y = Int(cy) + oy
                        guard x >= 0, x < width, y >= 0, y < height else { continue }
                        let d = ((Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)).squareRoot()
                        if d <= half { ink[y * width + x] *= 0.25 }
                    }
                }
            }
        }
    }

    // MARK: 4. Sensor

    private static func compose(_ p: ImpressionParameters, _ planes: Planes, using rng: inout SeededGenerator) {
        planes.noise(.shade, cell: rng.uniform(90, 160), using: &rng)
        planes.noise(.contrast, cell: rng.uniform(40, 80), using: &rng)
        let shade = planes[.shade], contrast = planes[.contrast], ink = planes[.ink], gray = planes[.gray]
        let count = planes.width * planes.height
        let background = Float(p.background), bgVar = Float(p.backgroundVariation)
        let ridgeGray = Float(p.ridgeGray), contrastVar = Float(p.contrastVariation)
        for i in 0..<count {
            let bg = min(255, background + bgVar * (2 * shade[i] - 1))
            // Ridge darkness varies slowly (uneven pressure and illumination).
            let depth = (bg - ridgeGray) * (1 - contrastVar * contrast[i])
            gray[i] = bg - ink[i] * depth
        }
    }

    /// Separable Gaussian blur (radius 3σ, at least 1) in place; edges clamp.
    private static func gaussianBlur(_ image: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                     width: Int, height: Int, sigma: Double) {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var weights = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
        weights.withUnsafeBufferPointer { w in
            // Horizontal pass into scratch, vertical pass back into the image.
            for y in 0..<height {
                let row = y * width
                for x in 0..<width {
                    var acc: Float = 0
                    for k in -radius...radius {
                        acc += w[k + radius] * image[row + min(width - 1, max(0, x + k))]
                    }
                    scratch[row + x] = acc
                }
            }
            for y in 0..<height {
                for x in 0..<width {
                    var acc: Float = 0
                    for k in -radius...radius {
                        acc += w[k + radius] * scratch[min(height - 1, max(0, y + k)) * width + x]
                    }
                    image[y * width + x] = acc
                }
            }
        }
    }

    /// Adds sensor noise and rounds to 8 bits. The noise is an Irwin–Hall sum of four
    /// 16-bit uniforms from one 64-bit draw: close enough to Gaussian, and cheap.
    private static func quantize(_ gray: UnsafeMutablePointer<Float>, count: Int, noiseSigma: Double,
                                 using rng: inout SeededGenerator) -> [UInt8] {
        // The sum of four U(0,1) has variance 1/3.
        let scale = Float(noiseSigma * 3.0.squareRoot() / 65536)
        var pixels = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            let r = rng.next()
            let sum = Float(r & 0xFFFF) + Float((r >> 16) & 0xFFFF) + Float((r >> 32) & 0xFFFF) + Float(r >> 48)
            let v = gray[i] + (sum - 2 * 65535) * scale
            pixels[i] = UInt8(min(255, max(0, v.rounded())))
        }
        return pixels
    }

    @inline(__always)
    private static func smoothstep(_ t: Double) -> Double {
        let c = min(1, max(0, t))
        return c * c * (3 - 2 * c)
    }
}
