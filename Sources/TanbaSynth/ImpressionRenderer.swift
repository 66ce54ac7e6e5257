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
enum ImpressionRenderer {
    static func render(_ master: MasterFingerprint, _ p: ImpressionParameters, width: Int, height: Int,
                       using rng: inout SeededGenerator) -> FingerprintImage {
        let count = width * height
        var ridge = [Float](repeating: 0, count: count)
        var contact = [Float](repeating: 0, count: count)
        var rim = [Float](repeating: 0, count: count)
        var field = [Float](repeating: 0, count: count)

        // Ragged contact border: a medium-scale field perturbs the outline.
        ValueNoise(width: width, height: height, cell: 22, using: &rng).render(width: width, height: height, into: &field)
        traceToMaster(master, p, width: width, height: height, edgeJitter: field,
                      ridge: &ridge, contact: &contact, rim: &rim)

        var ink = [Float](repeating: 0, count: count)
        applySkin(p, width: width, height: height, ridge: ridge, contact: contact, rim: rim, ink: &ink,
                  scratch: &field, using: &rng)
        drawScratches(p.scratches, width: width, height: height, ink: &ink, using: &rng)

        var gray = [Float](repeating: 0, count: count)
        compose(p, width: width, height: height, ink: ink, gray: &gray, scratch: &field, using: &rng)
        gaussianBlur(&gray, width: width, height: height, sigma: p.blurSigma, scratch: &field)
        let pixels = quantize(gray, noiseSigma: p.noiseSigma, using: &rng)
        return FingerprintImage(width: width, height: height, pixels: pixels, dpi: 500)
    }

    // MARK: 1–2. Geometry and contact

    /// For every output pixel: the master ridge value there, how firmly that skin touches the
    /// glass (0…1), and how close it is to the rim of the contact (0 inside, 1 at the border).
    private static func traceToMaster(_ master: MasterFingerprint, _ p: ImpressionParameters, width: Int, height: Int,
                                      edgeJitter: [Float], ridge: inout [Float], contact: inout [Float],
                                      rim: inout [Float]) {
        // Inverse mapping on a coarse grid: output → (undo placement) → undo distortion → master.
        let step = 8
        let gw = width / step + 2, gh = height / step + 2
        var gx = [Float](repeating: 0, count: gw * gh), gy = gx
        let cosR = cos(p.rotation), sinR = sin(p.rotation)
        let c = p.contact
        let anchorX = c.centerX + (c.a2 - c.a1) / 2, anchorY = c.centerY + (c.b2 - c.b1) / 2
        let originX = Double(width) / 2 + p.shiftX, originY = Double(height) / 2 + p.shiftY
        for j in 0..<gh {
            for i in 0..<gw {
                let qx = Double(i * step) - originX, qy = Double(j * step) - originY
                let dx = cosR * qx + sinR * qy + anchorX
                let dy = -sinR * qx + cosR * qy + anchorY
                let m = p.distortion.inverse(dx, dy)
                gx[j * gw + i] = Float(m.x)
                gy[j * gw + i] = Float(m.y)
            }
        }

        let area = master.area
        let mw = master.width, mh = master.height
        let invStep: Float = 1 / Float(step)
        master.ridgeMap.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let fy = Float(y) * invStep
                let j = Int(fy)
                let ty = fy - Float(j)
                for x in 0..<width {
                    let fx = Float(x) * invStep
                    let i = Int(fx)
                    let tx = fx - Float(i)
                    let g = j * gw + i
                    let mx = (gx[g] + tx * (gx[g + 1] - gx[g])) * (1 - ty) + (gx[g + gw] + tx * (gx[g + gw + 1] - gx[g + gw])) * ty
                    let my = (gy[g] + tx * (gy[g + 1] - gy[g])) * (1 - ty) + (gy[g + gw] + tx * (gy[g + gw + 1] - gy[g + gw])) * ty
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

    // MARK: 3. Skin condition

    private static func applySkin(_ p: ImpressionParameters, width: Int, height: Int, ridge: [Float],
                                  contact: [Float], rim: [Float], ink: inout [Float], scratch: inout [Float],
                                  using rng: inout SeededGenerator) {
        let count = width * height
        var moistureField = [Float](repeating: 0, count: count)
        ValueNoise(width: width, height: height, cell: rng.uniform(60, 110), using: &rng)
            .render(width: width, height: height, into: &moistureField)
        // Fine grain at about a ridge width (rendered into the caller's scratch buffer).
        ValueNoise(width: width, height: height, cell: rng.uniform(3.5, 5.5), using: &rng)
            .render(width: width, height: height, into: &scratch)
        var blotches = [Float](repeating: 0, count: count)
        ValueNoise(width: width, height: height, cell: rng.uniform(6, 9), using: &rng)
            .render(width: width, height: height, into: &blotches)
        var specks = [Float](repeating: 0, count: count)
        ValueNoise(width: width, height: height, cell: 2.5, using: &rng).render(width: width, height: height, into: &specks)

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
                v *= 1 - min(1, max(0, (scratch[i] - gapThreshold) * 10))
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
    private static func drawScratches(_ n: Int, width: Int, height: Int, ink: inout [Float],
                                      using rng: inout SeededGenerator) {
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

    private static func compose(_ p: ImpressionParameters, width: Int, height: Int, ink: [Float],
                                gray: inout [Float], scratch: inout [Float], using rng: inout SeededGenerator) {
        let count = width * height
        var shade = [Float](repeating: 0, count: count)
        ValueNoise(width: width, height: height, cell: rng.uniform(90, 160), using: &rng)
            .render(width: width, height: height, into: &shade)
        ValueNoise(width: width, height: height, cell: rng.uniform(40, 80), using: &rng)
            .render(width: width, height: height, into: &scratch)
        let background = Float(p.background), bgVar = Float(p.backgroundVariation)
        let ridgeGray = Float(p.ridgeGray), contrastVar = Float(p.contrastVariation)
        for i in 0..<count {
            let bg = min(255, background + bgVar * (2 * shade[i] - 1))
            // Ridge darkness varies slowly (uneven pressure and illumination).
            let depth = (bg - ridgeGray) * (1 - contrastVar * scratch[i])
            gray[i] = bg - ink[i] * depth
        }
    }

    /// Separable Gaussian blur (radius 3σ, at least 1) in place.
    private static func gaussianBlur(_ image: inout [Float], width: Int, height: Int, sigma: Double,
                                     scratch: inout [Float]) {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var weights = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
        image.withUnsafeMutableBufferPointer { img in
            scratch.withUnsafeMutableBufferPointer { tmp in
                // Horizontal pass into tmp, vertical pass back into img; edges clamp.
                for y in 0..<height {
                    let row = y * width
                    for x in 0..<width {
                        var acc: Float = 0
                        for k in -radius...radius {
                            acc += weights[k + radius] * img[row + min(width - 1, max(0, x + k))]
                        }
                        tmp[row + x] = acc
                    }
                }
                for y in 0..<height {
                    for x in 0..<width {
                        var acc: Float = 0
                        for k in -radius...radius {
                            acc += weights[k + radius] * tmp[min(height - 1, max(0, y + k)) * width + x]
                        }
                        img[y * width + x] = acc
                    }
                }
            }
        }
    }

    /// Adds sensor noise and rounds to 8 bits. The noise is an Irwin–Hall sum of four
    /// 16-bit uniforms from one 64-bit draw: close enough to Gaussian, and cheap.
    private static func quantize(_ gray: [Float], noiseSigma: Double, using rng: inout SeededGenerator) -> [UInt8] {
        // The sum of four U(0,1) has variance 1/3.
        let scale = Float(noiseSigma * 3.0.squareRoot() / 65536)
        var pixels = [UInt8](repeating: 0, count: gray.count)
        for i in gray.indices {
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
