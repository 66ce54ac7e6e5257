/// Remembers the answer to each (sender, request ID) for a while, so that a retried or
/// retransmitted request gets the first answer instead of being executed again — an
/// ENROLL retried after a lost answer must never enroll twice.
///
/// Bounded three ways: at most `capacity` entries and at most `weightBudget` total answer
/// weight (`weight` is e.g. the answer's encoded size; the oldest entries go first), and
/// each completed entry lives `lifetime` after it completed. Its lifetime must be at least twice
/// the keyring's freshness window, so that any replay the keyring still accepts is found
/// here. Requests with the same ID that arrive while the first is still running wait for
/// its answer. A request that reuses an ID with *different* content is refused
/// (`.conflict`): an ID names one request, and answering a different one with a cached
/// answer would be wrong.
///
/// Time is passed in (milliseconds), so tests need no sleeps.
public actor RequestDeduplicator<Answer: Sendable> {
    public struct Key: Hashable, Sendable {
        public var sender: String
        public var requestID: RequestID
        public init(sender: String, requestID: RequestID) { self.sender = sender; self.requestID = requestID }
    }

    public enum Outcome: Sendable {
        /// Executed now: the first time this ID was seen (or its entry had expired).
        case fresh(Answer)
        /// A repeat: the answer of the first execution, which is not run again.
        case repeated(Answer)
        /// The ID was seen with different request content.
        case conflict
    }

    private enum Entry {
        case running(Task<Answer, Never>, fingerprint: [UInt8])
        case done(Answer, fingerprint: [UInt8], expires: Int64, weight: Int)
    }

    public let capacity: Int
    public let lifetimeMilliseconds: Int64
    public let weightBudget: Int
    private let weight: @Sendable (Answer) -> Int
    private let retain: @Sendable (Answer) -> Bool
    private var entries: [Key: Entry] = [:]
    private var totalWeight = 0
    /// Insertion order, for eviction; may hold keys already removed (skipped lazily).
    private var order: [Key] = []
    private var orderStart = 0

    /// Defaults: 100,000 answers, 120 s, 256 MiB when `weight` is the answer's size in bytes
    /// (the default weight of 1 per answer makes the budget a second count limit).
    /// `retain` says whether a completed answer is kept for repeats; an answer that is not
    /// (e.g. "unavailable, retry later") lets the retry run again instead of replaying a
    /// refusal the retry exists to get past. Repeats that arrive while it runs still share it.
    public init(capacity: Int = 100_000, lifetimeMilliseconds: Int64 = 120_000, weightBudget: Int = 256 << 20,
                weight: @escaping @Sendable (Answer) -> Int = { _ in 1 },
                retain: @escaping @Sendable (Answer) -> Bool = { _ in true }) {
        precondition(capacity > 0 && lifetimeMilliseconds > 0 && weightBudget > 0)
        self.capacity = capacity
        self.lifetimeMilliseconds = lifetimeMilliseconds
        self.weightBudget = weightBudget
        self.weight = weight
        self.retain = retain
    }

    public var count: Int { entries.count }
    /// Total weight of the answers held.
    public var heldWeight: Int { totalWeight }

    /// Runs `operation` for a new key, or returns the first answer for a known one.
    /// `fingerprint` identifies the request content (e.g. its payload's SHA-256).
    public func run(_ key: Key, fingerprint: [UInt8], now: Int64,
                    _ operation: @escaping @Sendable () async -> Answer) async -> Outcome {
        evict(now: now)
        switch entries[key] {
        case .running(let task, let known):
            guard known == fingerprint else { return .conflict }
            return .repeated(await task.value)
        case .done(let answer, let known, let expires, _) where expires > now:
            guard known == fingerprint else { return .conflict }
            return .repeated(answer)
        case .done, nil:
            break
        }
        // Unstructured on purpose: if the first caller goes away (its connection dropped, its
        // task cancelled), the work still finishes and its answer serves the retry.
        let task = Task.detached { await operation() }
        insert(key, .running(task, fingerprint: fingerprint))
        let answer = await task.value
        // Still ours unless evicted meanwhile; then the answer is not kept.
        if case .running = entries[key], !retain(answer) {
            remove(key)
        } else if case .running = entries[key] {
            let w = max(0, weight(answer))
            entries[key] = .done(answer, fingerprint: fingerprint, expires: now + lifetimeMilliseconds, weight: w)
            totalWeight += w
            shrink()
        }
        return .fresh(answer)
    }

    private func insert(_ key: Key, _ entry: Entry) {
        if let old = entries.updateValue(entry, forKey: key) {
            if case .done(_, _, _, let w) = old { totalWeight -= w }
        } else {
            order.append(key)
        }
        shrink()
    }

    /// Evicts oldest-first until both the count and the weight fit.
    private func shrink() {
        while entries.count > capacity || totalWeight > weightBudget, orderStart < order.count {
            remove(order[orderStart])
            orderStart += 1
        }
        compactOrder()
    }

    private func remove(_ key: Key) {
        if case .done(_, _, _, let w) = entries.removeValue(forKey: key) { totalWeight -= w }
    }

    /// Drops expired entries from the old end of the insertion order. An entry completed
    /// late can sit behind a younger one for a while; lookups check expiry themselves.
    private func evict(now: Int64) {
        while orderStart < order.count {
            let key = order[orderStart]
            switch entries[key] {
            case .done(_, _, let expires, _) where expires <= now:
                remove(key)
                orderStart += 1
            case nil:
                orderStart += 1
            default:
                compactOrder()
                return
            }
        }
        compactOrder()
    }

    private func compactOrder() {
        if orderStart > 1024, orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
    }
}
