import Foundation
import TanbaCore

/// A finger template prepared for comparison: minutiae normalised to 500 dpi in a
/// right-handed frame (y up), and one bit cylinder per usable minutia.
///
/// Structure-of-arrays, in the blocked layout the SIMD kernels stream: cylinders grouped
/// by eight, word-major inside a group (see `tanba_cylinders`), every per-cylinder array
/// padded to a multiple of eight. Geometry is only touched for the few pairs that survive
/// the local stage.
public struct MatchTemplate: Sendable {
    public let geometry: CylinderGeometry
    /// Number of minutiae with a valid cylinder (the only ones that take part in matching).
    public let count: Int
    /// Position in 500-dpi pixels (y pointing up).
    public let x: [Float]
    public let y: [Float]
    /// Direction in ISO units (256 per turn), padded.
    public let angle: [UInt8]
    /// Blocked cylinder bits: `paddedCount × wordCount` words.
    public let bits: [UInt64]
    /// Popcount of each cylinder and its square root (exact float integers / correctly rounded), padded.
    public let norms: [Float]
    public let rootNorms: [Float]
    /// FNV-1a over the cylinders: orders templates canonically for exactly symmetric scores.
    public let contentHash: UInt64

    public var wordCount: Int { geometry.wordCount }
    public var paddedCount: Int { (count + 7) & ~7 }

    /// Builds a template from cylinders given one after another (`count × wordCount` words).
    public init(geometry: CylinderGeometry, x: [Float], y: [Float], angle: [UInt8], cylinders: [UInt64]) {
        let n = x.count, w = geometry.wordCount
        precondition(y.count == n && angle.count == n && cylinders.count == n * w, "inconsistent template arrays")
        let padded = (n + 7) & ~7
        var blocked = [UInt64](repeating: 0, count: padded * w)
        var norms = [Float](repeating: 0, count: padded), roots = [Float](repeating: 0, count: padded)
        for i in 0..<n {
            var pop = 0
            for k in 0..<w {
                let v = cylinders[i * w + k]
                blocked[((i >> 3) * w + k) * 8 + (i & 7)] = v
                pop += v.nonzeroBitCount
            }
            norms[i] = Float(pop)
            roots[i] = Float(pop).squareRoot()
        }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in cylinders { h = (h ^ v) &* 0x100_0000_01b3 }
        for v in angle { h = (h ^ UInt64(v)) &* 0x100_0000_01b3 }
        self.geometry = geometry
        self.count = n
        self.x = x
        self.y = y
        self.angle = angle + [UInt8](repeating: 0, count: padded - n)
        self.bits = blocked
        self.norms = norms
        self.rootNorms = roots
        self.contentHash = h
    }

    /// Word `k` of cylinder `i`.
    @inlinable public func word(_ i: Int, _ k: Int) -> UInt64 {
        bits[((i >> 3) * wordCount + k) * 8 + (i & 7)]
    }

    /// Resident bytes of this template's arrays (what a gallery entry costs).
    public var residentBytes: Int {
        bits.count * 8 + norms.count * 4 + rootNorms.count * 4 + angle.count + x.count * 4 + y.count * 4
    }
}

/// Builds cylinders from minutiae.
public struct CylinderEncoder: Sendable {
    public let geometry: CylinderGeometry
    /// Minimum neighbours within R + 3σS for a cylinder to be valid (minM of the paper).
    public var minimumNeighbours = 2
    /// Templates keep at most this many minutiae, the most reliable first.
    public var maximumMinutiae = 96

    /// Directional contribution of a neighbour with relative direction d (ISO units) to
    /// each direction bin: ∫ over the bin of a Gaussian of σD centred on d. Depends only
    /// on (d, bin) because our angles are quantised to 256 steps, so it is tabulated.
    private let directionalTable: [Float]
    /// Spatial Gaussian tabulated over the squared distance (0…(3σS)²).
    private let spatialTable: [Float]
    private let spatialTableScale: Float
    private let cellIndex: [Int]

    public init(geometry: CylinderGeometry = .init()) {
        self.geometry = geometry
        let nd = geometry.directionBins
        var table = [Float](repeating: 0, count: 256 * nd)
        let binWidth = 2 * Float.pi / Float(nd)
        let s = geometry.directionalSigma * Float(2).squareRoot()
        for d in 0..<256 {
            var phi = Float(d) * (Float.pi / 128)            // relative direction in (−π, π]
            if phi > .pi { phi -= 2 * .pi }
            for k in 0..<nd {
                let centre = -Float.pi + (Float(k) + 0.5) * binWidth
                var delta = centre - phi
                if delta > .pi { delta -= 2 * .pi }
                if delta <= -.pi { delta += 2 * .pi }
                let lo = delta - binWidth / 2, hi = delta + binWidth / 2
                table[d * nd + k] = 0.5 * (Float(erf(Double(hi / s))) - Float(erf(Double(lo / s))))
            }
        }
        directionalTable = table
        let sigma = geometry.spatialSigma
        let cut2 = 9 * sigma * sigma
        let steps = 2048
        spatialTableScale = Float(steps) / cut2
        spatialTable = (0...steps + 1).map { k in
            let d2 = Float(k) / Float(steps) * cut2
            return Float(1 / (Double(sigma) * (2 * Double.pi).squareRoot()) * exp(-Double(d2) / (2 * Double(sigma * sigma))))
        }
        cellIndex = geometry.cellIndexByGridPosition
    }

    /// Prepares a template. Resolution is normalised to 500 dpi using the template's own.
    public func encode(_ template: FingerTemplate) -> MatchTemplate {
        let sx = template.resolutionX > 0 ? Float(500.0 / template.dpiX) : 1
        let sy = template.resolutionY > 0 ? Float(500.0 / template.dpiY) : 1
        var chosen = template.minutiae
        if chosen.count > maximumMinutiae {
            // Stable order by quality so equal-quality minutiae keep detector order.
            chosen = chosen.enumerated().sorted { a, b in
                a.element.quality != b.element.quality ? a.element.quality > b.element.quality : a.offset < b.offset
            }.prefix(maximumMinutiae).map(\.element)
        }
        // ISO angles are counter-clockwise on screen; with y flipped to point up they are
        // ordinary mathematical angles.
        return encode(x: chosen.map { Float($0.x) * sx }, y: chosen.map { -Float($0.y) * sy }, angle: chosen.map(\.angle))
    }

    /// Prepares a template from minutiae already in the matching frame (500 dpi, y up).
    public func encode(x px: [Float], y py: [Float], angle pa: [UInt8]) -> MatchTemplate {
        let n = px.count
        let g = geometry
        let words = g.wordCount, nd = g.directionBins, ns = g.spatialCells
        let reach2 = (g.radius + 3 * g.spatialSigma) * (g.radius + 3 * g.spatialSigma)
        let cut = 3 * g.spatialSigma, cut2 = cut * cut
        let cs = g.cellSize, half = Float(ns + 1) / 2
        let cells = g.cells.count

        var keptX = [Float](), keptY = [Float](), keptA = [UInt8](), cylinders = [UInt64]()
        keptX.reserveCapacity(n); keptY.reserveCapacity(n); keptA.reserveCapacity(n)
        cylinders.reserveCapacity(n * words)
        var contribution = [Float](repeating: 0, count: cells * nd)
        var neighbours = [Int]()
        neighbours.reserveCapacity(n)

        directionalTable.withUnsafeBufferPointer { dirT in
        spatialTable.withUnsafeBufferPointer { spT in
        cellIndex.withUnsafeBufferPointer { cellIdx in
        contribution.withUnsafeMutableBufferPointer { acc in
            for m in 0..<n {
                neighbours.removeAll(keepingCapacity: true)
                for t in 0..<n where t != m {
                    let dx = px[t] - px[m], dy = py[t] - py[m]
                    if dx * dx + dy * dy <= reach2 { neighbours.append(t) }
                }
                if neighbours.count < minimumNeighbours { continue }
                let theta = Float(pa[m]) * (Float.pi / 128)
                let c = cos(theta), s = sin(theta)
                for k in 0..<acc.count { acc[k] = 0 }
                for t in neighbours {
                    // Neighbour in the minutia's rotated frame (cells rotate with the minutia).
                    let dx = px[t] - px[m], dy = py[t] - py[m]
                    let u = c * dx + s * dy, v = -s * dx + c * dy
                    // Grid columns/rows whose centres can be within 3σS of (u, v).
                    let i0 = max(1, Int(((u - cut) / cs + half).rounded(.up)))
                    let i1 = min(ns, Int(((u + cut) / cs + half).rounded(.down)))
                    let j0 = max(1, Int(((v - cut) / cs + half).rounded(.up)))
                    let j1 = min(ns, Int(((v + cut) / cs + half).rounded(.down)))
                    if i0 > i1 || j0 > j1 { continue }
                    let dirRow = Int(pa[t] &- pa[m]) * nd
                    for j in j0...j1 {
                        let cy = (Float(j) - half) * cs - v
                        for i in i0...i1 {
                            let ci = cellIdx[(j - 1) * ns + (i - 1)]
                            if ci < 0 { continue }
                            let cx = (Float(i) - half) * cs - u
                            let d2 = cx * cx + cy * cy
                            if d2 > cut2 { continue }
                            let gs = spT[Int(d2 * spatialTableScale)]
                            let base = ci * nd
                            for k in 0..<nd { acc[base + k] += gs * dirT[dirRow + k] }
                        }
                    }
                }
                var cylinder = [UInt64](repeating: 0, count: words)
                for bit in 0..<(cells * nd) where acc[bit] >= g.bitThreshold {
                    cylinder[bit >> 6] |= 1 << UInt64(bit & 63)
                }
                keptX.append(px[m]); keptY.append(py[m]); keptA.append(pa[m])
                cylinders.append(contentsOf: cylinder)
            }
        }}}}
        return MatchTemplate(geometry: g, x: keptX, y: keptY, angle: keptA, cylinders: cylinders)
    }
}
