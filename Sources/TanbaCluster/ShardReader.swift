import Dispatch
import Synchronization
import TanbaCore
import TanbaStore
import TanbaWire

/// Reads one shard's persons from the store as SHARD_LOAD batches, on a Dispatch thread, a
/// bounded number of batches ahead of the consumer.
///
/// Why a reader of its own: a shard load used to decrypt persons one at a time (a store
/// look-up and an Offload hop each) and waited for the worker to index every batch before
/// reading the next. `Store.forEachCurrentEnrollment(shard:of:)` streams a shard from one
/// read transaction (a WAL snapshot: writers are not held up), and reading the next batch
/// while the worker indexes the current one keeps both busy. The bound (`ahead`) keeps a
/// large shard from sitting in the coordinator's memory when the worker is slower.
///
/// The snapshot starts when `batches()` is first iterated: a caller that must not miss
/// concurrent writes starts tracking them before that (the coordinator's `dirty` set).
final class ShardReader: Sendable {
    let store: Store
    let shard: UInt16
    let shardCount: Int
    /// Encoded size at which a batch is cut (ClusterLimits.maximumLoadBatch entries at most).
    let batchBytes: Int
    /// Persons to load (the coordinator's directory: the store's persons it answers for).
    let include: @Sendable (IIN) -> Bool
    /// Batches read but not yet `sent()`.
    private let room: DispatchSemaphore

    init(store: Store, shard: UInt16, shardCount: Int, batchBytes: Int, ahead: Int = 2,
         include: @escaping @Sendable (IIN) -> Bool) {
        (self.store, self.shard, self.shardCount, self.batchBytes, self.include) = (store, shard, shardCount, batchBytes, include)
        room = DispatchSemaphore(value: max(1, ahead))
    }

    /// Estimated encoded size of one entry (ClusterMessages' ShardEntry layout).
    static func encodedSize(_ record: FingerprintRecord) -> Int {
        64 + record.views.reduce(0) { $0 + 32 + 6 * $1.minutiae.count }
    }

    /// The shard's batches in store order (call once); the last may be empty. Throws what
    /// the store throws. The consumer calls `sent()` after each batch; stopping the
    /// iteration early (an error in the consumer) stops the reader.
    func batches() -> AsyncThrowingStream<[ShardEntry], Error> {
        let (stream, continuation) = AsyncThrowingStream<[ShardEntry], Error>.makeStream()
        let room = room
        let stopped = Atomic<Bool>(false)
        continuation.onTermination = { _ in
            stopped.store(true, ordering: .sequentiallyConsistent)
            room.signal()   // a reader waiting for room wakes up and sees `stopped`
        }
        let (store, shard, shardCount, batchBytes, include) = (store, shard, shardCount, batchBytes, include)
        DispatchQueue.global(qos: .userInitiated).async {
            struct Stopped: Error {}
            var batch: [ShardEntry] = [], bytes = 0
            func hand(_ b: [ShardEntry]) throws {
                room.wait()
                if stopped.load(ordering: .sequentiallyConsistent) { throw Stopped() }
                continuation.yield(b)
            }
            do {
                _ = try store.forEachCurrentEnrollment(shard: Int(shard), of: shardCount) { member in
                    guard include(member.iin) else { return }
                    let size = Self.encodedSize(member.record)
                    if !batch.isEmpty && (bytes + size > batchBytes || batch.count == ClusterLimits.maximumLoadBatch) {
                        try hand(batch)
                        batch = []; bytes = 0
                    }
                    batch.append(ShardEntry(subject: ShardMap.subject(of: member.iin), record: member.record))
                    bytes += size
                }
                try hand(batch)
                continuation.finish()
            } catch is Stopped {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return stream
    }

    /// The consumer is done with a batch: the reader may read one more. (The stream sees
    /// when a batch is taken, not when the worker has indexed it.)
    func sent() { room.signal() }
}
