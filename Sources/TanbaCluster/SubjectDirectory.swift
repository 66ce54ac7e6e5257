import Crypto
import Foundation
import Synchronization
import TanbaCore
import TanbaStore

/// The coordinator's list of enrolled IINs (with their finger counts), needed to load shards
/// from the store: `Store.forEachCurrentEnrollment` yields opaque person handles, not IINs,
/// and TanbaStore is not changed on this branch.
///
/// Kept in memory and, when given a path, in an append-only file of AES-GCM sealed lines
/// (`+IIN:fingers` / `-IIN`) under a key derived by HKDF from the store's master key, so the
/// file reveals nothing without that key. A deletion rewrites the file without the person
/// (the same day, as [BIO 11] asks for the biometric data).
///
/// Also the safety net against a stale replica: identification only returns IINs listed
/// here, so a person deleted while one replica was unreachable is never returned.
public final class SubjectDirectory: @unchecked Sendable {
    private let state = Mutex<[IIN: Int]>([:])
    private let path: String?
    private let key: SymmetricKey?
    private let fileLock = NSLock()

    /// In memory only (tests).
    public init() {
        path = nil
        key = nil
    }

    /// Opens (or creates) the directory at `path`, sealed under a key derived from `master`.
    public init(path: String, master: MasterKey) throws {
        self.path = path
        let material = Data(base64Encoded: String(master.exported.split(separator: ":", maxSplits: 1).last ?? ""))!
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material),
                                     info: Data("tanba-cluster-directory-v1".utf8), outputByteCount: 32)
        var entries: [IIN: Int] = [:]
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") where !line.isEmpty {
                guard let data = Data(base64Encoded: String(line)),
                      let box = try? AES.GCM.SealedBox(combined: data),
                      let plain = try? AES.GCM.open(box, using: key!),
                      let entry = String(data: plain, encoding: .utf8) else {
                    throw DirectoryError.corrupt(path)
                }
                let body = entry.dropFirst()
                if entry.hasPrefix("+") {
                    let parts = body.split(separator: ":")
                    if parts.count == 2, let iin = try? IIN(String(parts[0])), let n = Int(parts[1]) { entries[iin] = n }
                } else if entry.hasPrefix("-"), let iin = try? IIN(String(body)) {
                    entries[iin] = nil
                }
            }
        }
        state.withLock { $0 = entries }
        try rewrite()
    }

    public enum DirectoryError: Error, CustomStringConvertible {
        case corrupt(String)
        public var description: String {
            switch self { case .corrupt(let p): "\(p) does not open with this master key (wrong key or damaged file)" }
        }
    }

    public var count: Int { state.withLock { $0.count } }
    public var fingers: Int { state.withLock { $0.values.reduce(0, +) } }
    public func contains(_ iin: IIN) -> Bool { state.withLock { $0[iin] != nil } }
    public var all: [IIN] { state.withLock { Array($0.keys) }.sorted() }

    public func insert(_ iin: IIN, fingers: Int) throws {
        state.withLock { $0[iin] = fingers }
        try append("+\(iin.digits):\(fingers)")
    }

    /// Adds many persons with one append and one fsync (bulk seeding: one fsync per person
    /// would dominate a 100,000-person load).
    public func insertMany(_ entries: [(iin: IIN, fingers: Int)]) throws {
        guard !entries.isEmpty else { return }
        state.withLock { s in for e in entries { s[e.iin] = e.fingers } }
        try append(entries.map { "+\($0.iin.digits):\($0.fingers)" })
    }

    public func remove(_ iin: IIN) throws {
        state.withLock { $0[iin] = nil }
        try rewrite()
    }

    /// Replaces the list with the store's current enrollments and rewrites the file.
    /// For a coordinator whose directory file is missing or disagrees with its store — e.g.
    /// one started on a promoted standby's files: the file is local, the store replicated.
    /// Decrypts every person's identity once (a startup cost proportional to the gallery).
    @discardableResult
    public func rebuild(from store: Store) throws -> Int {
        var entries: [IIN: Int] = [:]
        try store.forEachCurrentEnrollment(shard: 0, of: 1) { entries[$0.iin] = $0.record.views.count }
        state.withLock { $0 = entries }
        try rewrite()
        return entries.count
    }

    private func seal(_ line: String) throws -> String {
        try AES.GCM.seal(Data(line.utf8), using: key!).combined!.base64EncodedString() + "\n"
    }

    private func append(_ line: String) throws { try append([line]) }

    private func append(_ lines: [String]) throws {
        guard let path else { return }
        let sealed = try lines.map(seal).joined()
        try fileLock.withLock {
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(sealed.utf8))
            try handle.synchronize()
        }
    }

    private func rewrite() throws {
        guard let path else { return }
        let snapshot = state.withLock { $0 }
        var text = ""
        for (iin, n) in snapshot.sorted(by: { $0.key < $1.key }) { text += try seal("+\(iin.digits):\(n)") }
        try fileLock.withLock {
            let temporary = path + ".tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw DirectoryError.corrupt("cannot write \(temporary)")
            }
            guard rename(temporary, path) == 0 else { throw DirectoryError.corrupt("cannot replace \(path)") }
        }
    }
}
