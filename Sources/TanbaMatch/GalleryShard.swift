import Foundation
import TanbaCore

/// Identifies one enrolled finger: the person (an opaque 64-bit subject number) and the finger.
public struct GalleryKey: Hashable, Sendable, Codable {
    public var subject: UInt64
    public var position: FingerPosition
    public init(subject: UInt64, position: FingerPosition) {
        self.subject = subject
        self.position = position
    }
}

/// A search hit.
public struct Candidate: Sendable, Hashable, Codable {
    public var key: GalleryKey
    public var score: Float
}

/// Where one search spent its time.
public struct SearchTrace: Sendable, Hashable {
    /// Stage one: the prefilter ranking over the whole shard.
    public var prefilterNanoseconds: UInt64 = 0
    /// Stage two: cylinders rebuilt and the full comparator run on the shortlist.
    public var comparisonNanoseconds: UInt64 = 0
    /// Fingers that reached stage two.
    public var shortlisted = 0
    public init() {}
}

/// How hard 1:N search looks.
public struct SearchOptions: Sendable, Hashable {
    /// Candidates returned.
    public var limit = 10
    /// Share of the gallery passed from the prefilter to the full comparator (the one
    /// setting that trades accuracy for speed; 1 = exhaustive). 0.2%: at 1M fingers it keeps
    /// rank-1 above exhaustive search's with p95 under 100 ms on two cores (docs/BENCHMARKS.md).
    public var penetration = 0.002
    /// The shortlist never gets shorter than this, so small galleries are searched fully.
    public var minimumShortlist = 256
    /// Penetration counts minutiae rather than fingers: the shortlist stops once it holds
    /// as many minutiae as `penetration` of the gallery's fingers would on average.
    public var budgetByCylinders = true
    /// What a shared prefilter key is worth (see `VoteWeighting`).
    public var voteWeighting = VoteWeighting.sqrtInverse
    /// The prefilter also visits each probe key's multi-probe neighbours (`CylinderHasher.probeKeys`).
    public var multiProbe = true
    public init(limit: Int = 10, penetration: Double = 0.002, minimumShortlist: Int = 256, budgetByCylinders: Bool = true,
                voteWeighting: VoteWeighting = .sqrtInverse, multiProbe: Bool = true) {
        self.multiProbe = multiProbe
        self.limit = limit
        self.penetration = penetration
        self.minimumShortlist = minimumShortlist
        self.budgetByCylinders = budgetByCylinders
        self.voteWeighting = voteWeighting
    }
}

/// The vote a gallery finger gets for sharing one prefilter key with the probe.
///
/// Keys are not equally telling: cylinders of sparse neighbourhoods (two or three
/// neighbours) set few bits, their MinHash keys repeat across unrelated fingers and their
/// buckets grow long. Weighting a shared key by the rarity of its bucket — inverse
/// document frequency, as in text retrieval — lets rare, specific keys count for more than
/// common ones. Weights are small integers (the vote counters are 16-bit).
public enum VoteWeighting: String, Sendable, Hashable, CaseIterable {
    /// Every shared key is one vote.
    case uniform
    /// 4 + 2·log2(average bucket / this bucket), clamped to 0…12: 4 for an average bucket,
    /// +2 per halving, 0 for a bucket four times the average.
    case logInverse = "log-idf"
    /// 4·√(average bucket / this bucket), clamped to 0…16.
    case sqrtInverse = "sqrt-idf"

    @inline(__always) func weight(bucketSize: Int, averageBucketSize: Double) -> UInt16 {
        switch self {
        case .uniform: return 1
        case .logInverse:
            let r = log2(averageBucketSize / Double(max(1, bucketSize)))
            return UInt16(max(0, min(12, (4 + 2 * r).rounded())))
        case .sqrtInverse:
            let r = (averageBucketSize / Double(max(1, bucketSize))).squareRoot()
            return UInt16(max(0, min(16, (4 * r).rounded())))
        }
    }

    /// Weight of a key in an average bucket: the score scale divides by its square.
    var averageWeight: UInt32 { self == .uniform ? 1 : 4 }
}

/// An in-memory gallery of finger templates laid out for fast 1:N search.
///
/// Data-oriented: minutiae of all fingers live in one packed array (6 bytes each, matching
/// frame); the prefilter is an inverted index from cylinder hash keys (`CylinderHasher`) to
/// gallery slots, one flat bucket array per (table, key). Cylinders are rebuilt only for the
/// shortlist — resident they would cost ~3 KiB per finger. `residentBytesPerFinger` reports
/// the real figure.
///
/// Thread safety: any number of concurrent searches, writers exclusive (a read–write lock).
public final class GalleryShard: @unchecked Sendable {
    /// One minutia in the matching frame (500 dpi, y up), as stored resident.
    struct PackedMinutia {
        var x: Int16, y: Int16
        var angle: UInt8, quality: UInt8
    }

    public let encoder: CylinderEncoder
    public let hasher: CylinderHasher
    public let comparator: TemplateComparator

    var keys = [GalleryKey]()
    var live = [Bool]()
    private var offsets: [UInt32] = [0]
    private var minutiae = [PackedMinutia]()
    /// buckets[table * bucketsPerTable + key]: slots holding that key, in insertion order.
    var buckets: [[UInt32]]
    /// Index entries of each slot (its distinct keys over all tables), for vote normalisation.
    var keyCounts = [UInt16]()
    /// Entries over all buckets (retired slots included until `compact()`).
    private var indexEntries = 0
    private var index = [GalleryKey: Int]()
    private var lock = pthread_rwlock_t()

    public init(encoder: CylinderEncoder = .init(), hasher: CylinderHasher? = nil,
                comparator: TemplateComparator = .init()) {
        self.encoder = encoder
        self.hasher = hasher ?? CylinderHasher(geometry: encoder.geometry)
        self.comparator = comparator
        buckets = [[UInt32]](repeating: [], count: self.hasher.tables * self.hasher.bucketsPerTable)
        pthread_rwlock_init(&lock, nil)
    }

    deinit { pthread_rwlock_destroy(&lock) }

    /// Fingers currently searchable.
    public var count: Int { read { index.count } }

    /// Adds or replaces a finger.
    public func add(_ key: GalleryKey, template: FingerTemplate) {
        add(key, prepared: encoder.encode(template))
    }

    /// Adds or replaces a finger from an already prepared template.
    public func add(_ key: GalleryKey, prepared: MatchTemplate) {
        add(key, finger: prepare(prepared))
    }

    /// A finger ready to go into a gallery: minutiae packed as stored, prefilter keys
    /// computed. Preparing is the costly half of `add` (cylinders, MinHash) and needs no
    /// lock, so bulk loads prepare a batch on every core and then add it under the lock.
    public struct PreparedFinger: Sendable {
        fileprivate let packed: [PackedMinutia]
        fileprivate let keys: [[Int]]
    }

    /// Prepares a template for `add(_:finger:)` with this gallery's encoder and hasher.
    /// Thread-safe and lock-free.
    public func prepare(_ template: FingerTemplate) -> PreparedFinger { prepare(encoder.encode(template)) }

    func prepare(_ prepared: MatchTemplate) -> PreparedFinger {
        PreparedFinger(packed: (0..<prepared.count).map {
            PackedMinutia(x: Int16(clamping: Int(prepared.x[$0].rounded())), y: Int16(clamping: Int(prepared.y[$0].rounded())),
                          angle: prepared.angle[$0], quality: 0)
        }, keys: hasher.keys(prepared))
    }

    /// Adds or replaces a finger prepared by `prepare(_:)` (of a gallery with the same
    /// encoder geometry and hasher).
    public func add(_ key: GalleryKey, finger: PreparedFinger) {
        let (packed, keys) = (finger.packed, finger.keys)
        write {
            if let old = index[key] { retire(old) }
            let slot = self.keys.count
            self.keys.append(key)
            live.append(true)
            minutiae += packed
            offsets.append(UInt32(minutiae.count))
            var entries = 0
            for (table, tableKeys) in keys.enumerated() {
                let base = table * hasher.bucketsPerTable
                for k in tableKeys { buckets[base + k].append(UInt32(slot)) }
                entries += tableKeys.count
            }
            keyCounts.append(UInt16(clamping: entries))
            indexEntries += entries
            index[key] = slot
        }
    }

    /// Removes every finger of a subject. Returns how many were removed.
    @discardableResult
    public func remove(subject: UInt64) -> Int {
        write {
            // One look-up per finger position, not a scan of the whole index: a worker
            // removes a person on every re-enrollment and deletion.
            let slots = FingerPosition.allCases.compactMap { index[GalleryKey(subject: subject, position: $0)] }
            for s in slots { retire(s) }
            return slots.count
        }
    }

    /// Retired slots stay in the buckets (skipped by search) until `compact()`.
    private var retired = 0

    private func retire(_ slot: Int) {
        live[slot] = false
        index[keys[slot]] = nil
        // Same-day deletion [BIO 11] reaches worker memory too: the slot stays (slots are
        // never reused) but its minutiae and owner are overwritten, so a deleted or
        // re-enrolled person's biometric data is gone from the process at once, not at the
        // next reload. Every reader skips retired slots (`live`).
        for m in Int(offsets[slot])..<Int(offsets[slot + 1]) { minutiae[m] = PackedMinutia(x: 0, y: 0, angle: 0, quality: 0) }
        keys[slot] = GalleryKey(subject: 0, position: .unknown)
        retired += 1
    }

    /// Drops retired slots from the buckets and trims every bucket to its size: run after a
    /// bulk load or many deletions (search keeps working meanwhile only if no writer holds
    /// the lock, so schedule it like any write).
    public func compact() {
        write {
            for b in 0..<buckets.count where !buckets[b].isEmpty {
                let kept = buckets[b].filter { live[Int($0)] }
                indexEntries -= buckets[b].count - kept.count
                buckets[b] = kept.withUnsafeBufferPointer { Array($0) }
            }
            retired = 0
        }
    }

    /// The prepared template of an enrolled finger (cylinders rebuilt from resident minutiae).
    public func template(_ key: GalleryKey) -> MatchTemplate? {
        read { index[key].map(prepared) }
    }

    /// Every minutia held in memory, retired slots included (tests: deletion scrubs them).
    var residentMinutiae: [(x: Int16, y: Int16, angle: UInt8)] { read { minutiae.map { ($0.x, $0.y, $0.angle) } } }

    private func prepared(_ slot: Int) -> MatchTemplate {
        let range = Int(offsets[slot])..<Int(offsets[slot + 1])
        return encoder.encode(x: minutiae[range].map { Float($0.x) }, y: minutiae[range].map { Float($0.y) },
                              angle: minutiae[range].map(\.angle))
    }

    /// Payload bytes per searchable finger: packed minutiae, index entries, keys, offsets and
    /// liveness flags. Excluded: the fixed bucket table (`fixedIndexBytes`), allocator and
    /// growth slack (`compact()` trims the latter; `tanba bench search` reports the process's
    /// real resident growth per finger next to this figure), and the dictionary from keys to
    /// slots (used by enrollment, not by search).
    public var residentBytesPerFinger: Double {
        read {
            let n = max(1, index.count)
            var entries = 0
            for b in buckets { entries += b.count }
            let bytes = minutiae.count * MemoryLayout<PackedMinutia>.stride + entries * 4
                + keys.count * MemoryLayout<GalleryKey>.stride + offsets.count * 4 + live.count + keyCounts.count * 2
            return Double(bytes) / Double(n)
        }
    }

    /// The bucket table itself: one array header per (table, key), whatever the gallery size
    /// (8 × 65,536 × 8 bytes = 4 MiB with the default hasher).
    public var fixedIndexBytes: Int { buckets.count * MemoryLayout<[UInt32]>.stride }

    /// 1:N search for one finger. Stage one scans every prefilter vector; stage two runs the
    /// full comparator on the `penetration` share with the best prefilter scores.
    public func search(_ probe: MatchTemplate, options: SearchOptions = .init()) -> [Candidate] {
        var trace = SearchTrace()
        return search(probe, options: options, trace: &trace)
    }

    /// The same, reporting where the time went (for metrics and benchmarks).
    public func search(_ probe: MatchTemplate, options: SearchOptions, trace: inout SearchTrace) -> [Candidate] {
        read {
            let n = keys.count
            guard n > 0, probe.count > 0 else { return [] }
            let start = DispatchTime.now().uptimeNanoseconds
            let shortlist = shortlist(probe, options: options, slots: n)
            let middle = DispatchTime.now().uptimeNanoseconds
            let result = compare(probe, slots: shortlist, limit: options.limit)
            trace.prefilterNanoseconds = middle - start
            trace.comparisonNanoseconds = DispatchTime.now().uptimeNanoseconds - middle
            trace.shortlisted = shortlist.count
            return result
        }
    }

    /// Slots with the most prefilter votes (live fingers only), best first.
    func shortlist(_ probe: MatchTemplate, options: SearchOptions, slots n: Int, forceRanking: Bool = false) -> [Int] {
        let wanted = min(index.count, max(options.minimumShortlist, Int((options.penetration * Double(index.count)).rounded(.up))))
        if wanted >= index.count && !forceRanking { return (0..<n).filter { live[$0] } }
        var votes = [UInt16](repeating: 0, count: n)
        votes.withUnsafeMutableBufferPointer { v in
            _ = accumulateVotes(probe, weighting: options.voteWeighting, multiProbe: options.multiProbe, into: v)
        }
        // A finger with more cylinders holds more keys and collects more chance votes, so
        // fingers are ranked by votes / √(keys held) — a cosine between the probe's and the
        // finger's key sets — squared, to stay in integers until the scale is known.
        // (Measured: without it, synthetic background fingers with many minutiae crowded
        // out real mates — 80% of mates kept at 1% penetration, 90% with it.)
        // Only fingers with votes are scored (about one in eight in a large gallery), in one
        // pass; the rest of the work is over that short list.
        var raw = [(score: Float, slot: Int32)]()
        raw.reserveCapacity(n / 4)
        var best: Float = 0
        votes.withUnsafeBufferPointer { v in
            keyCounts.withUnsafeBufferPointer { keys in
                live.withUnsafeBufferPointer { alive in
                    for s in 0..<n where v[s] != 0 && alive[s] {
                        let x = Float(v[s])
                        let score = x * x / Float(max(1, keys[s]))
                        best = max(best, score)
                        raw.append((score, Int32(s)))
                    }
                }
            }
        }
        // Quantised relative to the best score, so weighted votes of any scale keep the
        // histogram's full resolution where the shortlist is cut.
        let quantum = best > 0 ? 65535 / best : 0
        let scored = raw.map { (score: UInt16(min(65535, ($0.score * quantum).rounded(.down))), slot: $0.slot) }
        // Scores are small integers: a histogram finds the cut that keeps `wanted` slots.
        var histogram = [Int](repeating: 0, count: 65536)
        for e in scored { histogram[Int(e.score)] += 1 }
        var cut = 65535, kept = 0
        while cut > 0 && kept + histogram[cut] < wanted { kept += histogram[cut]; cut -= 1 }
        var above = [(Float, Int32)](), atCut = [Int32]()
        for e in scored {
            let v = Int(e.score)
            if v > cut { above.append((Float(v), e.slot)) } else if v == cut { atCut.append(e.slot) }
        }
        // Ties are broken by a scrambled slot order, not by the slot itself: enrolment order
        // must not decide who makes the shortlist (a benchmark that enrols its mates first
        // would otherwise flatter the prefilter).
        above.sort { $0.0 != $1.0 ? $0.0 > $1.0 : Self.tieOrder($0.1) < Self.tieOrder($1.1) }
        var out = above.map { Int($0.1) }
        if cut == 0 && out.count + atCut.count < wanted {
            // Fewer voted fingers than wanted: the unvoted live ones follow.
            for s in 0..<n where live[s] && votes[s] == 0 { atCut.append(Int32(s)) }
        }
        atCut.sort { Self.tieOrder($0) < Self.tieOrder($1) }
        out += atCut.prefix(wanted - out.count).map { Int($0) }
        guard options.budgetByCylinders, !forceRanking else { return out }
        // Stage two's cost is proportional to the candidates' minutiae, not their number, and
        // large probes shortlist large fingers (measured: 34 minutiae per candidate for probes
        // under 20, 49 for probes of 60–80). So the shortlist stops once it holds the
        // minutiae that `wanted` fingers of average size would: time per probe stays flat.
        let budget = Double(wanted) * Double(minutiae.count) / Double(max(1, keys.count))
        var used = 0.0, within = 0
        for slot in out {
            used += Double(offsets[slot + 1] - offsets[slot])
            if used > budget && within > 0 { break }
            within += 1
        }
        return Array(out.prefix(within))
    }

    /// Stage one's inner loop: adds each slot's prefilter votes against `probe` to `votes`
    /// (one counter per slot; the caller holds the read lock). Returns the vote a key of an
    /// average bucket earns — the unit that turns weighted votes back into key counts.
    func accumulateVotes(_ probe: MatchTemplate, weighting: VoteWeighting, multiProbe: Bool,
                         into votes: UnsafeMutableBufferPointer<UInt16>) -> UInt16 {
        let probeKeys = hasher.probeKeys(probe, neighbours: multiProbe)
        let average = Double(max(1, indexEntries)) / Double(buckets.count)
        // With multi-probe, an exact key counts twice a neighbouring one.
        let exactFactor: UInt16 = multiProbe ? 2 : 1
        for (keys, factor) in [(probeKeys.exact, exactFactor), (probeKeys.neighbours, 1)] {
            for (table, tableKeys) in keys.enumerated() {
                let base = table * hasher.bucketsPerTable
                for k in tableKeys {
                    buckets[base + k].withUnsafeBufferPointer { slots in
                        let w = weighting.weight(bucketSize: slots.count, averageBucketSize: average) * factor
                        if w > 0 { for s in slots { votes[Int(s)] &+= w } }
                    }
                }
            }
        }
        return UInt16(weighting.averageWeight) * exactFactor
    }

    /// A fixed pseudo-random permutation of slot numbers (multiplication by an odd constant
    /// is a bijection on 32-bit integers).
    @inline(__always) static func tieOrder(_ slot: Int32) -> UInt32 { UInt32(bitPattern: slot) &* 0x9E37_79B1 }

    /// Where a subject's best-placed finger lands in the prefilter ranking, as a share of the
    /// searchable gallery (0 = first); nil when the subject is not enrolled. For measuring
    /// how much penetration the prefilter needs (`tanba bench search`).
    public func prefilterRank(_ probe: MatchTemplate, subject: UInt64, options: SearchOptions = .init()) -> Double? {
        read {
            let n = keys.count
            var ranking = options
            ranking.penetration = 0.999_999
            ranking.minimumShortlist = 0
            ranking.budgetByCylinders = false
            let all = shortlist(probe, options: ranking, slots: n,
                                forceRanking: true)
            guard let position = all.firstIndex(where: { keys[$0].subject == subject }) else { return nil }
            return Double(position) / Double(max(1, index.count))
        }
    }

    /// Runs the full comparator on `slots` in parallel and keeps the best `limit`.
    func compare(_ probe: MatchTemplate, slots: [Int], limit: Int) -> [Candidate] {
        let threads = max(1, min(ProcessInfo.processInfo.activeProcessorCount, slots.count / 16))
        let results = ResultSlots<[Candidate]>(count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var scratch = TemplateComparator.Scratch()
            var best = [Candidate]()
            var k = t
            while k < slots.count {
                let slot = slots[k]
                let s = comparator.score(probe, prepared(slot), scratch: &scratch)
                best.append(Candidate(key: keys[slot], score: s))
                if best.count > 4 * limit { Self.trim(&best, limit) }
                k += threads
            }
            Self.trim(&best, limit)
            results.set(t, best)
        }
        var all = results.values.flatMap { $0 }
        Self.trim(&all, limit)
        return all
    }

    static func trim(_ c: inout [Candidate], _ limit: Int) {
        c.sort { $0.score != $1.score ? $0.score > $1.score : ($0.key.subject, $0.key.position) < ($1.key.subject, $1.key.position) }
        if c.count > limit { c.removeLast(c.count - limit) }
    }

    func read<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }

    private func write<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }
}

