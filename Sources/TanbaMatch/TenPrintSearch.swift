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
        var totals: [UInt64: Float] = [:]
        totals.reserveCapacity(min(persons, 1 << 16))
        for (position, probe) in probes where probe.count > 0 {
            galleries[position]?.addPrefilterScores(probe, to: &totals)
        }
        let wanted = max(options.minimumPersons,
                         Int((options.penetration * Double(persons) / Double(probes.count)).rounded(.up)))
        var ranked = totals.map { (subject: $0.key, score: $0.value) }
        // Ties by a scrambled subject order: the enrolment or numbering order must not decide
        // who makes the shortlist (see GalleryShard.tieOrder).
        ranked.sort { $0.score != $1.score ? $0.score > $1.score : scramble($0.subject) < scramble($1.subject) }
        let shortlist = Array(ranked.prefix(wanted))
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
    func addPrefilterScores(_ probe: MatchTemplate, to totals: inout [UInt64: Float]) {
        let probeKeys = hasher.keys(probe)
        let probeKeyCount = probeKeys.reduce(0) { $0 + $1.count }
        guard probeKeyCount > 0 else { return }
        let probeNorm = Float(probeKeyCount).squareRoot()
        read {
            let n = keys.count
            guard n > 0 else { return }
            var votes = [UInt16](repeating: 0, count: n)
            votes.withUnsafeMutableBufferPointer { v in
                for (table, tableKeys) in probeKeys.enumerated() {
                    let base = table * hasher.bucketsPerTable
                    for k in tableKeys {
                        buckets[base + k].withUnsafeBufferPointer { for s in $0 { v[Int(s)] &+= 1 } }
                    }
                }
            }
            for s in 0..<n where votes[s] != 0 && live[s] {
                let cosine = Float(votes[s]) / (probeNorm * Float(max(1, keyCounts[s])).squareRoot())
                totals[keys[s].subject, default: 0] += cosine
            }
        }
    }
}
