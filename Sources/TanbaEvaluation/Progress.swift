import Foundation

/// A progress line on standard error for long runs; silent when stderr is not a terminal
/// (so logs and JSON output stay clean).
public final class Progress: @unchecked Sendable {
    private let label: String
    private let total: Int
    private var done = 0
    private var lastPrint = 0.0
    private let lock = NSLock()
    private let start = Date()
    public let enabled: Bool

    public init(_ label: String, total: Int, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    public func advance(by n: Int = 1) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        done += n
        let now = Date().timeIntervalSince(start)
        if now - lastPrint < 0.2 && done < total { return }
        lastPrint = now
        let pct = total > 0 ? 100 * Double(done) / Double(total) : 100
        var line = String(format: "\r%@: %d/%d (%.0f%%) %.1fs", label, done, total, pct, now)
        if done >= total { line += "\n" }
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }
}
