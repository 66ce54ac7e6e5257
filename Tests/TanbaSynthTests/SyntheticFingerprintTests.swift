import Foundation
import Testing
import TanbaCore
@testable import TanbaSynth

/// Masters are grown on a small canvas so that the suite stays fast in debug builds; the
/// outline shrinks to fit, everything else (ridge period, filters, presets) is as in use.
enum Small {
    static let options = SyntheticFingerprintGenerator.Options(
        masterWidth: 176, masterHeight: 208, impression: ImpressionOptions(width: 192, height: 224))
    static let generator = SyntheticFingerprintGenerator(seed: 2024, options: options)
    static let loop = generator.master(finger: 1, class: .rightLoop)
    static let whorl = generator.master(finger: 2, class: .whorl)
}

@Suite struct MasterFingerprintTests {
    @Test func sameSeedSamePixelsDifferentSeedDifferentFinger() {
        let again = Small.generator.master(finger: 1, class: .rightLoop)
        #expect(again.ridgeImage.pixels == Small.loop.ridgeImage.pixels)
        #expect(again.singularPoints == Small.loop.singularPoints)
        let otherSeed = SyntheticFingerprintGenerator(seed: 2025, options: Small.options).master(finger: 1, class: .rightLoop)
        #expect(otherSeed.ridgeImage.pixels != Small.loop.ridgeImage.pixels)
        #expect(Small.whorl.ridgeImage.pixels != Small.loop.ridgeImage.pixels)
    }

    @Test func masterImageIsA500DpiRidgePattern() {
        let image = Small.loop.ridgeImage
        #expect(image.width == 176 && image.height == 208)
        #expect(image.dpi == 500)
        #expect(Small.loop.fingerprintClass == .rightLoop)
        #expect(Small.loop.singularPoints.map(\.kind) == [.core, .delta])
    }

    @Test func ridgesFillTheFingerprintArea() {
        for m in [Small.loop, Small.whorl] {
            var inside = 0, patterned = 0
            for y in 0..<m.height {
                for x in 0..<m.width where m.isInsideFingerprintArea(x: Double(x), y: Double(y)) {
                    inside += 1
                    if abs(m.ridgeMap[y * m.width + x]) > 0.2 { patterned += 1 }
                }
            }
            #expect(inside > 10_000)
            #expect(Double(patterned) / Double(inside) > 0.85, "\(patterned) of \(inside)")
        }
    }

    /// Walks across the ridges (along the normal to the model's orientation) and counts sign
    /// changes of the ridge profile: two per period.
    @Test func measuredRidgePeriodIsRealistic() {
        for m in [Small.loop, Small.whorl] {
            var periods: [Double] = []
            var rng = SeededGenerator(seed: 77)
            var attempts = 0
            while periods.count < 25 && attempts < 2_000 {
                attempts += 1
                let x = rng.uniform(0, Double(m.width)), y = rng.uniform(0, Double(m.height))
                let half = 24.0
                // Far from singular points (the orientation turns there) and well inside.
                guard m.singularPoints.allSatisfy({ hypot($0.x - x, $0.y - y) > 40 }) else { continue }
                let theta = m.orientation(x: x, y: y)
                let nx = -sin(theta), ny = cos(theta)
                guard m.isInsideFingerprintArea(x: x - half * nx, y: y - half * ny),
                      m.isInsideFingerprintArea(x: x + half * nx, y: y + half * ny) else { continue }
                var crossings = 0
                var previous: Float = 0
                for step in 0...Int(2 * half) {
                    let t = Double(step) - half
                    let px = Int((x + t * nx).rounded()), py = Int((y + t * ny).rounded())
                    let v = m.ridgeMap[py * m.width + px]
                    if step > 0, (v > 0) != (previous > 0) { crossings += 1 }
                    previous = v
                }
                guard crossings >= 2 else { continue }
                periods.append(2 * (2 * half) / Double(crossings))
            }
            #expect(periods.count >= 10)
            let median = periods.sorted()[periods.count / 2]
            #expect((7.0...12.0).contains(median), "median period \(median)")
        }
    }

    @Test func densityMapStaysInTheRealRange() {
        for m in [Small.loop, Small.whorl] {
            for y in stride(from: 0, to: m.height, by: 8) {
                for x in stride(from: 0, to: m.width, by: 8) {
                    let p = m.ridgePeriod(x: Double(x), y: Double(y))
                    #expect(p >= 7 && p <= 11.5)
                }
            }
        }
    }
}

@Suite struct ImpressionTests {
    @Test func defaultAndSmallSensorSizesAt500Dpi() {
        let full = Small.generator.impression(of: Small.loop, index: 0, options: ImpressionOptions())
        #expect(full.width == 416 && full.height == 560)
        #expect(full.dpi == 500)
        let small = Small.generator.impression(of: Small.loop, index: 0,
                                               options: ImpressionOptions(width: 300, height: 300))
        #expect(small.width == 300 && small.height == 300 && small.pixels.count == 90_000)
        #expect(small.dpi == 500)
    }

    @Test func impressionsAreDeterministicAndDistinct() {
        let a = Small.generator.impression(of: Small.loop, index: 3)
        let b = Small.generator.impression(of: Small.loop, index: 3)
        #expect(a == b)
        let images = (0..<8).map { Small.generator.impression(of: Small.loop, index: $0) }
        for i in 0..<images.count {
            for j in (i + 1)..<images.count {
                let diff = zip(images[i].pixels, images[j].pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
                #expect(Double(diff) / Double(images[i].pixels.count) > 2, "impressions \(i) and \(j) look the same")
            }
        }
    }

    /// Different impressions show different but overlapping parts of the same finger: their
    /// contact regions, traced back into the master, share a large common area.
    @Test func impressionsOfOneFingerOverlap() {
        let master = Small.loop
        let contacts = (0..<8).map { index -> ImpressionParameters in
            var rng = SeededGenerator(seed: master.seed, stream: UInt64(index))
            return ImpressionParameters.sample(for: master, difficulty: .realistic, using: &rng)
        }
        for i in 0..<contacts.count {
            for j in (i + 1)..<contacts.count {
                var both = 0, either = 0
                for y in stride(from: 0, to: master.height, by: 2) {
                    for x in stride(from: 0, to: master.width, by: 2) {
                        let fx = Double(x), fy = Double(y)
                        guard master.isInsideFingerprintArea(x: fx, y: fy) else { continue }
                        let a = contacts[i].contact.contains(fx, fy), b = contacts[j].contact.contains(fx, fy)
                        if a && b { both += 1 }
                        if a || b { either += 1 }
                    }
                }
                #expect(Double(both) / Double(either) > 0.4, "impressions \(i), \(j): overlap \(both)/\(either)")
            }
        }
    }

    /// Inside the finger the gray levels split into dark ridges and light valleys. (Hard
    /// impressions may be faint, very dry fragments; they are only required to show ridges.)
    @Test(arguments: [ImpressionOptions.Difficulty.easy, .realistic])
    func grayLevelsAreBimodalInsideTheFinger(_ difficulty: ImpressionOptions.Difficulty) {
        let options = ImpressionOptions(width: 192, height: 224, difficulty: difficulty)
        for index in 0..<3 {
            let image = Small.generator.impression(of: Small.whorl, index: index, options: options)
            // A window around the centroid of the dark (inked) pixels, i.e. on the finger.
            var sx = 0, sy = 0, n = 0
            for y in 0..<image.height { for x in 0..<image.width where image[x, y] < 150 { sx += x; sy += y; n += 1 } }
            #expect(n > 2_000)
            let cx = min(image.width - 25, max(24, sx / max(1, n))), cy = min(image.height - 25, max(24, sy / max(1, n)))
            var histogram = [Int](repeating: 0, count: 256)
            for y in (cy - 24)..<(cy + 24) { for x in (cx - 24)..<(cx + 24) { histogram[Int(image[x, y])] += 1 } }
            let total = histogram.reduce(0, +)
            let mean = Double(histogram.enumerated().reduce(0) { $0 + $1.offset * $1.element }) / Double(total)
            let dark = histogram[..<Int(mean - 25)].reduce(0, +)
            let light = histogram[Int(mean + 25)...].reduce(0, +)
            #expect(Double(dark) / Double(total) > 0.2, "\(difficulty) #\(index): too few dark pixels")
            #expect(Double(light) / Double(total) > 0.2, "\(difficulty) #\(index): too few light pixels")
        }
    }

    @Test func hardImpressionsStillShowRidges() {
        let options = ImpressionOptions(width: 192, height: 224, difficulty: .hard)
        for index in 0..<3 {
            let image = Small.generator.impression(of: Small.whorl, index: index, options: options)
            #expect(image.pixels.count { $0 < 150 } > 500)
        }
    }

    @Test func backgroundIsLightOutsideTheFinger() {
        let image = Small.generator.impression(of: Small.loop, index: 1, options: ImpressionOptions())
        // The 416×560 frame is much larger than this small master: corners are empty glass.
        var corner = 0
        for y in 0..<40 { for x in 0..<40 { corner += Int(image[x, y]) } }
        #expect(Double(corner) / 1600 > 200)
    }
}

@Suite struct PlasticDistortionTests {
    let model = PlasticDistortion(centerX: 200, centerY: 250, radiusX: 60, radiusY: 80, transition: 50,
                                  rotation: 0.07, shiftX: 8, shiftY: -6)

    @Test func closeContactRegionDoesNotMove() {
        let d = model.displacement(210, 240)
        #expect(d.dx == 0 && d.dy == 0)
    }

    @Test func externalRegionFollowsTheRigidMotion() {
        // Far outside, brake → 1: the displacement is that of the rotation plus shift.
        let x = 200.0 + 400, y = 250.0
        let d = model.displacement(x, y)
        let expectedX = 200 + cos(0.07) * 400 + 8 - x, expectedY = 250 + sin(0.07) * 400 - 6 - y
        #expect(abs(d.dx - expectedX) < 1e-3 && abs(d.dy - expectedY) < 1e-3)
    }

    @Test func inverseUndoesTheDistortion() {
        for (x, y) in [(100.0, 100.0), (320.0, 260.0), (180.0, 420.0), (260.0, 330.0)] {
            let d = model.displacement(x, y)
            let back = model.inverse(x + d.dx, y + d.dy)
            #expect(abs(back.x - x) < 0.05 && abs(back.y - y) < 0.05)
        }
    }
}
