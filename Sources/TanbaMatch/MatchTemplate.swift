import CTanbaKernels
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
///
/// For each minutia, every neighbour within R + 3σS adds its spatial weight (a Gaussian of
/// its distance to the cell centre, tabulated) times its directional weight (tabulated by
/// relative direction) to the direction bins of each cell whose centre lies within 3σS of
/// it; a bit is set where the sum reaches μψ. On FVC templates that is about 17 neighbours
/// × 11 cells per minutia, and a per-cell multiply-add over six bins is the whole cost, so
/// the loop runs in C (`tanba_encode_cylinders`, per instruction-set level like the
/// comparator's kernels). The plain Swift formulation below is the reference; every level
/// forms the same sums in the same order (neighbours in index order) and returns the same
/// bits (`Tests/TanbaMatchTests`).
public struct CylinderEncoder: Sendable {
    public let geometry: CylinderGeometry
    /// Minimum neighbours within R + 3σS for a cylinder to be valid (minM of the paper).
    public var minimumNeighbours = 2
    /// Templates keep at most this many minutiae, the most reliable first.
    public var maximumMinutiae = 96
    /// Which implementation runs: the C kernels of `kernel.level`, or the Swift reference.
    public let kernel: SimilarityKernel

    private let tables: Tables

    /// Read-only tables shared by all copies of an encoder (one allocation per geometry),
    /// as raw memory for the C kernels.
    private final class Tables: @unchecked Sendable {
        /// Directional contribution of a neighbour with relative direction d (ISO units) to
        /// each direction bin: ∫ over the bin of a Gaussian of σD centred on d. Depends only
        /// on (d, bin) because our angles are quantised to 256 steps, so it is tabulated:
        /// rows of `directionBins` floats, then zeros for reads a vector wide.
        let directional: UnsafeMutablePointer<Float>
        /// The same rows widened to eight floats (the two extra are 0) when there are six
        /// bins: the C kernels add a row to a cell in one eight-float operation.
        let directional8: UnsafeMutablePointer<Float>
        /// Spatial Gaussian tabulated over the squared distance (0…(3σS)²).
        let spatial: UnsafeMutablePointer<Float>
        let spatialScale: Float
        /// cos and sin of each ISO direction, as `Foundation.cos/sin` give them for the
        /// angle in Float radians (the reference computes them so).
        let cosine: UnsafeMutablePointer<Float>, sine: UnsafeMutablePointer<Float>
        /// Centre offset of grid column/row j (1-based): (j − (ns + 1)/2) · cell size; then
        /// eight entries far outside any disc, for reads a vector wide.
        let centre: UnsafeMutablePointer<Float>
        /// For grid row j (1-based): the first and last column inside the disc (a run, the
        /// disc being convex; first > last when none) and the cell index of the first.
        let rowFirst: UnsafeMutablePointer<Int32>, rowLast: UnsafeMutablePointer<Int32>, rowCell: UnsafeMutablePointer<Int32>
        /// Grid position (column + row × spatialCells) → cell index or −1, for the reference.
        let cellIndex: [Int]

        init(_ g: CylinderGeometry) {
            let nd = g.directionBins, ns = g.spatialCells
            directional = .allocate(capacity: 256 * nd + 16)
            directional.initialize(repeating: 0, count: 256 * nd + 16)
            let binWidth = 2 * Float.pi / Float(nd)
            let s = g.directionalSigma * Float(2).squareRoot()
            for d in 0..<256 {
                var phi = Float(d) * (Float.pi / 128)            // relative direction in (−π, π]
                if phi > .pi { phi -= 2 * .pi }
                for k in 0..<nd {
                    let centre = -Float.pi + (Float(k) + 0.5) * binWidth
                    var delta = centre - phi
                    if delta > .pi { delta -= 2 * .pi }
                    if delta <= -.pi { delta += 2 * .pi }
                    let lo = delta - binWidth / 2, hi = delta + binWidth / 2
                    directional[d * nd + k] = 0.5 * (Float(erf(Double(hi / s))) - Float(erf(Double(lo / s))))
                }
            }
            directional8 = .allocate(capacity: 256 * 8)
            directional8.initialize(repeating: 0, count: 256 * 8)
            if nd == 6 {
                for d in 0..<256 { for k in 0..<6 { directional8[d * 8 + k] = directional[d * 6 + k] } }
            }
            let sigma = g.spatialSigma
            let cut2 = 9 * sigma * sigma
            let steps = CylinderEncoder.spatialSteps
            spatialScale = Float(steps) / cut2
            spatial = .allocate(capacity: steps + 2)
            for k in 0...(steps + 1) {
                let d2 = Float(k) / Float(steps) * cut2
                spatial[k] = Float(1 / (Double(sigma) * (2 * Double.pi).squareRoot()) * exp(-Double(d2) / (2 * Double(sigma * sigma))))
            }
            cosine = .allocate(capacity: 256); sine = .allocate(capacity: 256)
            for a in 0..<256 {
                let theta = Float(a) * (Float.pi / 128)
                cosine[a] = cos(theta); sine[a] = sin(theta)
            }
            let half = Float(ns + 1) / 2, cs = g.cellSize
            centre = .allocate(capacity: ns + 9)
            for j in 0...ns { centre[j] = (Float(j) - half) * cs }
            for j in (ns + 1)..<(ns + 9) { centre[j] = 1e9 }
            rowFirst = .allocate(capacity: ns + 1); rowLast = .allocate(capacity: ns + 1); rowCell = .allocate(capacity: ns + 1)
            cellIndex = g.cellIndexByGridPosition
            for j in 0...ns {
                rowFirst[j] = 1; rowLast[j] = 0; rowCell[j] = 0
                guard j >= 1 else { continue }
                let inside = (1...ns).filter { cellIndex[(j - 1) * ns + ($0 - 1)] >= 0 }
                if let first = inside.first, let last = inside.last {
                    precondition(inside.count == last - first + 1, "disc rows are runs of cells")
                    rowFirst[j] = Int32(first); rowLast[j] = Int32(last)
                    rowCell[j] = Int32(cellIndex[(j - 1) * ns + (first - 1)])
                }
            }
        }

        deinit {
            directional.deallocate(); directional8.deallocate(); spatial.deallocate(); cosine.deallocate(); sine.deallocate()
            centre.deallocate(); rowFirst.deallocate(); rowLast.deallocate(); rowCell.deallocate()
        }
    }

    static let spatialSteps = 2048

    public init(geometry: CylinderGeometry = .init(), kernel: SimilarityKernel = .best) {
        self.geometry = geometry
        self.kernel = kernel
        tables = Tables(geometry)
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
        precondition(py.count == n && pa.count == n, "inconsistent minutiae arrays")
        if kernel.level == .scalarReference { return referenceEncode(x: px, y: py, angle: pa) }
        let g = geometry, t = tables, words = g.wordCount
        var kept = [Int32](repeating: 0, count: n)
        var cylinders = [UInt64](repeating: 0, count: n * words)
        var parameters = tanba_cylinder_geometry(
            directional: t.directional, directional8: t.directional8, spatial: t.spatial, cosine: t.cosine, sine: t.sine, centre: t.centre,
            row_first: t.rowFirst, row_last: t.rowLast, row_cell: t.rowCell,
            spatial_scale: t.spatialScale, cell_size: g.cellSize, half: Float(g.spatialCells + 1) / 2,
            cut: 3 * g.spatialSigma, cut2: 3 * g.spatialSigma * (3 * g.spatialSigma),
            reach2: (g.radius + 3 * g.spatialSigma) * (g.radius + 3 * g.spatialSigma), threshold: g.bitThreshold,
            spatial_cells: Int32(g.spatialCells), direction_bins: Int32(g.directionBins), cells: Int32(g.cells.count),
            words: Int32(words), minimum_neighbours: Int32(minimumNeighbours))
        let scratchCount = 16 * (g.cells.count + 8 * n + 64)
        let count = withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount) { scratch in
        // Directions with four bytes of padding: the kernels read them four at a time.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + 4) { angles in
            angles.initialize(repeating: 0)
            for k in 0..<n { angles[k] = pa[k] }
            return kept.withUnsafeMutableBufferPointer { kept in cylinders.withUnsafeMutableBufferPointer { out in
                tanba_encode_cylinders(kernel.level.cLevel, &parameters, px, py, angles.baseAddress, Int32(n),
                                       kept.baseAddress, out.baseAddress, scratch.baseAddress)
            }}
        }}
        let chosen = kept.prefix(Int(count)).map(Int.init)
        return MatchTemplate(geometry: g, x: chosen.map { px[$0] }, y: chosen.map { py[$0] }, angle: chosen.map { pa[$0] },
                             cylinders: Array(cylinders.prefix(Int(count) * words)))
    }

    /// The reference: the definition, written as plainly as possible.
    func referenceEncode(x px: [Float], y py: [Float], angle pa: [UInt8]) -> MatchTemplate {
        let n = px.count
        let g = geometry, t = tables
        let words = g.wordCount, nd = g.directionBins, ns = g.spatialCells
        let reach2 = (g.radius + 3 * g.spatialSigma) * (g.radius + 3 * g.spatialSigma)
        let cut = 3 * g.spatialSigma, cut2 = cut * cut
        let cs = g.cellSize, half = Float(ns + 1) / 2
        var keptX = [Float](), keptY = [Float](), keptA = [UInt8](), cylinders = [UInt64]()
        var contribution = [Float](repeating: 0, count: g.cells.count * nd)
        for m in 0..<n {
            var neighbours = [Int]()
            for k in 0..<n where k != m {
                let dx = px[k] - px[m], dy = py[k] - py[m]
                if dx * dx + dy * dy <= reach2 { neighbours.append(k) }
            }
            if neighbours.count < minimumNeighbours { continue }
            let theta = Float(pa[m]) * (Float.pi / 128)
            let c = cos(theta), s = sin(theta)
            for b in contribution.indices { contribution[b] = 0 }
            for k in neighbours {
                // Neighbour in the minutia's rotated frame (cells rotate with the minutia).
                let dx = px[k] - px[m], dy = py[k] - py[m]
                let u = c * dx + s * dy, v = -s * dx + c * dy
                // Grid columns/rows whose centres can be within 3σS of (u, v).
                let i0 = max(1, Int(((u - cut) / cs + half).rounded(.up)))
                let i1 = min(ns, Int(((u + cut) / cs + half).rounded(.down)))
                let j0 = max(1, Int(((v - cut) / cs + half).rounded(.up)))
                let j1 = min(ns, Int(((v + cut) / cs + half).rounded(.down)))
                if i0 > i1 || j0 > j1 { continue }
                let direction = Int(pa[k] &- pa[m]) * nd
                for j in j0...j1 {
                    let cy = (Float(j) - half) * cs - v
                    for i in i0...i1 {
                        let cell = t.cellIndex[(j - 1) * ns + (i - 1)]
                        if cell < 0 { continue }
                        let cx = (Float(i) - half) * cs - u
                        let d2 = cx * cx + cy * cy
                        if d2 > cut2 { continue }
                        let gs = t.spatial[Int(d2 * t.spatialScale)]
                        for b in 0..<nd { contribution[cell * nd + b] += gs * t.directional[direction + b] }
                    }
                }
            }
            var cylinder = [UInt64](repeating: 0, count: words)
            for b in contribution.indices where contribution[b] >= g.bitThreshold {
                cylinder[b >> 6] |= 1 << UInt64(b & 63)
            }
            keptX.append(px[m]); keptY.append(py[m]); keptA.append(pa[m])
            cylinders.append(contentsOf: cylinder)
        }
        return MatchTemplate(geometry: g, x: keptX, y: keptY, angle: keptA, cylinders: cylinders)
    }
}
