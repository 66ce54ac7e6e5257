import TanbaCore

/// Which shard a person lives in, and which workers hold each shard.
///
/// - **Subject**: a person's 64-bit number inside the matching tier is the value of their
///   IIN (12 decimal digits < 2^40), so it is unique, stable and maps back to the IIN without
///   a table. (Workers therefore see IIN values; they already hold the person's templates.)
/// - **Shard**: `mix(subject) mod shardCount`, with SplitMix64's finaliser as the mix, so
///   consecutive IINs (same birth date) spread evenly. The shard count is fixed for the life
///   of a gallery; scaling moves whole shards between workers, never persons between shards.
/// - **Placement**: each shard on `replicas` distinct workers (2 when there are ≥ 2 active
///   workers), balanced so worker loads differ by at most one shard. Every placement change
///   increments `version`.
public struct ShardMap: Codable, Sendable, Equatable {
    public struct Worker: Codable, Sendable, Equatable {
        public enum State: String, Codable, Sendable { case active, draining }
        public var name: String
        public var address: String
        public var state: State
        public init(name: String, address: String, state: State = .active) {
            self.name = name
            self.address = address
            self.state = state
        }
    }

    public var version: UInt64
    public var shardCount: Int
    public var replicas: Int
    public var workers: [Worker]
    /// placement[shard] = names of the workers that should hold it, preferred first.
    public var placement: [[String]]

    public init(shardCount: Int, replicas: Int = 2, workers: [Worker]) {
        precondition(shardCount > 0 && shardCount <= 4096, "1…4096 shards")
        self.version = 1
        self.shardCount = shardCount
        self.replicas = replicas
        self.workers = workers
        self.placement = ShardMap.balance(current: [], shardCount: shardCount, replicas: replicas,
                                          workers: workers.filter { $0.state == .active }.map(\.name))
    }

    public static func subject(of iin: IIN) -> UInt64 { UInt64(iin.digits)! }

    public static func iin(ofSubject subject: UInt64) -> IIN? {
        let digits = String(subject)
        guard digits.count <= 12 else { return nil }
        return try? IIN(String(repeating: "0", count: 12 - digits.count) + digits)
    }

    /// The shard of a subject: the store's `PersonShard` of its IIN, so the coordinator can
    /// read one shard's persons with `Store.forEachCurrentEnrollment(shard:of:)` (an indexed
    /// column) instead of decrypting persons one by one. A subject that is not an IIN
    /// (never sent by the coordinator) still gets a stable shard.
    public static func shard(ofSubject subject: UInt64, shardCount: Int) -> UInt16 {
        if let iin = iin(ofSubject: subject) { return UInt16(PersonShard.shard(of: iin, count: shardCount)) }
        var z = subject &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return UInt16(z % UInt64(shardCount))
    }

    public func shard(of iin: IIN) -> UInt16 { UInt16(PersonShard.shard(of: iin, count: shardCount)) }

    public var allShards: [UInt16] { (0..<shardCount).map { UInt16($0) } }

    public func worker(named name: String) -> Worker? { workers.first { $0.name == name } }

    public func shards(on worker: String) -> [UInt16] {
        allShards.filter { placement[Int($0)].contains(worker) }
    }

    /// A new placement for the active workers that keeps every replica that can stay, fills
    /// missing replicas on the least-loaded workers, then evens out loads by moving single
    /// replicas from the busiest to the idlest worker. Deterministic (ties by name).
    public static func balance(current: [[String]], shardCount: Int, replicas: Int, workers: [String]) -> [[String]] {
        let active = workers.sorted()
        let r = min(replicas, active.count)
        let activeSet = Set(active)
        var p: [[String]] = (0..<shardCount).map { s in
            var kept: [String] = []
            for w in (s < current.count ? current[s] : []) where activeSet.contains(w) && !kept.contains(w) { kept.append(w) }
            return Array(kept.prefix(r))
        }
        guard r > 0 else { return p }
        var load = Dictionary(uniqueKeysWithValues: active.map { ($0, 0) })
        for list in p { for w in list { load[w, default: 0] += 1 } }
        for s in 0..<shardCount {
            while p[s].count < r {
                let pick = active.filter { !p[s].contains($0) }.min { (load[$0]!, $0) < (load[$1]!, $1) }!
                p[s].append(pick)
                load[pick]! += 1
            }
        }
        while true {
            let busiest = active.max { (load[$0]!, $1) < (load[$1]!, $0) }!
            let idlest = active.min { (load[$0]!, $0) < (load[$1]!, $1) }!
            guard load[busiest]! - load[idlest]! > 1,
                  let s = (0..<shardCount).first(where: { p[$0].contains(busiest) && !p[$0].contains(idlest) }) else { break }
            p[s][p[s].firstIndex(of: busiest)!] = idlest
            load[busiest]! -= 1
            load[idlest]! += 1
        }
        return p
    }
}
