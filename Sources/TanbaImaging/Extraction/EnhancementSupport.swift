#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The 1-D kernels of the separable oriented Gabor filter, quantised by orientation and
/// wavelength. Kernel `o * wavelengths + f` is for gradient (across-ridge) angle
/// `o * pi / orientations` and wavelength `minimumWavelength + f * wavelengthStep`.
/// Taps are integer pixel offsets stepped along the dominant axis of the kernel's line,
/// weighted by their exact projection onto it.
final class KernelBank: Sendable {
    let orientations: Int
    let wavelengths: Int
    let minimumWavelength: Float
    let wavelengthStep: Float
    let maxRadius: Int
    let alongStart: [Int32], alongDX: [Int], alongDY: [Int], alongWeight: [Float]
    let acrossStart: [Int32], acrossDX: [Int], acrossDY: [Int], acrossWeight: [Float]

    static let radiusCap = 20

    init(_ p: RidgeEnhancer.Parameters) {
        let nO = max(4, p.orientationBins)
        let step = max(0.05, p.wavelengthStep)
        let nF = max(1, Int(((p.maximumWavelength - p.minimumWavelength) / step).rounded(.down)) + 1)
        orientations = nO; wavelengths = nF
        minimumWavelength = p.minimumWavelength; wavelengthStep = step
        var aS: [Int32] = [0], aX = [Int](), aY = [Int](), aW = [Float]()
        var cS: [Int32] = [0], cX = [Int](), cY = [Int](), cW = [Float]()
        var maxR = 1
        for o in 0..<nO {
            let theta = Double(o) * Double.pi / Double(nO)
            let ux = cos(theta), uy = sin(theta)      // across ridges (gradient)
            let ax = -uy, ay = ux                     // along ridges
            for f in 0..<nF {
                let lambda = Double(p.minimumWavelength + Float(f) * step)
                // Along: Gaussian smoothing.
                let sa = Double(p.sigmaAlong) * lambda
                var taps = KernelBank.line(dx: ax, dy: ay, reach: min(Double(KernelBank.radiusCap), Double(p.extent) * sa))
                var ws = taps.map { exp(-($0.d * $0.d) / (2 * sa * sa)) }
                let total = ws.reduce(0, +)
                for (t, wv) in zip(taps, ws) {
                    aX.append(t.x); aY.append(t.y); aW.append(Float(wv / total))
                    maxR = max(maxR, abs(t.x), abs(t.y))
                }
                aS.append(Int32(aX.count))
                // Across: zero-mean cosine-modulated Gaussian, unit gain at the tuned wavelength.
                let sx = Double(p.sigmaAcross) * lambda
                taps = KernelBank.line(dx: ux, dy: uy, reach: min(Double(KernelBank.radiusCap), Double(p.extent) * sx))
                let g = taps.map { exp(-($0.d * $0.d) / (2 * sx * sx)) }
                let c = taps.map { cos(2 * Double.pi * $0.d / lambda) }
                let c0 = zip(g, c).map { $0 * $1 }.reduce(0, +) / g.reduce(0, +)
                ws = zip(g, c).map { $0 * ($1 - c0) }
                let response = zip(ws, c).map { $0 * $1 }.reduce(0, +)
                for (t, wv) in zip(taps, ws) {
                    cX.append(t.x); cY.append(t.y); cW.append(Float(wv / response))
                    maxR = max(maxR, abs(t.x), abs(t.y))
                }
                cS.append(Int32(cX.count))
            }
        }
        alongStart = aS; alongDX = aX; alongDY = aY; alongWeight = aW
        acrossStart = cS; acrossDX = cX; acrossDY = cY; acrossWeight = cW
        maxRadius = maxR
    }

    /// Integer taps along the line through the origin with unit direction (dx, dy), one per
    /// pixel of the dominant axis, out to `reach` pixels; `d` is each tap's projection.
    static func line(dx: Double, dy: Double, reach: Double) -> [(x: Int, y: Int, d: Double)] {
        var out = [(x: Int, y: Int, d: Double)]()
        if abs(dx) >= abs(dy) {
            let k = Int((reach * abs(dx)).rounded(.down))
            for i in -k...k {
                let x = i, y = Int((Double(i) * dy / dx).rounded())
                out.append((x, y, Double(x) * dx + Double(y) * dy))
            }
        } else {
            let k = Int((reach * abs(dy)).rounded(.down))
            for i in -k...k {
                let y = i, x = Int((Double(i) * dx / dy).rounded())
                out.append((x, y, Double(x) * dx + Double(y) * dy))
            }
        }
        return out
    }
}

/// Small helpers on coarse grids (cells and blocks), where cost does not matter.
enum Grid {
    /// Separable Gaussian smoothing with edge clamping.
    static func gaussianSmooth(_ a: inout [Float], width: Int, height: Int, sigma: Float) {
        guard sigma > 0 else { return }
        let r = max(1, Int((3 * sigma).rounded(.up)))
        var k = (-r...r).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
        let s = k.reduce(0, +); k = k.map { $0 / s }
        var tmp = a
        for y in 0..<height {
            for x in 0..<width {
                var acc: Float = 0
                for j in -r...r { acc += k[j + r] * a[y * width + min(width - 1, max(0, x + j))] }
                tmp[y * width + x] = acc
            }
        }
        for y in 0..<height {
            for x in 0..<width {
                var acc: Float = 0
                for j in -r...r { acc += k[j + r] * tmp[min(height - 1, max(0, y + j)) * width + x] }
                a[y * width + x] = acc
            }
        }
    }

    /// Interpolation coordinates of a pixel position on a grid of `count` cells of size `cell`
    /// whose values sit at the cell centres.
    @inline(__always)
    static func axis(_ pos: Float, cell: Int, count: Int) -> (Int, Int, Float) {
        let g = min(Float(count - 1), max(0, pos / Float(cell) - 0.5))
        let i0 = Int(g)
        return (i0, min(count - 1, i0 + 1), g - Float(i0))
    }

    /// Bilinear interpolation of a vector field at grid coordinates (gx, gy).
    static func bilinear(_ a: [Float], _ b: [Float], width: Int, height: Int, gx: Float, gy: Float) -> (Float, Float) {
        let x = min(Float(width - 1), max(0, gx)), y = min(Float(height - 1), max(0, gy))
        let x0 = Int(x), y0 = Int(y), x1 = min(width - 1, x0 + 1), y1 = min(height - 1, y0 + 1)
        let fx = x - Float(x0), fy = y - Float(y0)
        func at(_ v: [Float]) -> Float {
            (v[y0 * width + x0] * (1 - fx) + v[y0 * width + x1] * fx) * (1 - fy)
                + (v[y1 * width + x0] * (1 - fx) + v[y1 * width + x1] * fx) * fy
        }
        return (at(a), at(b))
    }

    /// Bilinear sample of an image, clamped at the edges.
    @inline(__always)
    static func sample(_ a: UnsafeBufferPointer<Float>, width: Int, height: Int, x: Float, y: Float) -> Float {
        let cx = min(Float(width - 1), max(0, x)), cy = min(Float(height - 1), max(0, y))
        let x0 = min(width - 2, Int(cx)), y0 = min(height - 2, Int(cy))
        let fx = cx - Float(x0), fy = cy - Float(y0)
        let i = y0 * width + x0
        return (a[i] * (1 - fx) + a[i + 1] * fx) * (1 - fy) + (a[i + width] * (1 - fx) + a[i + width + 1] * fx) * fy
    }

    /// Fills and smooths a block map from its valid entries by normalised Gaussian
    /// convolution, widening the Gaussian where valid neighbours are scarce.
    static func fill(_ v: [Float], valid: [Float], width: Int, height: Int, fallback: Float) -> [Float] {
        var out = [Float](repeating: fallback, count: v.count)
        var assigned = [Bool](repeating: false, count: v.count)
        let weighted = zip(v, valid).map { $0 * $1 }
        for sigma: Float in [1, 2.5, 6] {
            var num = weighted, den = valid
            gaussianSmooth(&num, width: width, height: height, sigma: sigma)
            gaussianSmooth(&den, width: width, height: height, sigma: sigma)
            for i in 0..<v.count where !assigned[i] && den[i] > 0.15 {
                out[i] = num[i] / den[i]; assigned[i] = true
            }
        }
        return out
    }
}

/// Binary morphology on the cell grid.
enum Morphology {
    static func dilate(_ m: [Bool], width: Int, height: Int, radius: Int) -> [Bool] {
        guard radius > 0 else { return m }
        var out = m
        for y in 0..<height {
            for x in 0..<width where !m[y * width + x] {
                search: for j in max(0, y - radius)...min(height - 1, y + radius) {
                    for i in max(0, x - radius)...min(width - 1, x + radius) where m[j * width + i] {
                        out[y * width + x] = true; break search
                    }
                }
            }
        }
        return out
    }

    static func erode(_ m: [Bool], width: Int, height: Int, radius: Int) -> [Bool] {
        dilate(m.map { !$0 }, width: width, height: height, radius: radius).map { !$0 }
    }

    /// Closing, opening, the largest 8-connected component, and hole filling.
    static func clean(_ m: [Bool], width: Int, height: Int) -> [Bool] {
        var a = erode(dilate(m, width: width, height: height, radius: 1), width: width, height: height, radius: 1)
        a = dilate(erode(a, width: width, height: height, radius: 1), width: width, height: height, radius: 1)
        // Largest component.
        var label = [Int](repeating: -1, count: a.count)
        var best = -1, bestSize = 0, next = 0
        var stack = [Int]()
        for s in 0..<a.count where a[s] && label[s] < 0 {
            var size = 0
            label[s] = next; stack.append(s)
            while let c = stack.popLast() {
                size += 1
                let cx = c % width, cy = c / width
                for j in max(0, cy - 1)...min(height - 1, cy + 1) {
                    for i in max(0, cx - 1)...min(width - 1, cx + 1) where a[j * width + i] && label[j * width + i] < 0 {
                        label[j * width + i] = next; stack.append(j * width + i)
                    }
                }
            }
            if size > bestSize { bestSize = size; best = next }
            next += 1
        }
        guard best >= 0 else { return a }
        a = label.map { $0 == best }
        // Fill holes: background not reachable from the border becomes foreground.
        var outside = [Bool](repeating: false, count: a.count)
        for y in 0..<height {
            for x in 0..<width where (x == 0 || y == 0 || x == width - 1 || y == height - 1) && !a[y * width + x] {
                outside[y * width + x] = true; stack.append(y * width + x)
            }
        }
        while let c = stack.popLast() {
            let cx = c % width, cy = c / width
            for (i, j) in [(cx - 1, cy), (cx + 1, cy), (cx, cy - 1), (cx, cy + 1)]
            where i >= 0 && j >= 0 && i < width && j < height && !a[j * width + i] && !outside[j * width + i] {
                outside[j * width + i] = true; stack.append(j * width + i)
            }
        }
        return outside.map { !$0 }
    }
}
