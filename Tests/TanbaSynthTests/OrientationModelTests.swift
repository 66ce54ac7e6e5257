import Foundation
import Testing
@testable import TanbaSynth

/// Poincaré index of an orientation field along a closed polygon: the total turn of the
/// ridge orientation (each step's change wrapped into (−π/2, π/2], since orientations are
/// defined modulo π) divided by 2π. +½ around a core, −½ around a delta, 0 elsewhere.
func poincareIndex(_ field: (Double, Double) -> Double, around points: [(Double, Double)]) -> Double {
    var total = 0.0
    for i in points.indices {
        let a = points[i], b = points[(i + 1) % points.count]
        var d = field(b.0, b.1) - field(a.0, a.1)
        while d > Double.pi / 2 { d -= Double.pi }
        while d <= -Double.pi / 2 { d += Double.pi }
        total += d
    }
    return total / (2 * Double.pi)
}

func circle(_ x: Double, _ y: Double, radius: Double, steps: Int = 96) -> [(Double, Double)] {
    (0..<steps).map { k in
        let t = 2 * Double.pi * Double(k) / Double(steps)
        return (x + radius * cos(t), y + radius * sin(t))
    }
}

@Suite struct OrientationModelTests {
    static func models(_ c: FingerprintClass, count: Int) -> [(OrientationModel, FingerprintSilhouette)] {
        var rng = SeededGenerator(seed: 31, stream: UInt64(FingerprintClass.allCases.firstIndex(of: c)!))
        return (0..<count).map { _ in
            let area = FingerprintSilhouette.sample(canvasWidth: 400, canvasHeight: 500, margin: 12, using: &rng)
            return (OrientationModel.sample(for: c, in: area, using: &rng), area)
        }
    }

    @Test(arguments: FingerprintClass.allCases)
    func singularPointsMatchTheClass(_ c: FingerprintClass) {
        for (model, _) in Self.models(c, count: 10) {
            let cores = model.singularities.filter { $0.kind == .core }
            let deltas = model.singularities.filter { $0.kind == .delta }
            #expect(cores.count == c.singularityCount.cores)
            #expect(deltas.count == c.singularityCount.deltas)
            for s in model.singularities {
                let index = poincareIndex(model.angle, around: circle(s.x, s.y, radius: 5))
                #expect(abs(index - (s.kind == .core ? 0.5 : -0.5)) < 1e-6, "\(c) \(s)")
            }
            // Cores lie above their deltas (y grows downward).
            if let core = cores.first, let delta = deltas.first {
                #expect(core.y < delta.y)
            }
        }
    }

    @Test func loopDeltaLiesOppositeTheOpening() {
        for (model, _) in Self.models(.rightLoop, count: 10) {
            let core = model.singularities.first { $0.kind == .core }!
            let delta = model.singularities.first { $0.kind == .delta }!
            #expect(delta.x < core.x, "a right loop opens to the right, its delta is on the left")
        }
        for (model, _) in Self.models(.leftLoop, count: 10) {
            let core = model.singularities.first { $0.kind == .core }!
            let delta = model.singularities.first { $0.kind == .delta }!
            #expect(delta.x > core.x)
        }
    }

    /// The corrections (Vizcaya–Gerhardt remapping, arch term) must not create singular
    /// points: tiling the fingerprint area with 10-pixel cells, the cells with a non-zero
    /// index are exactly those holding one of the model's singular points.
    @Test(arguments: FingerprintClass.allCases)
    func noSpuriousSingularities(_ c: FingerprintClass) {
        for (model, area) in Self.models(c, count: 6) {
            let cell = 10.0
            var found = 0
            var y = area.centerY - area.c / 2 - area.b1
            while y < area.centerY + area.c / 2 + area.b2 {
                var x = area.centerX - area.a1
                while x < area.centerX + area.a2 {
                    defer { x += cell }
                    guard area.contains(x, y), area.contains(x + cell, y + cell) else { continue }
                    let square = (0..<40).map { k -> (Double, Double) in
                        let t = Double(k % 10) / 10 * cell
                        switch k / 10 {
                        case 0: return (x + t, y)
                        case 1: return (x + cell, y + t)
                        case 2: return (x + cell - t, y + cell)
                        default: return (x, y + cell - t)
                        }
                    }
                    let index = poincareIndex(model.angle, around: square)
                    guard abs(index) > 0.25 else { continue }
                    found += 1
                    // (A point on a cell's edge may show up in the neighbouring cell: allow 1 px.)
                    let inside = model.singularities.contains {
                        $0.x >= x - 1 && $0.x < x + cell + 1 && $0.y >= y - 1 && $0.y < y + cell + 1
                    }
                    #expect(inside, "\(c): index \(index) at cell (\(x), \(y)) without a singular point")
                }
                y += cell
            }
            let expected = model.singularities.filter { area.contains($0.x, $0.y) && area.radius($0.x, $0.y) < 0.9 }.count
            #expect(found >= expected)
        }
    }

    @Test func archRidgesFormADomeAndFlattenAtTheBottom() {
        for (model, area) in Self.models(.arch, count: 5) {
            let top = area.centerY - area.c / 2 - area.b1 * 0.5
            let bottom = area.centerY + area.c / 2 + area.b2 * 0.95
            let left = area.centerX - area.a1 * 0.5, right = area.centerX + area.a2 * 0.5
            // Orientation as a signed slope angle in (−π/2, π/2].
            func slope(_ x: Double, _ y: Double) -> Double {
                let a = model.angle(x, y)
                return a > Double.pi / 2 ? a - Double.pi : a
            }
            // Upper part: rising on the left (negative angle in the y-down frame), falling on the right.
            #expect(slope(left, top) < -0.1)
            #expect(slope(right, top) > 0.1)
            // Near the crease the ridges are almost horizontal.
            #expect(abs(slope(area.centerX - area.a1 * 0.5, bottom)) < 0.15)
        }
    }

    @Test func classFrequenciesFollowNature() {
        var rng = SeededGenerator(seed: 5)
        var counts: [FingerprintClass: Int] = [:]
        let n = 20_000
        for _ in 0..<n { counts[FingerprintClass.sample(using: &rng), default: 0] += 1 }
        for c in FingerprintClass.allCases {
            let share = Double(counts[c, default: 0]) / Double(n)
            #expect(abs(share - c.naturalFrequency) < 0.012, "\(c): \(share)")
        }
    }
}
