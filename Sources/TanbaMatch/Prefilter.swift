import TanbaCore

/// Locality-sensitive hash keys of cylinders: the first stage of 1:N search.
///
/// In the spirit of Cappelli, Ferrara & Maltoni's MCC indexing (IEEE TPAMI 2011), but with
/// MinHash instead of bit sampling: bit cylinders are sparse (on real FVC templates about
/// 6–9% of the bits are set), so sampled bits are mostly zero and carry little. MinHash keys
/// collide with probability equal to the Jaccard similarity of the two cylinders' set bits;
/// a key concatenates `hashesPerKey` MinHashes, so two cylinders share a key with
/// probability J^k — about 12% for mated cylinders (J ≈ 0.5, k = 3) and 0.004% for
/// unrelated ones (J ≈ 0.03). k = 3 kept more mates than k = 4 at every penetration
/// (docs/BENCHMARKS.md) and k = 2 let chance votes swamp them. A gallery finger collects one vote per (table, key) it shares with the
/// probe; mates collect many, everyone else a few.
public struct CylinderHasher: Sendable, Hashable {
    public let tables: Int
    public let hashesPerKey: Int
    public let bucketBits: Int
    /// rank[h * bitCount + position]: the position's place in random permutation h.
    let rank: [UInt16]
    let bitCount: Int

    public var bucketsPerTable: Int { 1 << bucketBits }

    public init(geometry: CylinderGeometry = .init(), tables: Int = 8, hashesPerKey: Int = 3,
                bucketBits: Int = 16, seed: UInt64 = 0x7A4B_A0F1) {
        precondition(tables > 0 && hashesPerKey > 0 && (8...24).contains(bucketBits))
        self.tables = tables
        self.hashesPerKey = hashesPerKey
        self.bucketBits = bucketBits
        self.bitCount = geometry.bitCount
        // Permutations from a fixed-seed SplitMix64 (Fisher–Yates): the same keys in every
        // process, so an index can be rebuilt or compared across machines.
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var rank = [UInt16](repeating: 0, count: tables * hashesPerKey * geometry.bitCount)
        for h in 0..<(tables * hashesPerKey) {
            var order = Array(0..<geometry.bitCount)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(next() % UInt64(i + 1))) }
            for (r, position) in order.enumerated() { rank[h * geometry.bitCount + position] = UInt16(r) }
        }
        self.rank = rank
    }

    /// Bucket of every (cylinder, table): `keys[i * tables + t]`, or nil for an empty cylinder.
    /// Keys of one template are deduplicated per table (a finger votes once per bucket).
    public func keys(_ t: MatchTemplate) -> [[Int]] { probeKeys(t, neighbours: false).exact }

    /// The template's keys and, with `neighbours`, the multi-probe neighbours of each key:
    /// the same key with one of its MinHashes replaced by that function's second-smallest
    /// rank over the cylinder (Lv et al., "Multi-probe LSH", VLDB 2007, adapted to MinHash).
    /// A mate whose cylinder misses the exact key because one set bit differs at the
    /// minimum often lands in a neighbour. Neighbours already among the exact keys are left out.
    public func probeKeys(_ t: MatchTemplate, neighbours wantNeighbours: Bool) -> (exact: [[Int]], neighbours: [[Int]]) {
        var perTable = [[Int]](repeating: [], count: tables)
        var neighbourKeys = [[Int]](repeating: [], count: tables)
        let functions = tables * hashesPerKey
        var minimum = [UInt16](repeating: .max, count: functions)
        var second = [UInt16](repeating: .max, count: functions)
        var seen = [Set<Int>](repeating: [], count: tables)
        var neighbourCandidates = [[Int]](repeating: [], count: tables)
        func bucket(_ table: Int, replacing replaced: Int) -> Int {
            // Mix the k MinHashes into one bucket number (FNV-1a, then fold).
            var x: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(table)
            for j in 0..<hashesPerKey {
                let h = table * hashesPerKey + j
                x = (x ^ UInt64(j == replaced ? second[h] : minimum[h])) &* 0x100_0000_01b3
            }
            return Int(truncatingIfNeeded: (x ^ (x >> 29)) & UInt64(bucketsPerTable - 1))
        }
        rank.withUnsafeBufferPointer { rank in
            for i in 0..<t.count {
                for h in 0..<functions { minimum[h] = .max; second[h] = .max }
                var any = false
                for w in 0..<t.wordCount {
                    var word = t.word(i, w)
                    while word != 0 {
                        let position = w * 64 + word.trailingZeroBitCount
                        word &= word - 1
                        any = true
                        var base = position
                        if wantNeighbours {
                            for h in 0..<functions {
                                let r = rank[base]
                                if r < minimum[h] { second[h] = minimum[h]; minimum[h] = r } else if r < second[h] { second[h] = r }
                                base += bitCount
                            }
                        } else {
                            for h in 0..<functions {
                                let r = rank[base]
                                if r < minimum[h] { minimum[h] = r }
                                base += bitCount
                            }
                        }
                    }
                }
                guard any else { continue }
                for table in 0..<tables {
                    let b = bucket(table, replacing: -1)
                    if seen[table].insert(b).inserted { perTable[table].append(b) }
                    guard wantNeighbours else { continue }
                    for j in 0..<hashesPerKey where second[table * hashesPerKey + j] != .max {
                        neighbourCandidates[table].append(bucket(table, replacing: j))
                    }
                }
            }
        }
        if wantNeighbours {
            for table in 0..<tables {
                var taken = seen[table]
                for b in neighbourCandidates[table] where taken.insert(b).inserted { neighbourKeys[table].append(b) }
            }
        }
        return (perTable, neighbourKeys)
    }
}
