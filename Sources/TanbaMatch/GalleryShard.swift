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

/// How hard 1:N search looks.
public struct SearchOptions: Sendable, Hashable {
    /// Candidates returned.
    public var limit = 10
    /// Share of the gallery passed from the prefilter to the full comparator (the one
    /// setting that trades accuracy for speed; 1 = exhaustive).
    public var penetration = 0.01
    /// The shortlist never gets shorter than this, so small galleries are searched fully.
    public var minimumShortlist = 256
    public init(limit: Int = 10, penetration: Double = 0.01, minimumShortlist: Int = 256) {
        self.limit = limit
        self.penetration = penetration
        self.minimumShortlist = minimumShortlist
    }
}

/// An in-memory gallery of finger templates laid out for fast 1:N search.
///
/// Data-oriented: minutiae of all fingers live in one packed array (6 bytes each, matching
/// frame), prefilter vectors in one blocked array the SIMD scan streams through. Cylinders
/// are rebuilt only for the shortlist — they would cost ~3 KiB per finger resident.
/// `residentBytesPerFinger` reports the real figure.
///
/// Thread safety: any number of concurrent searches, writers exclusive (a read–write lock).
public final class GalleryShard: @unchecked Sendable {
    /// One minutia in the matching frame (500 dpi, y up), as stored resident.
    struct PackedMinutia {
        var x: Int16, y: Int16
        var angle: UInt8, quality: UInt8
    }

    public let encoder: CylinderEncoder
    public let prefilterEncoder: PrefilterEncoder
    public let comparator: TemplateComparator

    private var keys = [GalleryKey]()
    private var live = [Bool]()
    private var offsets: [UInt32] = [0]
    private var minutiae = [PackedMinutia]()
    /// Blocked by 8 fingers (word-major inside a block), padded with zero vectors.
    private var prefilter = [UInt64]()
    private var prefilterNorms = [Float]()
    private var index = [GalleryKey: Int]()
    private var lock = pthread_rwlock_t()

    public init(encoder: CylinderEncoder = .init(), prefilterEncoder: PrefilterEncoder = .init(),
                comparator: TemplateComparator = .init()) {
        self.encoder = encoder
        self.prefilterEncoder = prefilterEncoder
        self.comparator = comparator
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
        let vector = prefilterEncoder.encode(prepared)
        let packed = (0..<prepared.count).map {
            PackedMinutia(x: Int16(clamping: Int(prepared.x[$0].rounded())), y: Int16(clamping: Int(prepared.y[$0].rounded())),
                          angle: prepared.angle[$0], quality: 0)
        }
        write {
            if let old = index[key] { retire(old) }
            let slot = keys.count
            keys.append(key)
            live.append(true)
            minutiae += packed
            offsets.append(UInt32(minutiae.count))
            let words = prefilterEncoder.wordCount
            if slot % 8 == 0 { prefilter += [UInt64](repeating: 0, count: words * 8); prefilterNorms += [Float](repeating: 0, count: 8) }
            var pop = 0
            for w in 0..<words {
                prefilter[((slot >> 3) * words + w) * 8 + (slot & 7)] = vector[w]
                pop += vector[w].nonzeroBitCount
            }
            prefilterNorms[slot] = Float(pop)
            index[key] = slot
        }
    }

    /// Removes every finger of a subject. Returns how many were removed.
    @discardableResult
    public func remove(subject: UInt64) -> Int {
        write {
            let slots = index.filter { $0.key.subject == subject }.map(\.value)
            for s in slots { retire(s) }
            return slots.count
        }
    }

    private func retire(_ slot: Int) {
        live[slot] = false
        index[keys[slot]] = nil
        let words = prefilterEncoder.wordCount
        for w in 0..<words { prefilter[((slot >> 3) * words + w) * 8 + (slot & 7)] = 0 }
        prefilterNorms[slot] = 0
    }

    /// The prepared template of an enrolled finger (cylinders rebuilt from resident minutiae).
    public func template(_ key: GalleryKey) -> MatchTemplate? {
        read { index[key].map(prepared) }
    }

    private func prepared(_ slot: Int) -> MatchTemplate {
        let range = Int(offsets[slot])..<Int(offsets[slot + 1])
        return encoder.encode(x: minutiae[range].map { Float($0.x) }, y: minutiae[range].map { Float($0.y) },
                              angle: minutiae[range].map(\.angle))
    }

    /// Bytes resident per searchable finger: packed minutiae, prefilter vector and norm, key,
    /// offset and liveness flag (hash-index overhead excluded).
    public var residentBytesPerFinger: Double {
        read {
            let n = max(1, keys.count)
            let bytes = minutiae.count * MemoryLayout<PackedMinutia>.stride + prefilter.count * 8
                + prefilterNorms.count * 4 + keys.count * MemoryLayout<GalleryKey>.stride + offsets.count * 4 + live.count
            return Double(bytes) / Double(n)
        }
    }

    /// 1:N search for one finger. Stage one scans every prefilter vector; stage two runs the
    /// full comparator on the `penetration` share with the best prefilter scores.
    public func search(_ probe: MatchTemplate, options: SearchOptions = .init()) -> [Candidate] {
        read {
            let n = keys.count
            guard n > 0, probe.count > 0 else { return [] }
            let shortlist = shortlist(probe, options: options, slots: n)
            return compare(probe, slots: shortlist, limit: options.limit)
        }
    }

    /// Slots of the best prefilter scores (live fingers only).
    func shortlist(_ probe: MatchTemplate, options: SearchOptions, slots n: Int) -> [Int] {
        let wanted = min(index.count, max(options.minimumShortlist, Int((options.penetration * Double(index.count)).rounded(.up))))
        if wanted >= index.count { return (0..<n).filter { live[$0] } }
        let probeVector = prefilterEncoder.encode(probe)
        let padded = (n + 7) & ~7
        var counts = [UInt16](repeating: 0, count: padded)
        let threads = max(1, min(ProcessInfo.processInfo.activeProcessorCount, padded / 4096))
        let blocksPerThread = (padded / 8 + threads - 1) / threads
        let words = prefilterEncoder.wordCount
        prefilter.withUnsafeBufferPointer { g in
            counts.withUnsafeMutableBufferPointer { out in
                // Addresses cross into the worker closures as integers: the buffers outlive
                // concurrentPerform, which returns only when every worker has finished.
                let outAddress = Int(bitPattern: out.baseAddress!)
                let galleryAddress = Int(bitPattern: g.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    let firstBlock = t * blocksPerThread
                    let blocks = min(blocksPerThread, padded / 8 - firstBlock)
                    guard blocks > 0 else { return }
                    let slice = UnsafeBufferPointer(start: UnsafePointer<UInt64>(bitPattern: galleryAddress)! + firstBlock * 8 * words,
                                                    count: blocks * 8 * words)
                    let dst = UnsafeMutableBufferPointer(start: UnsafeMutablePointer<UInt16>(bitPattern: outAddress)! + firstBlock * 8,
                                                         count: blocks * 8)
                    comparator.kernel.andPopcount(probe: probeVector, gallery: slice, count: blocks * 8, into: dst)
                }
            }
        }
        // Rank by shared bits over √(bits set in the gallery vector): dense vectors (many
        // minutiae) would otherwise collect chance hits.
        var keyed = [(Float, Int32)]()
        keyed.reserveCapacity(n)
        for s in 0..<n where live[s] && prefilterNorms[s] > 0 {
            keyed.append((Float(counts[s]) / prefilterNorms[s].squareRoot(), Int32(s)))
        }
        let k = min(wanted, keyed.count)
        keyed.withUnsafeMutableBufferPointer { buf in
            Self.partialSortDescending(buf, k: k)
        }
        return keyed.prefix(k).map { Int($0.1) }
    }

    /// Runs the full comparator on `slots` in parallel and keeps the best `limit`.
    func compare(_ probe: MatchTemplate, slots: [Int], limit: Int) -> [Candidate] {
        let threads = max(1, min(ProcessInfo.processInfo.activeProcessorCount, slots.count / 16))
        let results = ConcurrentSlots<[Candidate]>(count: threads)
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

    /// Moves the k largest (by .0, ties by lower .1) to the front, sorted.
    static func partialSortDescending(_ a: UnsafeMutableBufferPointer<(Float, Int32)>, k: Int) {
        guard k > 0 else { return }
        func before(_ x: (Float, Int32), _ y: (Float, Int32)) -> Bool { x.0 != y.0 ? x.0 > y.0 : x.1 < y.1 }
        // Quickselect to place the k-th element, then sort the head.
        var lo = 0, hi = a.count - 1
        while lo < hi {
            let pivot = a[(lo + hi) >> 1]
            var i = lo, j = hi
            while i <= j {
                while before(a[i], pivot) { i += 1 }
                while before(pivot, a[j]) { j -= 1 }
                if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { break }
        }
        var head = UnsafeMutableBufferPointer(rebasing: a[0..<k])
        head.sort(by: before)
    }

    private func read<T>(_ body: () throws -> T) rethrows -> T {
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

/// One result slot per concurrent iteration.
final class ConcurrentSlots<T>: @unchecked Sendable {
    private var storage: [T?]
    private let lock = NSLock()
    init(count: Int) { storage = [T?](repeating: nil, count: count) }
    func set(_ i: Int, _ v: T) { lock.lock(); storage[i] = v; lock.unlock() }
    var values: [T] { lock.lock(); defer { lock.unlock() }; return storage.compactMap { $0 } }
}
