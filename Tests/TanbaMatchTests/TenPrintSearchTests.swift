import Testing
import TanbaCore
import TanbaSynth
@testable import TanbaMatch

@Suite struct TenPrintSearchTests {
    static let generator = SyntheticTemplateGenerator(seed: 31)
    static let positions: [FingerPosition] = [.rightThumb, .rightIndex, .rightMiddle, .leftThumb, .leftIndex]
    let encoder = CylinderEncoder()

    static func view(_ person: Int, _ position: FingerPosition, impression: Int) -> FingerTemplate {
        generator.impression(of: generator.master(finger: UInt64(person) * 16 + UInt64(position.rawValue)), index: impression,
                             position: position)
    }

    /// 120 persons × 5 fingers; person 7 lacks the left index finger.
    static let galleries: [FingerPosition: GalleryShard] = {
        var g: [FingerPosition: GalleryShard] = [:]
        for p in positions { g[p] = GalleryShard() }
        for person in 0..<120 {
            for p in positions where !(person == 7 && p == .leftIndex) {
                g[p]!.add(GalleryKey(subject: UInt64(person), position: p), template: view(person, p, impression: 0))
            }
        }
        return g
    }()

    func probe(_ person: Int, fingers: [FingerPosition] = positions) -> [(position: FingerPosition, template: MatchTemplate)] {
        fingers.map { (position: $0, template: encoder.encode(Self.view(person, $0, impression: 1))) }
    }

    /// Fused prefilter with a shortlist far below the gallery (8 of 120 persons) still puts
    /// every mate first: ten-print evidence adds up in stage one.
    @Test func fusedShortlistFindsEveryMateFirst() {
        let options = TenPrintSearchOptions(limit: 5, penetration: 0, minimumPersons: 8)
        for person in stride(from: 0, to: 120, by: 6) {
            var trace = TenPrintTrace()
            let found = TenPrintSearch.search(probe(person), in: Self.galleries, persons: 120, options: options, trace: &trace)
            #expect(found.first?.subject == UInt64(person))
            #expect(found.count == 5)
            #expect(trace.personsShortlisted == 8 && trace.comparisons == 8 * Self.positions.count)
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.fusedScore >= $1.fusedScore })
        }
    }

    /// The fused score is the mean over the probe's fingers, a missing finger scoring 0, and
    /// it equals what the comparator gives finger by finger.
    @Test func fusedScoreIsTheMeanOfFullComparatorScores() {
        let p = probe(7)
        let found = TenPrintSearch.search(p, in: Self.galleries, persons: 120, options: TenPrintSearchOptions(limit: 1, minimumPersons: 8))
        let hit = try! #require(found.first)
        #expect(hit.subject == 7)
        let comparator = TemplateComparator()
        for (i, finger) in p.enumerated() {
            let enrolled = Self.galleries[finger.position]!.template(GalleryKey(subject: 7, position: finger.position))
            #expect(hit.fingerScores[i] == (enrolled.map { comparator.score(finger.template, $0) } ?? 0))
        }
        #expect(hit.fingerScores[Self.positions.firstIndex(of: .leftIndex)!] == 0)
        #expect(abs(hit.fusedScore - hit.fingerScores.reduce(0, +) / Float(p.count)) < 1e-6)
    }

    /// Both strategies agree on the mate; a one-finger probe works with either.
    @Test func strategiesAgreeAndSingleFingerProbesWork() {
        for strategy in TenPrintSearchOptions.Strategy.allCases {
            let options = TenPrintSearchOptions(limit: 3, penetration: 0.1, minimumPersons: 12, strategy: strategy)
            #expect(TenPrintSearch.search(probe(42), in: Self.galleries, persons: 120, options: options).first?.subject == 42)
            let one = TenPrintSearch.search(probe(42, fingers: [.rightThumb]), in: Self.galleries, persons: 120, options: options)
            #expect(one.first?.fingerScores.count == 1)
        }
        #expect(TenPrintSearch.search([], in: Self.galleries, persons: 120).isEmpty)
    }

    /// A deleted person never comes back from the prefilter.
    @Test func removedPersonsAreNotShortlisted() {
        var g: [FingerPosition: GalleryShard] = [:]
        for p in Self.positions { g[p] = GalleryShard() }
        for person in 0..<10 { for p in Self.positions { g[p]!.add(GalleryKey(subject: UInt64(person), position: p), template: Self.view(person, p, impression: 0)) } }
        for p in Self.positions { g[p]!.remove(subject: 3) }
        let found = TenPrintSearch.search(probe(3), in: g, persons: 9, options: TenPrintSearchOptions(limit: 10, minimumPersons: 10))
        #expect(!found.contains { $0.subject == 3 })
    }
}
