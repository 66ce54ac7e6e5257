import Foundation

/// One result slot per iteration of `DispatchQueue.concurrentPerform`: workers write their
/// own slot, the caller reads all of them after the loop returns.
public final class ResultSlots<T>: @unchecked Sendable {
    private var storage: [T?]
    private let lock = NSLock()

    public init(count: Int) { storage = [T?](repeating: nil, count: count) }

    public func set(_ i: Int, _ value: T) {
        lock.lock()
        storage[i] = value
        lock.unlock()
    }

    /// Filled slots in index order (an iteration that wrote nothing contributes nothing).
    public var values: [T] {
        lock.lock()
        defer { lock.unlock() }
        return storage.compactMap { $0 }
    }
}
