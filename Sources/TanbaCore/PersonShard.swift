/// Which matching shard holds a person: a stable hash of the person's reference (the IIN's
/// twelve digits) modulo the number of shards. The coordinator routes ENROLL, UPDATE and
/// DELETE with it and workers load their shards from the store with it, so it must never
/// change: FNV-1a 64 over the digits' ASCII bytes, then the SplitMix64 finaliser (so that
/// consecutive serials spread evenly), then the top bit cleared (so the key is a
/// non-negative SQLite INTEGER and `key % n` is the same in Swift and in SQL).
public enum PersonShard {
    /// The 63-bit shard key of a person; stored beside the person (`persons.shard_key`).
    public static func key(_ iin: IIN) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in iin.digits.utf8 {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01B3
        }
        h ^= h >> 30; h &*= 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27; h &*= 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return Int64(bitPattern: h >> 1)
    }

    /// The shard (0 ..< count) of a person.
    public static func shard(of iin: IIN, count: Int) -> Int {
        precondition(count > 0, "the number of shards must be positive")
        return Int(key(iin) % Int64(count))
    }
}
