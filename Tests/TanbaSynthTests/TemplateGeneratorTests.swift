import Foundation
import Testing
import TanbaCore
import TanbaSynth

/// The template-level generator: reproducible, plausible layouts, and counts inside the
/// calibrated range (docs/synthetic.md, "Template-level generator"). Score-based checks are
/// in TanbaMatchTests/TemplateGeneratorScoreTests.swift.
@Suite struct TemplateGeneratorTests {
    let generator = SyntheticTemplateGenerator(seed: 21)

    @Test func sameSeedFingerAndIndexGiveTheSameTemplate() {
        let again = SyntheticTemplateGenerator(seed: 21)
        for finger in [0, 1, 17, 123_456] as [UInt64] {
            let a = generator.master(finger: finger), b = again.master(finger: finger)
            #expect(a.x == b.x && a.y == b.y && a.direction == b.direction && a.kind == b.kind)
            #expect(a.fingerprintClass == b.fingerprintClass && a.window == b.window)
            for index in [0, 3, 7] {
                #expect(generator.impression(of: a, index: index) == again.impression(of: b, index: index))
            }
        }
        // A finger does not depend on which fingers were made before it.
        let first = generator.impression(of: generator.master(finger: 5), index: 2)
        _ = (0..<5).map { generator.master(finger: UInt64($0)) }
        #expect(generator.impression(of: generator.master(finger: 5), index: 2) == first)
    }

    @Test func otherSeedsFingersAndIndicesGiveOtherTemplates() {
        let master = generator.master(finger: 4)
        let other = SyntheticTemplateGenerator(seed: 22).master(finger: 4)
        #expect(master.x != other.x)
        #expect(generator.master(finger: 5).x != master.x)
        let impressions = (0..<8).map { generator.impression(of: master, index: $0) }
        #expect(Set(impressions.map(\.minutiae)).count == 8)
    }

    /// Two impressions of a finger share many minutiae once aligned; two fingers do not.
    @Test func impressionsOfAFingerDifferButOverlap() {
        var mated = [Double](), nonMated = [Double]()
        for f in 0..<6 {
            let master = generator.master(finger: UInt64(f))
            let a = generator.impression(of: master, index: 0), b = generator.impression(of: master, index: 1)
            #expect(a.minutiae != b.minutiae)
            mated.append(Self.alignedShare(a, b))
            let stranger = generator.impression(of: generator.master(finger: UInt64(100 + f)), index: 1)
            nonMated.append(Self.alignedShare(a, stranger))
        }
        let matedMean = mated.reduce(0, +) / Double(mated.count)
        let nonMatedMean = nonMated.reduce(0, +) / Double(nonMated.count)
        #expect(matedMean > 0.35, "mated \(mated)")
        #expect(matedMean > nonMatedMean + 0.15, "mated \(mated) non-mated \(nonMated)")
    }

    @Test func minutiaeLieInsideTheSensorWindow() {
        let windows = Set(SyntheticTemplateGenerator.Options().windows.map { "\($0.width)x\($0.height)" })
        for f in 0..<60 {
            let master = generator.master(finger: UInt64(f))
            for index in 0..<4 {
                let t = generator.impression(of: master, index: index)
                #expect(windows.contains("\(t.width)x\(t.height)"))
                #expect(t.width == UInt16(master.window.width) && t.height == UInt16(master.window.height))
                #expect(t.resolutionX == 197 && t.resolutionY == 197)
                for m in t.minutiae {
                    #expect(m.x < t.width && m.y < t.height, "\(m) outside \(t.width)x\(t.height)")
                    #expect(m.kind != .other && (20...99).contains(m.quality))
                }
            }
        }
    }

    /// Calibrated on FVC2002 (pooled: mean 33.6, sd 11.7, p10 21, p50 31.5, p90 50 with the
    /// project's extractor); the bounds leave room for sampling noise, not for a model change.
    @Test func minutiaCountsMatchTheCalibration() {
        var counts = [Int]()
        for f in 0..<150 {
            let master = generator.master(finger: UInt64(f))
            for index in 0..<4 { counts.append(generator.impression(of: master, index: index).minutiae.count) }
        }
        let n = Double(counts.count)
        let mean = Double(counts.reduce(0, +)) / n
        let sd = (counts.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)).squareRoot()
        let sorted = counts.sorted()
        let p10 = sorted[counts.count / 10], p50 = sorted[counts.count / 2], p90 = sorted[counts.count * 9 / 10]
        #expect((30...37).contains(mean), "mean \(mean)")
        #expect((8...15).contains(sd), "sd \(sd)")
        #expect((15...24).contains(p10) && (27...37).contains(p50) && (42...56).contains(p90), "p10 \(p10) p50 \(p50) p90 \(p90)")
        #expect(sorted.first! >= 3)
    }

    /// Measured on FVC2002: minutiae on steep ridges point toward the finger's base about
    /// 70% of the time, and close pairs (< 10 px) hold about 12% of minutiae.
    @Test func directionsAndSpacingLookLikeARealDetectorsOutput() {
        var steep = 0, down = 0, close = 0, total = 0
        for f in 0..<60 {
            let t = generator.impression(of: generator.master(finger: UInt64(f)), index: 0)
            for (i, m) in t.minutiae.enumerated() {
                let s = sin(Double(m.radians))           // ISO: counter-clockwise on screen, so s < 0 points down
                if abs(s) > 0.5.squareRoot() { steep += 1; if s < 0 { down += 1 } }
                total += 1
                let near = t.minutiae.enumerated().contains { j, o in
                    j != i && (Double(o.x) - Double(m.x)) * (Double(o.x) - Double(m.x))
                        + (Double(o.y) - Double(m.y)) * (Double(o.y) - Double(m.y)) < 100
                }
                if near { close += 1 }
            }
        }
        let downShare = Double(down) / Double(steep), closeShare = Double(close) / Double(total)
        #expect(downShare > 0.6 && downShare < 0.85, "down \(downShare)")
        #expect(closeShare > 0.07 && closeShare < 0.2, "close \(closeShare)")
    }

    @Test func optionsCanBeSetByName() {
        var o = SyntheticTemplateGenerator.Options()
        #expect(o.tunables["density"] == o.density)
        let accepted = [o.set("distortion", 2), o.set("missing-worst", 0.3), o.set("window-width", 300),
                        o.set("window-height", 400), o.set("no-such-option", 1)]
        #expect(accepted == [true, true, true, true, false])
        #expect(o.distortion == 2 && o.missingRate.worst == 0.3)
        #expect(o.windows == [SyntheticTemplateGenerator.Window(300, 400)])
        let g = SyntheticTemplateGenerator(seed: 3, options: o)
        let t = g.impression(of: g.master(finger: 1), index: 0)
        #expect(t.width == 300 && t.height == 400)
    }

    /// Share of `a`'s minutiae that land within 12 px and 25° of one of `b`'s under the best
    /// rigid alignment through a pair of corresponding minutiae (a small Hough search).
    static func alignedShare(_ a: FingerTemplate, _ b: FingerTemplate) -> Double {
        let pa = a.minutiae.map { (x: Double($0.x), y: Double($0.y), t: Double($0.radians)) }
        let pb = b.minutiae.map { (x: Double($0.x), y: Double($0.y), t: Double($0.radians)) }
        guard !pa.isEmpty, !pb.isEmpty else { return 0 }
        var best = 0
        for p in pa {
            for q in pb {
                // ISO angles turn counter-clockwise on screen (y down): rotate by −Δ in image terms.
                let delta = q.t - p.t
                let c = cos(delta), s = sin(delta)
                var matched = 0
                for r in pa {
                    let dx = r.x - p.x, dy = r.y - p.y
                    let x = q.x + c * dx + s * dy, y = q.y - s * dx + c * dy
                    let t = r.t + delta
                    if pb.contains(where: { u in
                        (u.x - x) * (u.x - x) + (u.y - y) * (u.y - y) < 144 && cos(u.t - t) > cos(25 * Double.pi / 180)
                    }) { matched += 1 }
                }
                best = max(best, matched)
            }
        }
        return Double(best) / Double(min(pa.count, pb.count))
    }
}
