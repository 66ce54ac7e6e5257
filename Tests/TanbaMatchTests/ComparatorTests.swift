import Foundation
import Testing
import TanbaCore
import TanbaMatch
import TanbaSynth
import TanbaTestSupport

/// Synthetic templates shared by the suites: `fingers` fingers × `impressions` impressions.
enum Fixtures {
    static func templates(fingers: Int, impressions: Int, seed: UInt64 = 11) -> [[FingerTemplate]] {
        let g = SyntheticTemplateGenerator(seed: seed)
        return (0..<fingers).map { f in
            let master = g.master(finger: UInt64(f))
            return (0..<impressions).map { g.impression(of: master, index: $0) }
        }
    }

    /// Rotates (by a whole number of ISO angle units) and translates a template.
    static func moved(_ t: FingerTemplate, units: Int, dx: Int, dy: Int) -> FingerTemplate {
        let theta = Double(units) * .pi / 128
        let cx = Double(t.width) / 2, cy = Double(t.height) / 2
        var out = t
        out.width = t.width + 200; out.height = t.height + 200
        out.minutiae = t.minutiae.map { m in
            // Screen rotation that is counter-clockwise on screen (y down), like ISO angles.
            let x = Double(m.x) - cx, y = Double(m.y) - cy
            let rx = cos(theta) * x + sin(theta) * y, ry = -sin(theta) * x + cos(theta) * y
            var n = m
            n.x = UInt16(clamping: Int((rx + cx + 100 + Double(dx)).rounded()))
            n.y = UInt16(clamping: Int((ry + cy + 100 + Double(dy)).rounded()))
            n.angle = m.angle &+ UInt8(truncatingIfNeeded: units)
            return n
        }
        return out
    }
}

@Suite struct KernelAgreementTests {
    let encoder = CylinderEncoder()

    @Test func everyKernelLevelMatchesTheScalarReferenceBitForBit() {
        let templates = Fixtures.templates(fingers: 6, impressions: 3).flatMap { $0 }.map(encoder.encode)
        let reference = SimilarityKernel(level: .scalarReference)
        #expect(SimilarityKernel.supportedLevels.contains(.portable))
        for level in SimilarityKernel.supportedLevels where level != .scalarReference {
            let kernel = SimilarityKernel(level: level)
            #expect(kernel.level == level)
            var expected = [Float](), actual = [Float]()
            for a in templates.prefix(9) {
                for b in templates.suffix(9) {
                    reference.matrix(a, b, maximumDirectionDifference: 64, into: &expected)
                    kernel.matrix(a, b, maximumDirectionDifference: 64, into: &actual)
                    let n = a.count * b.paddedCount
                    #expect(expected.prefix(n).map(\.bitPattern) == actual.prefix(n).map(\.bitPattern), "level \(level.rawValue)")
                }
            }
        }
    }

    @Test func scoresAreIdenticalOnEveryLevel() {
        let templates = Fixtures.templates(fingers: 5, impressions: 2).flatMap { $0 }.map(encoder.encode)
        let reference = TemplateComparator(kernel: SimilarityKernel(level: .scalarReference))
        for level in SimilarityKernel.supportedLevels {
            let comparator = TemplateComparator(kernel: SimilarityKernel(level: level))
            for a in templates { for b in templates {
                #expect(comparator.score(a, b).bitPattern == reference.score(a, b).bitPattern)
            }}
        }
    }

    @Test(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
    func realThirdPartyTemplatesAgreeToo() throws {
        let folder = SharedDatasets.url("openafis_iso_templates/fvc2002_db1_b")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".iso") }.sorted().prefix(16)
        let templates = try files.map { f -> MatchTemplate in
            let record = try TemplateCodec.decode([UInt8](Data(contentsOf: folder.appendingPathComponent(f))))
            return encoder.encode(record.views[0])
        }
        let reference = TemplateComparator(kernel: SimilarityKernel(level: .scalarReference))
        let best = TemplateComparator()
        for a in templates { for b in templates {
            #expect(best.score(a, b).bitPattern == reference.score(a, b).bitPattern)
        }}
    }

    /// Every level (local similarities, ρ, hence scores) on real templates from another
    /// SDK, mates included: genuine pairs are where ρ is dense and the relaxation matters.
    @Test(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
    func realTemplatesScoreIdenticallyOnEveryLevel() throws {
        let folder = SharedDatasets.url("openafis_iso_templates/fvc2002_db2_b")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".iso") }.sorted().prefix(24)
        let templates = try files.map { f -> MatchTemplate in
            let record = try TemplateCodec.decode([UInt8](Data(contentsOf: folder.appendingPathComponent(f))))
            return encoder.encode(record.views[0])
        }
        let reference = TemplateComparator(kernel: SimilarityKernel(level: .scalarReference))
        for level in SimilarityKernel.supportedLevels where level != .scalarReference {
            let comparator = TemplateComparator(kernel: SimilarityKernel(level: level))
            for a in templates { for b in templates {
                #expect(comparator.score(a, b).bitPattern == reference.score(a, b).bitPattern, "level \(level.rawValue)")
            }}
        }
    }
}

/// The encoder's C kernels against its plain Swift reference (`CylinderEncoder` with the
/// `.scalarReference` kernel), bit for bit.
@Suite struct EncoderAgreementTests {
    let reference = CylinderEncoder(kernel: SimilarityKernel(level: .scalarReference))

    func expectIdentical(_ a: MatchTemplate, _ b: MatchTemplate, _ what: String) {
        #expect(a.count == b.count, "\(what)")
        guard a.count == b.count else { return }
        // Counted rather than compared whole, so that a failure says how much differs.
        let differing = zip(a.bits, b.bits).filter { $0 != $1 }.count
        #expect(differing == 0, "\(what): \(differing) of \(a.bits.count) words differ")
        #expect(a.x == b.x && a.y == b.y && a.angle == b.angle, "\(what)")
        #expect(a.contentHash == b.contentHash, "\(what)")
    }

    /// Minutiae clouds for the edge cases: duplicates, clusters and a full 96-minutia cloud
    /// exercise the neighbour lists, and an axis-aligned lattice the decision boundaries.
    static func clouds() -> [(x: [Float], y: [Float], angle: [UInt8])] {
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var clouds = [(x: [Float], y: [Float], angle: [UInt8])]()
        for (count, spread, lattice) in [(96, 220, false), (40, 120, false), (60, 160, true), (25, 60, true), (3, 30, false)] {
            var x = [Float](), y = [Float](), a = [UInt8]()
            for _ in 0..<count {
                var px = Float(next() % UInt64(spread * 100)) / 100, py = Float(next() % UInt64(spread * 100)) / 100
                if lattice { px = (px / 7).rounded() * 7; py = (py / 7).rounded() * 7 }
                x.append(px); y.append(-py); a.append(UInt8(truncatingIfNeeded: next()))
            }
            // Exact duplicates (another direction) and a tight cluster.
            x.append(x[0]); y.append(y[0]); a.append(a[0] &+ 64)
            x.append(x[1] + 0.5); y.append(y[1] - 0.25); a.append(a[1])
            clouds.append((x, y, a))
        }
        // Direction 0 (cos 1, sin 0 exactly) on the 7-px lattice: offsets to cell centres
        // are exact multiples of 7 px, so cells at exactly 3σS = 28 px (d² = 784 = cut²)
        // and windows ending exactly on a cell centre occur.
        var x = [Float](), y = [Float]()
        for _ in 0..<48 { x.append(Float(next() % 30) * 7); y.append(-Float(next() % 30) * 7) }
        clouds.append((x, y, [UInt8](repeating: 0, count: x.count)))
        return clouds
    }

    @Test func everyEncoderLevelMatchesTheSwiftReferenceBitForBit() {
        let templates = Fixtures.templates(fingers: 6, impressions: 3).flatMap { $0 }
        for level in SimilarityKernel.supportedLevels where level != .scalarReference {
            let encoder = CylinderEncoder(kernel: SimilarityKernel(level: level))
            #expect(encoder.kernel.level == level)
            for t in templates { expectIdentical(reference.encode(t), encoder.encode(t), "level \(level.rawValue)") }
            for c in Self.clouds() {
                expectIdentical(reference.encode(x: c.x, y: c.y, angle: c.angle),
                                encoder.encode(x: c.x, y: c.y, angle: c.angle), "level \(level.rawValue), cloud of \(c.x.count)")
            }
        }
    }

    @Test(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
    func realTemplatesEncodeIdenticallyOnEveryLevel() throws {
        let folder = SharedDatasets.url("openafis_iso_templates/fvc2004_db3_b")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".iso") }.sorted().prefix(24)
        let records = try files.map { try TemplateCodec.decode([UInt8](Data(contentsOf: folder.appendingPathComponent($0)))).views[0] }
        for level in SimilarityKernel.supportedLevels where level != .scalarReference {
            let encoder = CylinderEncoder(kernel: SimilarityKernel(level: level))
            for t in records { expectIdentical(reference.encode(t), encoder.encode(t), "level \(level.rawValue)") }
        }
    }
}

@Suite struct ComparatorPropertyTests {
    let encoder = CylinderEncoder()
    let comparator = TemplateComparator()

    @Test func scoreIsExactlySymmetric() {
        let t = Fixtures.templates(fingers: 8, impressions: 2).flatMap { $0 }.map(encoder.encode)
        for a in t { for b in t { #expect(comparator.score(a, b).bitPattern == comparator.score(b, a).bitPattern) } }
    }

    @Test func scoreStaysInTheUnitInterval() {
        let t = Fixtures.templates(fingers: 6, impressions: 3).flatMap { $0 }.map(encoder.encode)
        for a in t { for b in t { let s = comparator.score(a, b); #expect(s >= 0 && s <= 1) } }
    }

    /// Invariance holds for rotations within the comparator's direction gate (±90°, the
    /// MCC paper's δθ; live-scan capture keeps fingers upright).
    @Test(arguments: [(0, 0, 0), (23, 40, -25), (-45, -60, 30), (60, 10, 10)])
    func rotationAndTranslationKeepTheScore(units: Int, dx: Int, dy: Int) {
        let finger = Fixtures.templates(fingers: 1, impressions: 2)[0]
        let a = encoder.encode(finger[0])
        let moved = encoder.encode(Fixtures.moved(finger[0], units: units, dx: dx, dy: dy))
        let movedMate = encoder.encode(Fixtures.moved(finger[1], units: units, dx: dx, dy: dy))
        let selfScore = comparator.score(a, a)
        // Rounding the moved coordinates to whole pixels perturbs cylinders a little.
        #expect(comparator.score(a, moved) > 0.8 * selfScore)
        let mate = comparator.score(a, encoder.encode(finger[1]))
        #expect(abs(comparator.score(a, movedMate) - mate) < 0.25 * max(mate, 0.05))
    }

    @Test func matesScoreFarAboveNonMates() {
        let fingers = Fixtures.templates(fingers: 12, impressions: 2).map { $0.map(encoder.encode) }
        var genuine = [Float](), impostor = [Float]()
        for f in 0..<fingers.count {
            genuine.append(comparator.score(fingers[f][0], fingers[f][1]))
            for g in (f + 1)..<fingers.count { impostor.append(comparator.score(fingers[f][0], fingers[g][1])) }
        }
        let maxImpostor = impostor.max()!
        let separated = genuine.filter { $0 > maxImpostor }.count
        #expect(separated >= genuine.count - 1, "genuine \(genuine) max impostor \(maxImpostor)")
    }

    @Test func emptyTemplatesScoreZero() {
        let empty = encoder.encode(FingerTemplate(width: 300, height: 300, minutiae: []))
        let t = encoder.encode(Fixtures.templates(fingers: 1, impressions: 1)[0][0])
        #expect(empty.count == 0)
        #expect(comparator.score(empty, t) == 0)
        #expect(comparator.score(empty, empty) == 0)
    }

    @Test func resolutionIsNormalisedTo500dpi() {
        var t = Fixtures.templates(fingers: 1, impressions: 1)[0][0]
        let a = encoder.encode(t)
        // The same finger described at 1000 dpi: coordinates double, resolution doubles.
        t.minutiae = t.minutiae.map { var m = $0; m.x *= 2; m.y *= 2; return m }
        t.resolutionX = 394; t.resolutionY = 394
        let b = encoder.encode(t)
        #expect(comparator.score(a, b) > 0.9 * comparator.score(a, a))
    }
}
