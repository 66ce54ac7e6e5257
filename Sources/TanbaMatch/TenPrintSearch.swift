import Foundation
import TanbaCore

/// How hard a multi-finger (ten-print) 1:N search looks.
public struct TenPrintSearchOptions: Sendable, Hashable {
    /// Persons returned.
    public var limit = 10
    /// Comparator budget as a share of the gallery's *fingers* at one position: the search
    /// runs the full comparator on about `penetration × persons` fingers in all, spread over
    /// the probe's fingers (every finger of each shortlisted person is compared). A
    /// one-finger probe therefore costs what a single-finger search at this penetration costs,
    /// and a ten-print probe shortlists a tenth as many persons.
    public var penetration = 0.01
    /// Persons shortlisted at least (small galleries are searched fully). With
    /// `.perFinger`: the shortlist floor of each single-finger search.
    public var minimumPersons = 24
    public var strategy = Strategy.fusedPrefilter

    public enum Strategy: String, Sendable, Hashable, CaseIterable {
        /// Prefilter scores fused per person, one short person list, every finger compared.
        case fusedPrefilter = "fused"
        /// One full two-stage single-finger search per probe finger (each with `penetration`
        /// of the gallery through the comparator), persons ranked by the sum of their hits,
        /// the best `limit` completed on every finger. The workers' first design; kept as the
        /// baseline of `tanba bench tenprint`.
        case perFinger = "per-finger"
    }

    public init(limit: Int = 10, penetration: Double = 0.01, minimumPersons: Int = 24, strategy: Strategy = .fusedPrefilter) {
        self.limit = limit
        self.penetration = penetration
        self.minimumPersons = minimumPersons
        self.strategy = strategy
    }
}

/// A person found by a multi-finger search: the fused score (mean of the per-finger scores
/// over the probe's fingers; a finger the person lacks scores 0) and the per-finger scores,
/// in the probe's finger order.
public struct PersonCandidate: Sendable, Hashable {
    public var subject: UInt64
    public var fusedScore: Float
    public var fingerScores: [Float]
    /// The person's fused prefilter score (sum over the probe's fingers of the per-finger
    /// prefilter cosine), for diagnostics.
    public var prefilterScore: Float
}

/// What one multi-finger search did (for benchmarks and metrics).
public struct TenPrintTrace: Sendable, Hashable {
    public var prefilterNanoseconds: UInt64 = 0
    public var comparisonNanoseconds: UInt64 = 0
    public var personsShortlisted = 0
    public var comparisons = 0
    public init() {}
}

/// Multi-finger 1:N search with *fused prefilter scores*, the usual ABIS pipeline: stage one
/// scores every gallery finger against the probe finger at the same position (the MinHash
/// prefilter of `GalleryShard`), adds the scores per person over the probe's fingers and
/// shortlists the best persons; stage two runs the full comparator on **every** probe
/// finger of each shortlisted person and fuses (mean).
///
/// Why not one two-stage single-finger search per probe finger (what workers did first):
/// each probe finger then pays its own stage two (`penetration` of the gallery through the
/// comparator, ~26 µs per candidate), so a ten-print probe costs ten searches — measured
/// with `tanba bench tenprint`. Fusing first makes stage one far more selective: a mate
/// collects prefilter votes on ten fingers, an impostor's chance votes do not add up, so a
/// short person list keeps the mate while stage two stays small (docs/matching.md).
public enum TenPrintSearch {
    /// `galleries[position]` holds the enrolled fingers at that position; `persons` is the
    /// number of persons enrolled (for the budget). Probe fingers at positions without a
    /// gallery score 0 for everyone.
    public static func search(_ probes: [(position: FingerPosition, template: MatchTemplate)],
                              in galleries: [FingerPosition: GalleryShard], persons: Int,
                              options: TenPrintSearchOptions = .init()) -> [PersonCandidate] {
        var trace = TenPrintTrace()
        return search(probes, in: galleries, persons: persons, options: options, trace: &trace)
    }

    public static func search(_ probes: [(position: FingerPosition, template: MatchTemplate)],
                              in galleries: [FingerPosition: GalleryShard], persons: Int,
                              options: TenPrintSearchOptions, trace: inout TenPrintTrace) -> [PersonCandidate] {
        guard !probes.isEmpty, persons > 0 else { return [] }
        if options.strategy == .perFinger { return perFinger(probes, in: galleries, options: options, trace: &trace) }
        let start = DispatchTime.now().uptimeNanoseconds
        // Stage one: fused prefilter scores per person.
        var totals = PersonScores(expected: min(persons, 1 << 16))
        for (position, probe) in probes where probe.count > 0 {
            galleries[position]?.addPrefilterScores(probe, to: &totals)
        }
        let wanted = max(options.minimumPersons,
                         Int((options.penetration * Double(persons) / Double(probes.count)).rounded(.up)))
        let shortlist = totals.best(wanted)
        let middle = DispatchTime.now().uptimeNanoseconds

        // Stage two: every probe finger of every shortlisted person through the comparator.
        let perPosition = probes.map { galleries[$0.position] }
        let threads = max(1, min(ProcessInfo.processInfo.activeProcessorCount, shortlist.count / 8))
        let results = ResultSlots<[PersonCandidate]>(count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var scratch = TemplateComparator.Scratch()
            var out: [PersonCandidate] = []
            var k = t
            while k < shortlist.count {
                let subject = shortlist[k].subject
                var scores = [Float](repeating: 0, count: probes.count)
                for (i, probe) in probes.enumerated() {
                    guard let gallery = perPosition[i],
                          let enrolled = gallery.template(GalleryKey(subject: subject, position: probe.position)) else { continue }
                    scores[i] = gallery.comparator.score(probe.template, enrolled, scratch: &scratch)
                }
                out.append(PersonCandidate(subject: subject, fusedScore: scores.reduce(0, +) / Float(probes.count),
                                           fingerScores: scores, prefilterScore: shortlist[k].score))
                k += threads
            }
            results.set(t, out)
        }
        var all = results.values.flatMap { $0 }
        all.sort { $0.fusedScore != $1.fusedScore ? $0.fusedScore > $1.fusedScore : $0.subject < $1.subject }
        if all.count > options.limit { all.removeLast(all.count - options.limit) }
        trace.prefilterNanoseconds = middle - start
        trace.comparisonNanoseconds = DispatchTime.now().uptimeNanoseconds - middle
        trace.personsShortlisted = shortlist.count
        trace.comparisons = shortlist.count * probes.count
        return all
    }

    /// The baseline (`Strategy.perFinger`).
    static func perFinger(_ probes: [(position: FingerPosition, template: MatchTemplate)],
                          in galleries: [FingerPosition: GalleryShard], options: TenPrintSearchOptions,
                          trace: inout TenPrintTrace) -> [PersonCandidate] {
        var partial: [UInt64: [FingerPosition: Float]] = [:]
        let perFinger = max(options.limit, 10)
        for (position, probe) in probes {
            guard let gallery = galleries[position] else { continue }
            var t = SearchTrace()
            let found = gallery.search(probe, options: SearchOptions(limit: perFinger, penetration: options.penetration,
                                                                     minimumShortlist: options.minimumPersons), trace: &t)
            trace.prefilterNanoseconds += t.prefilterNanoseconds
            trace.comparisonNanoseconds += t.comparisonNanoseconds
            trace.comparisons += t.shortlisted
            for c in found { partial[c.key.subject, default: [:]][position] = max(partial[c.key.subject]?[position] ?? 0, c.score) }
        }
        let count = Float(probes.count)
        let ranked = partial.map { (subject: $0.key, known: $0.value, sum: $0.value.values.reduce(0, +) / count) }
            .sorted { $0.sum != $1.sum ? $0.sum > $1.sum : $0.subject < $1.subject }
            .prefix(options.limit)
        let start = DispatchTime.now().uptimeNanoseconds
        var out: [PersonCandidate] = []
        for r in ranked {
            let scores = probes.map { probe -> Float in
                if let k = r.known[probe.position] { return k }
                guard let gallery = galleries[probe.position],
                      let enrolled = gallery.template(GalleryKey(subject: r.subject, position: probe.position)) else { return 0 }
                trace.comparisons += 1
                return gallery.comparator.score(probe.template, enrolled)
            }
            out.append(PersonCandidate(subject: r.subject, fusedScore: scores.reduce(0, +) / count, fingerScores: scores,
                                       prefilterScore: 0))
        }
        trace.comparisonNanoseconds += DispatchTime.now().uptimeNanoseconds - start
        trace.personsShortlisted = partial.count
        out.sort { $0.fusedScore != $1.fusedScore ? $0.fusedScore > $1.fusedScore : $0.subject < $1.subject }
        return out
    }

    @inline(__always) static func scramble(_ subject: UInt64) -> UInt64 { subject &* 0x9E37_79B9_7F4A_7C15 }
}

extension GalleryShard {
    /// Adds every live finger's prefilter score against `probe` to its subject's total.
    ///
    /// The score is the cosine between the probe's and the finger's MinHash key sets,
    /// votes / √(probe keys × finger keys), in 0…1: the same votes/√keys normalisation as
    /// the single-finger shortlist (a finger with more cylinders collects more chance votes),
    /// also divided by the probe's own √keys so that a large probe finger does not outweigh
    /// the others in the per-person sum.
    func addPrefilterScores(_ probe: MatchTemplate, to totals: inout PersonScores) {
        let probeKeyCount = hasher.keys(probe).reduce(0) { $0 + $1.count }
        guard probeKeyCount > 0 else { return }
        let probeNorm = Float(probeKeyCount).squareRoot()
        read {
            let n = keys.count
            guard n > 0 else { return }
            var votes = [UInt16](repeating: 0, count: n)
            // Plain votes: fused over ten fingers they already keep every mate (docs/BENCHMARKS.md,
            // `tanba bench tenprint`), and multi-probe would quadruple stage one's bucket walks.
            _ = votes.withUnsafeMutableBufferPointer { v in
                accumulateVotes(probe, weighting: .uniform, multiProbe: false, into: v)
            }
            // Unsafe buffers: through the class's properties every element access pays an
            // exclusivity check, which was most of stage one's time.
            votes.withUnsafeBufferPointer { v in
                keyCounts.withUnsafeBufferPointer { counts in
                    live.withUnsafeBufferPointer { alive in
                        keys.withUnsafeBufferPointer { owners in
                            for s in 0..<n where v[s] != 0 && alive[s] {
                                totals.add(owners[s].subject, Float(v[s]) / (probeNorm * Float(max(1, counts[s])).squareRoot()))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Per-person score sums for stage one: an open-addressing table (linear probing,
/// multiplicative hash) rather than a `Dictionary`, whose hashing dominated stage one
/// (~50,000 additions per ten-print probe over a 12,500-person shard; measured with
/// `tanba bench tenprint`: 7.2 ms per search with a Dictionary and a full sort).
struct PersonScores {
    private static let empty = UInt64.max
    private var subjects: [UInt64]
    private var scores: [Float]
    private var mask: Int
    private(set) var count = 0

    init(expected: Int) {
        var capacity = 1024
        while capacity < 2 * expected { capacity <<= 1 }
        subjects = [UInt64](repeating: Self.empty, count: capacity)
        scores = [Float](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always) private static func slot(_ subject: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (subject &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    mutating func add(_ subject: UInt64, _ value: Float) {
        let inserted = subjects.withUnsafeMutableBufferPointer { keys in
            scores.withUnsafeMutableBufferPointer { values -> Bool in
                var i = Self.slot(subject, mask)
                while true {
                    let s = keys[i]
                    if s == subject { values[i] += value; return false }
                    if s == Self.empty { keys[i] = subject; values[i] = value; return true }
                    i = (i + 1) & mask
                }
            }
        }
        if inserted {
            count += 1
            if 2 * count > subjects.count { grow() }
        }
    }

    private mutating func grow() {
        let old = zip(subjects, scores).filter { $0.0 != Self.empty }
        subjects = [UInt64](repeating: Self.empty, count: subjects.count * 2)
        scores = [Float](repeating: 0, count: subjects.count)
        mask = subjects.count - 1
        count = 0
        for (s, v) in old { add(s, v) }
    }

    /// The `k` best persons, best first; ties by a scrambled subject order (enrolment or
    /// numbering order must not decide who makes the shortlist; see GalleryShard.tieOrder).
    /// A bounded selection, not a sort of every person.
    func best(_ k: Int) -> [(subject: UInt64, score: Float)] {
        guard k > 0 else { return [] }
        func better(_ a: (subject: UInt64, score: Float), _ b: (subject: UInt64, score: Float)) -> Bool {
            a.score != b.score ? a.score > b.score : TenPrintSearch.scramble(a.subject) < TenPrintSearch.scramble(b.subject)
        }
        var top: [(subject: UInt64, score: Float)] = []
        top.reserveCapacity(k + 1)
        for i in 0..<subjects.count where subjects[i] != Self.empty {
            let e = (subject: subjects[i], score: scores[i])
            if top.count == k, let last = top.last, !better(e, last) { continue }
            // Insertion into a short sorted list: k is a few dozen.
            var j = top.count
            while j > 0 && better(e, top[j - 1]) { j -= 1 }
            top.insert(e, at: j)
            if top.count > k { top.removeLast() }
        }
        return top
    }
}
