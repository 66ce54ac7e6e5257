import Testing
import TanbaCore
@testable import TanbaMatch

@Suite struct GalleryShardTests {
    let encoder = CylinderEncoder()

    func enrolled(_ fingers: [[FingerTemplate]]) -> GalleryShard {
        let shard = GalleryShard()
        for (f, impressions) in fingers.enumerated() {
            shard.add(GalleryKey(subject: UInt64(f), position: .rightIndex), template: impressions[0])
        }
        return shard
    }

    @Test func exhaustiveSearchFindsTheMate() {
        let fingers = Fixtures.templates(fingers: 40, impressions: 2)
        let shard = enrolled(fingers)
        #expect(shard.count == 40)
        var hits = 0
        for (f, impressions) in fingers.enumerated() {
            let c = shard.search(encoder.encode(impressions[1]), options: SearchOptions(limit: 3, penetration: 1))
            #expect(c.count == 3)
            #expect(c[0].score >= c[1].score && c[1].score >= c[2].score)
            if c[0].key.subject == UInt64(f) { hits += 1 }
        }
        #expect(hits >= 38)
    }

    @Test func traceCountsTheShortlist() {
        let fingers = Fixtures.templates(fingers: 40, impressions: 2)
        let shard = enrolled(fingers)
        var trace = SearchTrace()
        // 25% of 40 = 10 fingers reach stage two (the minimum shortlist is lowered to allow it).
        let c = shard.search(encoder.encode(fingers[0][1]), options: SearchOptions(limit: 3, penetration: 0.25, minimumShortlist: 1, budgetByCylinders: false),
                             trace: &trace)
        #expect(trace.shortlisted == 10)
        #expect(c.count == 3)
        #expect(trace.prefilterNanoseconds > 0 && trace.comparisonNanoseconds > 0)
        // Small galleries are searched fully.
        _ = shard.search(encoder.encode(fingers[0][1]), options: SearchOptions(limit: 3, penetration: 0.25), trace: &trace)
        #expect(trace.shortlisted == 40)
    }

    @Test func minutiaeBudgetCapsTheShortlistsWork() {
        let fingers = Fixtures.templates(fingers: 60, impressions: 2)
        let shard = enrolled(fingers)
        let sizes = fingers.map { encoder.encode($0[0]).count }
        let mean = Double(sizes.reduce(0, +)) / Double(sizes.count)
        for f in [0, 7, 31] {
            let probe = encoder.encode(fingers[f][1])
            let byCount = SearchOptions(limit: 3, penetration: 0.25, minimumShortlist: 1, budgetByCylinders: false)
            var byMinutiae = byCount
            byMinutiae.budgetByCylinders = true
            let plain = shard.shortlist(probe, options: byCount, slots: 60)
            let budgeted = shard.shortlist(probe, options: byMinutiae, slots: 60)
            #expect(plain.count == 15)
            // A prefix of the same ranking, holding no more minutiae than 15 average fingers
            // (plus the one finger that crosses the line is left out, never a first one).
            #expect(!budgeted.isEmpty && Array(plain.prefix(budgeted.count)) == budgeted)
            let used = budgeted.reduce(0) { $0 + sizes[$1] }
            #expect(Double(used) <= 15 * mean || budgeted.count == 1)
            if budgeted.count < plain.count {
                #expect(Double(used + sizes[plain[budgeted.count]]) > 15 * mean)
            }
        }
    }

    @Test func removedSubjectsAreNeverReturned() {
        let fingers = Fixtures.templates(fingers: 10, impressions: 2)
        let shard = enrolled(fingers)
        #expect(shard.remove(subject: 3) == 1)
        #expect(shard.count == 9)
        #expect(shard.template(GalleryKey(subject: 3, position: .rightIndex)) == nil)
        let c = shard.search(encoder.encode(fingers[3][1]), options: SearchOptions(limit: 9, penetration: 1))
        #expect(!c.contains { $0.key.subject == 3 })
        #expect(c.count == 9)
    }

    /// A removed finger's minutiae do not stay in memory until the next reload: its slot is
    /// overwritten at once, and the other fingers' minutiae are untouched.
    @Test func removedSubjectsMinutiaeAreScrubbedFromMemory() {
        let fingers = Fixtures.templates(fingers: 4, impressions: 1)
        let shard = enrolled(fingers)
        func triples(_ t: MatchTemplate) -> [String] {
            (0..<t.count).map { "\(Int16(clamping: Int(t.x[$0].rounded()))),\(Int16(clamping: Int(t.y[$0].rounded()))),\(t.angle[$0])" }
        }
        let removed = triples(shard.template(GalleryKey(subject: 2, position: .rightIndex))!)
        let kept = triples(shard.template(GalleryKey(subject: 1, position: .rightIndex))!)
        func resident() -> [String] { shard.residentMinutiae.map { "\($0.x),\($0.y),\($0.angle)" } }
        func holds(_ run: [String]) -> Bool {
            let all = resident()
            return all.count >= run.count && (0...(all.count - run.count)).contains { Array(all[$0..<($0 + run.count)]) == run }
        }
        #expect(removed.count > 10 && holds(removed) && holds(kept), "the search finds what is resident")
        #expect(shard.remove(subject: 2) == 1)
        #expect(!holds(removed), "a removed finger's minutiae are overwritten")
        #expect(holds(kept))
        let c = shard.search(encoder.encode(fingers[1][0]), options: SearchOptions(limit: 3, penetration: 1))
        #expect(c.first?.key.subject == 1 && !c.contains { $0.key.subject == 2 })
    }

    @Test func replacingAFingerKeepsOneEntry() {
        let fingers = Fixtures.templates(fingers: 3, impressions: 2)
        let shard = enrolled(fingers)
        shard.add(GalleryKey(subject: 0, position: .rightIndex), template: fingers[1][1])
        #expect(shard.count == 3)
        let c = shard.search(encoder.encode(fingers[1][0]), options: SearchOptions(limit: 3, penetration: 1))
        #expect(Set(c.prefix(2).map(\.key.subject)) == [0, 1])
    }

    @Test func storedTemplateMatchesTheOriginal() throws {
        let t = Fixtures.templates(fingers: 1, impressions: 1)[0][0]
        let shard = GalleryShard()
        shard.add(GalleryKey(subject: 9, position: .leftThumb), template: t)
        let stored = try #require(shard.template(GalleryKey(subject: 9, position: .leftThumb)))
        let original = encoder.encode(t)
        let comparator = TemplateComparator()
        // Resident minutiae are rounded to whole pixels; the score barely moves.
        #expect(comparator.score(stored, original) > 0.9 * comparator.score(original, original))
    }

    @Test func residentMemoryPerFingerStaysSmall() {
        let shard = enrolled(Fixtures.templates(fingers: 64, impressions: 1))
        #expect(shard.residentBytesPerFinger > 300)
        #expect(shard.residentBytesPerFinger < 2048)
    }
}

@Suite struct PrefilterTests {
    let encoder = CylinderEncoder()

    @Test func multiProbeAddsNeighboursBesideTheExactKeys() {
        let hasher = CylinderHasher()
        let template = encoder.encode(Fixtures.templates(fingers: 1, impressions: 1)[0][0])
        let plain = hasher.keys(template)
        let probe = hasher.probeKeys(template, neighbours: true)
        #expect(probe.exact == plain)
        let none = hasher.probeKeys(template, neighbours: false).neighbours.allSatisfy { $0.isEmpty }
        #expect(none)
        for table in 0..<hasher.tables {
            #expect(!probe.neighbours[table].isEmpty)
            #expect(Set(probe.neighbours[table]).isDisjoint(with: plain[table]))
            #expect(Set(probe.neighbours[table]).count == probe.neighbours[table].count)
            // At most one neighbour per MinHash of each cylinder.
            #expect(probe.neighbours[table].count <= hasher.hashesPerKey * template.count)
        }
    }

    @Test func rarerBucketsWeighMore() {
        let w = VoteWeighting.sqrtInverse
        #expect(w.weight(bucketSize: 100, averageBucketSize: 100) == 4)
        #expect(w.weight(bucketSize: 25, averageBucketSize: 100) == 8)
        #expect(w.weight(bucketSize: 1, averageBucketSize: 1_000) == 16)
        #expect(w.weight(bucketSize: 10_000, averageBucketSize: 100) == 0)
        #expect(VoteWeighting.uniform.weight(bucketSize: 10_000, averageBucketSize: 1) == 1)
        var previous = UInt16.max
        for size in [1, 3, 10, 30, 100, 300, 1_000] {
            let v = VoteWeighting.logInverse.weight(bucketSize: size, averageBucketSize: 100)
            #expect(v <= previous)
            previous = v
        }
    }

    /// The weighted, multi-probe prefilter ranks mates at least as well as plain votes on a
    /// seeded synthetic gallery (the FVC figures are in docs/BENCHMARKS.md).
    @Test func weightedMultiProbeRanksMatesNoWorse() {
        let fingers = Fixtures.templates(fingers: 300, impressions: 2, seed: 29)
        let shard = GalleryShard()
        for (f, impressions) in fingers.enumerated() {
            shard.add(GalleryKey(subject: UInt64(f), position: .leftThumb), template: impressions[0])
        }
        func meanRank(_ options: SearchOptions) -> Double {
            let ranks = fingers.indices.map { f in
                shard.prefilterRank(encoder.encode(fingers[f][1]), subject: UInt64(f), options: options) ?? 1
            }
            return ranks.reduce(0, +) / Double(ranks.count)
        }
        let plain = meanRank(SearchOptions(voteWeighting: .uniform, multiProbe: false))
        let tuned = meanRank(SearchOptions(voteWeighting: .sqrtInverse, multiProbe: true))
        #expect(tuned <= plain)
        #expect(tuned < 0.05)
    }
}
