import Foundation
import TanbaCore
import TanbaMatch
import TanbaSynth

/// Statistics that compare sets of minutiae templates — real extracted ones against the
/// template-level synthetic generator's — and their score distributions under the project's
/// comparator (`tanba bench synth-stats`, docs/synthetic.md).
///
/// Every distance is in 500-dpi pixels (templates at another resolution are scaled), every
/// direction is the ISO minutia direction (counter-clockwise from +x).
public enum SyntheticStatistics {
    /// Mean, standard deviation and deciles of a sample.
    public struct Summary: Codable, Sendable, Equatable {
        public var mean: Double, sd: Double, p10: Double, p50: Double, p90: Double

        public init(_ values: [Double]) {
            let n = Double(values.count)
            guard !values.isEmpty else { self.init(mean: 0, sd: 0, p10: 0, p50: 0, p90: 0); return }
            let mean = values.reduce(0, +) / n
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)
            let sorted = values.sorted()
            self.init(mean: mean, sd: variance.squareRoot(), p10: SyntheticStatistics.quantile(sorted, 0.1),
                      p50: SyntheticStatistics.quantile(sorted, 0.5), p90: SyntheticStatistics.quantile(sorted, 0.9))
        }

        public init(mean: Double, sd: Double, p10: Double, p50: Double, p90: Double) {
            self.mean = mean; self.sd = sd; self.p10 = p10; self.p50 = p50; self.p90 = p90
        }
    }

    /// What a set of templates looks like.
    public struct TemplateFigures: Codable, Sendable {
        /// Templates measured (failures to extract are left out) and failures.
        public var templates = 0, failures = 0
        /// Minutiae per template.
        public var minutiae = Summary([])
        /// Distance from each minutia to its nearest neighbour in the same template.
        public var nearest_neighbour_px = Summary([])
        /// Share of minutiae whose nearest neighbour is closer than 10 px (clusters, broken ridges).
        public var close_pair_share = 0.0
        /// Mean number of other minutiae within 70 px (the comparator's cylinder radius).
        public var neighbours_within_70px = 0.0
        /// Root-mean-square distance of a template's minutiae from their centroid, per template.
        public var centroid_rms_px = Summary([])
        /// Share of minutiae within 20 px of the image border, and within 20 px of the edge of
        /// the template's own footprint (the convex hull of its minutiae).
        public var border_share_window = 0.0
        public var border_share_hull = 0.0
        /// Share of directions in each 45° sector, from 0° (pointing right) counter-clockwise.
        public var direction_sectors = [Double](repeating: 0, count: 8)
        /// Normalised entropy of the eight sectors: 1 = perfectly even.
        public var direction_uniformity = 0.0
        /// Per template, the mean resultant length of doubled directions (0 = orientations
        /// spread evenly, 1 = all parallel): how dominant one ridge orientation is.
        public var orientation_concentration = 0.0
        /// Mean of cos 2Δθ between a minutia and its nearest neighbour: how smooth the ridge
        /// flow seen through the minutiae is (1 = parallel, 0 = unrelated).
        public var neighbour_orientation_agreement = 0.0
        /// Mean of cos Δθ between a minutia and its nearest neighbour: whether neighbours point
        /// the same way along the ridges (0 = either way at random).
        public var neighbour_direction_agreement = 0.0
        /// Share of minutiae pointing the way the ridge flow spreads apart (the sign of the
        /// divergence of the ridge tangent field, estimated from the template's own minutiae;
        /// 0.5 = unrelated). Real detectors see ridges begin where the flow diverges.
        public var divergence_direction_agreement = 0.0
        /// Share of near-horizontal orientations (within 45° of the x axis, either way).
        public var horizontal_share = 0.0
        /// Share of ridge endings among endings and bifurcations.
        public var ending_share = 0.0

        public init() {}
    }

    /// Quantiles of genuine and impostor scores.
    public struct ScoreFigures: Codable, Sendable {
        public var genuine_pairs = 0, impostor_pairs = 0
        public var genuine_p10 = 0.0, genuine_p25 = 0.0, genuine_p50 = 0.0, genuine_p75 = 0.0, genuine_p90 = 0.0
        public var impostor_p50 = 0.0, impostor_p99 = 0.0, impostor_p999 = 0.0
        /// All-pairs EER (fraction).
        public var eer = 0.0
        /// Impostor quantiles over pairs of fingers of the same class (synthetic sets only).
        public var same_class_impostor_pairs: Int?
        public var same_class_impostor_p50: Double?, same_class_impostor_p99: Double?, same_class_impostor_p999: Double?

        public init() {}

        public init(genuine: [Float], impostor: [Float]) {
            let g = genuine.map(Double.init).sorted(), i = impostor.map(Double.init).sorted()
            genuine_pairs = g.count; impostor_pairs = i.count
            genuine_p10 = SyntheticStatistics.quantile(g, 0.1); genuine_p25 = SyntheticStatistics.quantile(g, 0.25); genuine_p50 = SyntheticStatistics.quantile(g, 0.5)
            genuine_p75 = SyntheticStatistics.quantile(g, 0.75); genuine_p90 = SyntheticStatistics.quantile(g, 0.9)
            impostor_p50 = SyntheticStatistics.quantile(i, 0.5); impostor_p99 = SyntheticStatistics.quantile(i, 0.99); impostor_p999 = SyntheticStatistics.quantile(i, 0.999)
            eer = ErrorRates(genuine: genuine, impostor: impostor).equalErrorRate
        }

        public init(genuine: [Float], impostor: [Float], sameClassImpostor: [Float]) {
            self.init(genuine: genuine, impostor: impostor)
            guard !sameClassImpostor.isEmpty else { return }
            let s = sameClassImpostor.map(Double.init).sorted()
            same_class_impostor_pairs = s.count
            same_class_impostor_p50 = SyntheticStatistics.quantile(s, 0.5)
            same_class_impostor_p99 = SyntheticStatistics.quantile(s, 0.99)
            same_class_impostor_p999 = SyntheticStatistics.quantile(s, 0.999)
        }

        public var genuineQuantiles: [Double] { [genuine_p10, genuine_p25, genuine_p50, genuine_p75, genuine_p90] }
        public var impostorQuantiles: [Double] { [impostor_p50, impostor_p99, impostor_p999] }
    }

    /// One column of the side-by-side table.
    public struct Column: Codable, Sendable {
        public var name: String
        public var templates: TemplateFigures
        public var scores: ScoreFigures?

        public init(name: String, templates: TemplateFigures, scores: ScoreFigures?) {
            self.name = name; self.templates = templates; self.scores = scores
        }
    }

    // MARK: Template statistics

    /// Measures `templates` (nil entries are failures to extract).
    public static func figures(_ templates: [FingerTemplate?]) -> TemplateFigures {
        var f = TemplateFigures()
        var counts = [Double](), nearest = [Double](), rms = [Double]()
        var neighbours = 0.0, close = 0, windowBorder = 0, hullBorder = 0, total = 0
        var sectors = [Double](repeating: 0, count: 8)
        var concentration = 0.0, concentrationTemplates = 0, agreement = 0.0, agreementCount = 0
        var polarity = 0.0, divergenceAgree = 0, divergenceCount = 0, horizontal = 0
        var endings = 0, typed = 0
        for case let t? in templates {
            f.templates += 1
            counts.append(Double(t.minutiae.count))
            let sx = t.resolutionX > 0 ? 500 / t.dpiX : 1, sy = t.resolutionY > 0 ? 500 / t.dpiY : 1
            let xs = t.minutiae.map { Double($0.x) * sx }, ys = t.minutiae.map { Double($0.y) * sy }
            let theta = t.minutiae.map { Double($0.radians) }
            let n = xs.count
            guard n > 0 else { continue }
            let width = Double(t.width) * sx, height = Double(t.height) * sy
            let mx = xs.reduce(0, +) / Double(n), my = ys.reduce(0, +) / Double(n)
            rms.append((zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) + ($1.1 - my) * ($1.1 - my) } / Double(n)).squareRoot())
            let hull = convexHull(xs, ys)
            var c2 = 0.0, s2 = 0.0
            for k in 0..<n {
                total += 1
                var best = Double.infinity, bestIndex = -1
                for j in 0..<n where j != k {
                    let d2 = (xs[j] - xs[k]) * (xs[j] - xs[k]) + (ys[j] - ys[k]) * (ys[j] - ys[k])
                    if d2 < best { best = d2; bestIndex = j }
                    if d2 <= 70 * 70 { neighbours += 1 }
                }
                if bestIndex >= 0 {
                    let d = best.squareRoot()
                    nearest.append(d)
                    if d < 10 { close += 1 }
                    agreement += cos(2 * (theta[k] - theta[bestIndex])); agreementCount += 1
                    polarity += cos(theta[k] - theta[bestIndex])
                }
                if let agrees = divergenceAgreement(k, xs, ys, theta) {
                    divergenceCount += 1
                    if agrees { divergenceAgree += 1 }
                }
                if abs(cos(theta[k])) >= 0.5.squareRoot() { horizontal += 1 }
                if min(xs[k], ys[k], width - 1 - xs[k], height - 1 - ys[k]) < 20 { windowBorder += 1 }
                if distanceToPolygonEdge(xs[k], ys[k], hull) < 20 { hullBorder += 1 }
                let sector = min(7, Int(theta[k] / (.pi / 4)))
                sectors[sector] += 1
                c2 += cos(2 * theta[k]); s2 += sin(2 * theta[k])
                switch t.minutiae[k].kind {
                case .ridgeEnding: endings += 1; typed += 1
                case .bifurcation: typed += 1
                case .other: break
                }
            }
            if n >= 2 {
                concentration += (c2 * c2 + s2 * s2).squareRoot() / Double(n); concentrationTemplates += 1
            }
        }
        f.failures = templates.count - f.templates
        f.minutiae = Summary(counts)
        f.nearest_neighbour_px = Summary(nearest)
        let all = Double(max(1, total))
        f.close_pair_share = Double(close) / Double(max(1, nearest.count))
        f.neighbours_within_70px = neighbours / all
        f.centroid_rms_px = Summary(rms)
        f.border_share_window = Double(windowBorder) / all
        f.border_share_hull = Double(hullBorder) / all
        f.direction_sectors = sectors.map { $0 / all }
        var entropy = 0.0
        for p in f.direction_sectors where p > 0 { entropy -= p * log(p) }
        f.direction_uniformity = total > 0 ? entropy / log(8) : 0
        f.orientation_concentration = concentration / Double(max(1, concentrationTemplates))
        f.neighbour_orientation_agreement = agreement / Double(max(1, agreementCount))
        f.neighbour_direction_agreement = polarity / Double(max(1, agreementCount))
        f.divergence_direction_agreement = Double(divergenceAgree) / Double(max(1, divergenceCount))
        f.horizontal_share = Double(horizontal) / all
        f.ending_share = Double(endings) / Double(max(1, typed))
        return f
    }

    /// Whether minutia k points the way the ridge flow spreads apart, with the orientation field
    /// estimated from the other minutiae (Gaussian-weighted doubled angles, σ = 25 px) and its
    /// divergence from the turn of that field across the flow (±10 px); nil where the estimate
    /// is too uncertain. Coordinates are flipped to y-up so that ISO angles are ordinary angles.
    static func divergenceAgreement(_ k: Int, _ xs: [Double], _ ys: [Double], _ theta: [Double]) -> Bool? {
        func field(_ px: Double, _ py: Double) -> (angle: Double, strength: Double) {
            var c = 0.0, s = 0.0
            for j in 0..<xs.count where j != k {
                let dx = xs[j] - px, dy = -ys[j] - py
                let d2 = dx * dx + dy * dy
                guard d2 <= 9 * 625 else { continue }
                let w = exp(-d2 / 1250)
                c += w * cos(2 * theta[j]); s += w * sin(2 * theta[j])
            }
            return (atan2(s, c) / 2, (c * c + s * s).squareRoot())
        }
        let x = xs[k], y = -ys[k]
        let (t, strength) = field(x, y)
        guard strength >= 0.5 else { return nil }
        let nx = -sin(t), ny = cos(t), h = 10.0
        var d = field(x + h * nx, y + h * ny).angle - field(x - h * nx, y - h * ny).angle
        while d > .pi / 2 { d -= .pi }
        while d < -.pi / 2 { d += .pi }
        let along = cos(theta[k] - t) > 0
        return along == (d > 0)
    }

    /// Vertices of the convex hull, counter-clockwise in a y-up sense (Andrew's monotone chain).
    static func convexHull(_ xs: [Double], _ ys: [Double]) -> [(Double, Double)] {
        let points = zip(xs, ys).map { ($0, $1) }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        guard points.count > 2 else { return points }
        func cross(_ o: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> Double {
            (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
        }
        var lower = [(Double, Double)](), upper = [(Double, Double)]()
        for p in points {
            while lower.count >= 2 && cross(lower[lower.count - 2], lower[lower.count - 1], p) <= 0 { lower.removeLast() }
            lower.append(p)
        }
        for p in points.reversed() {
            while upper.count >= 2 && cross(upper[upper.count - 2], upper[upper.count - 1], p) <= 0 { upper.removeLast() }
            upper.append(p)
        }
        return Array(lower.dropLast() + upper.dropLast())
    }

    /// Distance from a point to the nearest edge of a closed polygon (0 for fewer than 2 vertices).
    static func distanceToPolygonEdge(_ x: Double, _ y: Double, _ polygon: [(Double, Double)]) -> Double {
        guard polygon.count >= 2 else { return 0 }
        var best = Double.infinity
        for k in 0..<polygon.count {
            let a = polygon[k], b = polygon[(k + 1) % polygon.count]
            let ex = b.0 - a.0, ey = b.1 - a.1
            let len2 = ex * ex + ey * ey
            let t = len2 > 0 ? min(1, max(0, ((x - a.0) * ex + (y - a.1) * ey) / len2)) : 0
            let dx = a.0 + t * ex - x, dy = a.1 + t * ey - y
            best = min(best, (dx * dx + dy * dy).squareRoot())
        }
        return best
    }

    // MARK: Synthetic sets

    /// `fingers` × `impressions` synthetic templates, grouped by finger (index = finger).
    public static func syntheticTemplates(_ generator: SyntheticTemplateGenerator, fingers: Int,
                                          impressions: Int = 8) -> [[FingerTemplate]] {
        let out = ResultSlots<[FingerTemplate]>(count: fingers)
        DispatchQueue.concurrentPerform(iterations: fingers) { f in
            let master = generator.master(finger: UInt64(f))
            out.set(f, (0..<impressions).map { generator.impression(of: master, index: $0) })
        }
        return out.values
    }

    /// Genuine scores (every pair of impressions of a finger) and impostor scores (pairs of
    /// impressions of different fingers; a deterministic sample of about `maximumImpostors`
    /// of them when there are more), with the same encoder and comparator as the eval.
    /// With `classes` (one label per finger), the impostor scores of fingers of the same class
    /// are also returned on their own.
    public static func scores(_ fingers: [[FingerTemplate]], classes: [String]? = nil,
                              encoder: CylinderEncoder = CylinderEncoder(),
                              comparator: TemplateComparator = TemplateComparator(),
                              maximumImpostors: Int = 200_000) -> (genuine: [Float], impostor: [Float], sameClassImpostor: [Float]) {
        let owner = fingers.enumerated().flatMap { f, impressions in impressions.map { _ in f } }
        let flat = fingers.flatMap { $0 }
        let n = flat.count
        guard n > 1 else { return ([], [], []) }
        let prepared = ResultSlots<MatchTemplate>(count: n)
        DispatchQueue.concurrentPerform(iterations: n) { prepared.set($0, encoder.encode(flat[$0])) }
        let t = prepared.values
        var crossPairs = 0
        var perFinger = [Int: Int]()
        for o in owner { perFinger[o, default: 0] += 1 }
        for (_, c) in perFinger { crossPairs += c * (n - c) }
        crossPairs /= 2
        let stride = max(1, Int((Double(crossPairs) / Double(max(1, maximumImpostors))).rounded(.up)))
        let rows = ResultSlots<([Float], [Float], [Float])>(count: n)
        DispatchQueue.concurrentPerform(iterations: n) { i in
            var scratch = TemplateComparator.Scratch()
            var g = [Float](), imp = [Float](), same = [Float]()
            for j in (i + 1)..<max(n, i + 1) {
                if owner[i] == owner[j] {
                    g.append(comparator.score(t[i], t[j], scratch: &scratch))
                } else if (i &* 31 &+ j) % stride == 0 {
                    let s = comparator.score(t[i], t[j], scratch: &scratch)
                    imp.append(s)
                    if let classes, classes[owner[i]] == classes[owner[j]] { same.append(s) }
                }
            }
            rows.set(i, (g, imp, same))
        }
        var genuine = [Float](), impostor = [Float](), same = [Float]()
        for r in rows.values { genuine += r.0; impostor += r.1; same += r.2 }
        return (genuine, impostor, same)
    }

    /// Single-thread generation speed, in CPU time of the calling thread (robust to other load
    /// on the machine): masters per second and impressions per second (impressions of already
    /// made masters, which is what a gallery's mates cost).
    public static func generationSpeed(_ generator: SyntheticTemplateGenerator, masters: Int = 1000,
                                       impressionsPerMaster: Int = 40) -> (mastersPerSecond: Double, impressionsPerSecond: Double) {
        func cpuSeconds() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        var start = cpuSeconds()
        var made = [SyntheticTemplateGenerator.Master]()
        made.reserveCapacity(masters)
        for f in 0..<masters { made.append(generator.master(finger: UInt64(1_000_000 + f))) }
        let masterSeconds = cpuSeconds() - start
        start = cpuSeconds()
        var checksum = 0
        for m in made {
            for i in 0..<impressionsPerMaster { checksum &+= generator.impression(of: m, index: i).minutiae.count }
        }
        let impressionSeconds = cpuSeconds() - start
        precondition(checksum >= 0)
        return (Double(masters) / max(1e-9, masterSeconds),
                Double(masters * impressionsPerMaster) / max(1e-9, impressionSeconds))
    }

    // MARK: Table

    /// The side-by-side table: one row per statistic, one column per set.
    public static func table(_ columns: [Column]) -> String {
        let width = 11
        var lines = [String]()
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        func label(_ s: String) -> String { s.count >= 34 ? s : s + String(repeating: " ", count: 34 - s.count) }
        lines.append(label("") + columns.map { pad(shortName($0.name), width) }.joined())
        func row(_ name: String, _ format: String = "%.1f", _ value: (Column) -> Double?) {
            lines.append(label(name) + columns.map { c in pad(value(c).map { String(format: format, $0) } ?? "—", width) }.joined())
        }
        func section(_ title: String) { lines.append(title) }
        section("minutiae per template")
        row("  templates", "%.0f") { Double($0.templates.templates) }
        row("  mean") { $0.templates.minutiae.mean }
        row("  sd") { $0.templates.minutiae.sd }
        row("  p10 / p50 / p90: p10") { $0.templates.minutiae.p10 }
        row("                   p50") { $0.templates.minutiae.p50 }
        row("                   p90") { $0.templates.minutiae.p90 }
        section("spatial (500-dpi px)")
        row("  nearest neighbour mean") { $0.templates.nearest_neighbour_px.mean }
        row("  nearest neighbour p10") { $0.templates.nearest_neighbour_px.p10 }
        row("  nearest neighbour p50") { $0.templates.nearest_neighbour_px.p50 }
        row("  share with neighbour < 10 px", "%.3f") { $0.templates.close_pair_share }
        row("  neighbours within 70 px") { $0.templates.neighbours_within_70px }
        row("  rms distance to centroid") { $0.templates.centroid_rms_px.mean }
        row("  share within 20 px of image edge", "%.3f") { $0.templates.border_share_window }
        row("  share within 20 px of hull edge", "%.3f") { $0.templates.border_share_hull }
        section("direction")
        for s in 0..<8 {
            row(String(format: "  sector %3d–%3d°", s * 45, s * 45 + 45), "%.3f") { $0.templates.direction_sectors[s] }
        }
        row("  uniformity (entropy, 1 = even)", "%.3f") { $0.templates.direction_uniformity }
        row("  orientation concentration", "%.3f") { $0.templates.orientation_concentration }
        row("  horizontal share (within 45°)", "%.3f") { $0.templates.horizontal_share }
        row("  nearest-neighbour cos 2Δθ", "%.3f") { $0.templates.neighbour_orientation_agreement }
        row("  nearest-neighbour cos Δθ", "%.3f") { $0.templates.neighbour_direction_agreement }
        row("  points where flow diverges", "%.3f") { $0.templates.divergence_direction_agreement }
        section("type")
        row("  ridge-ending share", "%.3f") { $0.templates.ending_share }
        section("scores (CylinderEncoder + TemplateComparator)")
        row("  genuine pairs", "%.0f") { $0.scores.map { Double($0.genuine_pairs) } }
        row("  genuine p10", "%.4f") { $0.scores?.genuine_p10 }
        row("  genuine p25", "%.4f") { $0.scores?.genuine_p25 }
        row("  genuine p50", "%.4f") { $0.scores?.genuine_p50 }
        row("  genuine p75", "%.4f") { $0.scores?.genuine_p75 }
        row("  genuine p90", "%.4f") { $0.scores?.genuine_p90 }
        row("  impostor pairs", "%.0f") { $0.scores.map { Double($0.impostor_pairs) } }
        row("  impostor p50", "%.4f") { $0.scores?.impostor_p50 }
        row("  impostor p99", "%.4f") { $0.scores?.impostor_p99 }
        row("  impostor p99.9", "%.4f") { $0.scores?.impostor_p999 }
        row("  EER all-pairs (%)", "%.2f") { $0.scores.map { $0.eer * 100 } }
        if columns.contains(where: { $0.scores?.same_class_impostor_pairs != nil }) {
            row("  same-class impostor pairs", "%.0f") { $0.scores?.same_class_impostor_pairs.map(Double.init) }
            row("  same-class impostor p50", "%.4f") { $0.scores?.same_class_impostor_p50 }
            row("  same-class impostor p99", "%.4f") { $0.scores?.same_class_impostor_p99 }
            row("  same-class impostor p99.9", "%.4f") { $0.scores?.same_class_impostor_p999 }
        }
        return lines.joined(separator: "\n")
    }

    static func shortName(_ name: String) -> String {
        guard name.hasPrefix("fvc2002_") else { return name }
        return name.dropFirst(8).replacingOccurrences(of: "_b", with: "").uppercased()
    }
}

extension SyntheticStatistics {
    /// Linear-interpolation quantile (type 7) of an ascending sample; 0 when empty.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down)), hi = min(sorted.count - 1, lo + 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}
