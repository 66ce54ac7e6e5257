/// Smooth random fields for skin and sensor effects: value noise, i.e. uniform random values
/// on a square lattice, interpolated with a smoothstep-weighted bilinear blend.
///
/// One octave at a chosen cell size is enough for every effect here: coarse cells (60–120 px)
/// give the slow variations of moisture, pressure and background; fine cells (3–8 px, about
/// a ridge width) give dry breaks, wet blotches and specks once thresholded.
struct ValueNoise {
    let cell: Float
    let columns: Int
    let lattice: [Float]

    /// A field covering width × height pixels, values in [0, 1].
    init(width: Int, height: Int, cell: Double, using rng: inout SeededGenerator) {
        self.cell = Float(cell)
        columns = Int(Double(width) / cell) + 2
        let rows = Int(Double(height) / cell) + 2
        var values = [Float](repeating: 0, count: columns * rows)
        for i in values.indices { values[i] = Float(rng.unit()) }
        lattice = values
    }

    /// Renders the field into a row-major plane of `width*height` values in [0, 1].
    func render(width: Int, height: Int, into o: UnsafeMutablePointer<Float>) {
        let inv = 1 / cell
        // Column cell and weight are the same on every row: compute them once.
        let columnsAt = (0..<width).map { x -> (cell: Int, weight: Float) in
            let fx = Float(x) * inv
            let i = Int(fx)
            let t = fx - Float(i)
            return (i, t * t * (3 - 2 * t))
        }
        lattice.withUnsafeBufferPointer { l in
            columnsAt.withUnsafeBufferPointer { columnsAt in
                for y in 0..<height {
                    let fy = Float(y) * inv
                    let j = Int(fy)
                    var ty = fy - Float(j)
                    ty = ty * ty * (3 - 2 * ty)
                    let top = j * columns, bottom = top + columns
                    let row = y * width
                    for x in 0..<width {
                        let (i, tx) = columnsAt[x]
                        let a = l[top + i] + tx * (l[top + i + 1] - l[top + i])
                        let b = l[bottom + i] + tx * (l[bottom + i + 1] - l[bottom + i])
                        o[row + x] = a + ty * (b - a)
                    }
                }
            }
        }
    }
}
