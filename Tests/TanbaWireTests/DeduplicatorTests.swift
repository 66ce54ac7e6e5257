import Testing
@testable import TanbaWire

@Suite struct DeduplicatorTests {
    typealias Dedup = RequestDeduplicator<Int>
    let key = Dedup.Key(sender: "station-1", requestID: RequestID(high: 1, low: 2))

    @Test func repeatedRequestIDReturnsTheFirstAnswerWithoutRunningAgain() async {
        let dedup = Dedup(capacity: 10, lifetimeMilliseconds: 1000)
        let runs = Counter()
        let first = await dedup.run(key, fingerprint: [1], now: 0) { runs.increment(); return 7 }
        let second = await dedup.run(key, fingerprint: [1], now: 500) { runs.increment(); return 8 }
        guard case .fresh(7) = first, case .repeated(7) = second else {
            Issue.record("got \(first), \(second)"); return
        }
        #expect(runs.value == 1)
    }

    @Test func entriesExpireAfterTheirLifetime() async {
        let dedup = Dedup(capacity: 10, lifetimeMilliseconds: 1000)
        _ = await dedup.run(key, fingerprint: [1], now: 0) { 7 }
        let later = await dedup.run(key, fingerprint: [1], now: 1000) { 9 }
        guard case .fresh(9) = later else { Issue.record("got \(later)"); return }
    }

    @Test func sameIDWithDifferentContentIsAConflict() async {
        let dedup = Dedup(capacity: 10, lifetimeMilliseconds: 1000)
        _ = await dedup.run(key, fingerprint: [1], now: 0) { 7 }
        let other = await dedup.run(key, fingerprint: [2], now: 1) { 8 }
        guard case .conflict = other else { Issue.record("got \(other)"); return }
        // Same ID from a different sender is a different request.
        let otherSender = Dedup.Key(sender: "station-2", requestID: key.requestID)
        guard case .fresh(8) = await dedup.run(otherSender, fingerprint: [2], now: 1, { 8 }) else {
            Issue.record("different sender treated as a repeat"); return
        }
    }

    @Test func capacityEvictsTheOldestFirst() async {
        let dedup = Dedup(capacity: 3, lifetimeMilliseconds: 1_000_000)
        for i in 0..<5 {
            _ = await dedup.run(.init(sender: "s", requestID: RequestID(high: 0, low: UInt64(i))), fingerprint: [], now: Int64(i)) { i }
        }
        #expect(await dedup.count == 3)
        let oldest = await dedup.run(.init(sender: "s", requestID: RequestID(high: 0, low: 0)), fingerprint: [], now: 10) { 100 }
        let newest = await dedup.run(.init(sender: "s", requestID: RequestID(high: 0, low: 4)), fingerprint: [], now: 10) { 100 }
        guard case .fresh(100) = oldest, case .repeated(4) = newest else {
            Issue.record("got \(oldest), \(newest)"); return
        }
    }

    @Test func weightBudgetEvictsOldestAnswers() async {
        // Answers weigh their value; a budget of 10 holds 3 + 4 but not 3 + 4 + 5.
        let dedup = Dedup(capacity: 100, lifetimeMilliseconds: 1_000_000, weightBudget: 10, weight: { $0 })
        for (i, w) in [3, 4, 5].enumerated() {
            _ = await dedup.run(.init(sender: "s", requestID: RequestID(high: 0, low: UInt64(i))), fingerprint: [], now: 0) { w }
        }
        #expect(await dedup.count == 2)
        #expect(await dedup.heldWeight == 9)
        guard case .fresh = await dedup.run(.init(sender: "s", requestID: RequestID(high: 0, low: 0)), fingerprint: [], now: 1, { 1 }) else {
            Issue.record("the oldest answer should have been evicted"); return
        }
    }

    @Test func concurrentDuplicatesWaitForTheRunningRequest() async {
        let dedup = Dedup(capacity: 10, lifetimeMilliseconds: 1000)
        let runs = Counter()
        let gate = Gate()
        async let a = dedup.run(key, fingerprint: [1], now: 0) { runs.increment(); await gate.wait(); return 5 }
        // Let the first one start, then issue the duplicate while it is still running.
        while runs.value == 0 { await Task.yield() }
        async let b = dedup.run(key, fingerprint: [1], now: 1) { runs.increment(); return 6 }
        await gate.open()
        let (first, second) = await (a, b)
        guard case .fresh(5) = first, case .repeated(5) = second else {
            Issue.record("got \(first), \(second)"); return
        }
        #expect(runs.value == 1)
    }
}

/// A one-shot latch for tests: `wait` suspends until `open`.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        isOpen = true
        for w in waiters { w.resume() }
        waiters = []
    }
}
