import CSQLite
import Foundation

/// A value bound to or read from a SQLite statement.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var int64: Int64? { if case .integer(let v) = self { v } else { nil } }
    public var int: Int? { int64.map { Int($0) } }
    public var string: String? { if case .text(let v) = self { v } else { nil } }
    public var bytes: [UInt8]? { if case .blob(let v) = self { v } else { nil } }
}

/// Errors of the SQLite layer, with SQLite's own message so an operator can act on them.
public enum SQLiteError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The disk (or the file-size limit) is full: the transaction was rolled back and
    /// nothing was acknowledged. Reported apart because operations must page on it.
    case diskFull(String)
    /// Another connection held the lock for longer than the busy timeout.
    case busy(String)
    /// A UNIQUE/PRIMARY KEY/FOREIGN KEY/CHECK constraint failed.
    case constraint(String)
    case cannotOpen(path: String, message: String)
    /// Any other result code, with the extended code and message.
    case failed(code: Int32, message: String)

    public var description: String {
        switch self {
        case .diskFull(let m): "database or disk is full: \(m)"
        case .busy(let m): "database is busy (lock held past the busy timeout): \(m)"
        case .constraint(let m): "constraint failed: \(m)"
        case .cannotOpen(let path, let m): "cannot open database \(path): \(m)"
        case .failed(let code, let m): "SQLite error \(code): \(m)"
        }
    }

    package static func from(code: Int32, message: String) -> SQLiteError {
        switch code & 0xFF {
        case SQLITE_FULL: .diskFull(message)
        case SQLITE_BUSY, SQLITE_LOCKED: .busy(message)
        case SQLITE_CONSTRAINT: .constraint(message)
        default: .failed(code: code, message: message)
        }
    }
}

/// SQLITE_TRANSIENT: tells SQLite to copy bound bytes (the C macro does not import).
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. Not thread-safe by itself: owners (Store, KeyStore, applier)
/// serialise access. Kept deliberately thin — SQL stays visible at the call sites.
public final class Database {
    public struct Options: Sendable {
        /// WAL lets backups and readers run while the primary writes.
        public var walMode = true
        /// How long a writer waits for another connection's lock before `busy`.
        public var busyTimeoutMilliseconds: Int32 = 5_000
        /// FULL: a committed transaction survives power loss (the store acknowledges
        /// enrollments and deletions to clients, so NORMAL's window is not acceptable).
        public var synchronousFull = true
        public var readOnly = false
        public init() {}
    }

    package let handle: OpaquePointer
    public let path: String

    public init(path: String, options: Options = Options()) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (options.readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw .cannotOpen(path: path, message: message)
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, options.busyTimeoutMilliseconds)
        // Freed pages are zeroed: a deleted wrapped key or ciphertext leaves no residue
        // in the file (Debian's build has it on already; stating it keeps it on anywhere).
        try execute("PRAGMA secure_delete = ON")
        try execute("PRAGMA foreign_keys = ON")
        if !options.readOnly {
            if options.walMode { _ = try query("PRAGMA journal_mode = WAL") }
            try execute("PRAGMA synchronous = \(options.synchronousFull ? "FULL" : "NORMAL")")
        }
    }

    deinit { sqlite3_close_v2(handle) }

    package var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    package func check(_ rc: Int32) throws(SQLiteError) {
        guard rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW else {
            throw SQLiteError.from(code: sqlite3_extended_errcode(handle), message: errorMessage)
        }
    }

    /// Runs one or more statements without parameters.
    public func execute(_ sql: String) throws(SQLiteError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw SQLiteError.from(code: sqlite3_extended_errcode(handle), message: message)
        }
    }

    /// Runs one statement with parameters; returns the rows changed.
    @discardableResult
    public func run(_ sql: String, _ values: [SQLValue] = []) throws(SQLiteError) -> Int {
        let statement = try prepare(sql)
        try statement.bind(values)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs one statement and returns every row.
    public func query(_ sql: String, _ values: [SQLValue] = []) throws(SQLiteError) -> [[SQLValue]] {
        let statement = try prepare(sql)
        try statement.bind(values)
        var rows: [[SQLValue]] = []
        while try statement.step() { rows.append(statement.row()) }
        return rows
    }

    package func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        var stmt: OpaquePointer?
        try check(sqlite3_prepare_v2(handle, sql, -1, &stmt, nil))
        guard let stmt else { throw .failed(code: SQLITE_MISUSE, message: "empty statement: \(sql)") }
        return Statement(stmt, database: self)
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE, so a second writer waits on
    /// the busy timeout up front instead of failing at COMMIT). Rolls back on any error,
    /// including `diskFull` at COMMIT.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Moves every WAL frame into the database and truncates the WAL to zero bytes, so
    /// pages overwritten since (e.g. a destroyed key) are no longer on disk in the WAL.
    public func checkpointTruncate() throws(SQLiteError) {
        try check(sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, nil, nil))
    }
}

/// A prepared statement; finalised when released. It keeps its connection alive, so a
/// statement can never outlive the handle it was prepared on.
package final class Statement {
    let stmt: OpaquePointer
    let database: Database

    package init(_ stmt: OpaquePointer, database: Database) {
        self.stmt = stmt
        self.database = database
    }

    deinit { sqlite3_finalize(stmt) }

    package func bind(_ values: [SQLValue]) throws(SQLiteError) {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .integer(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .real(let v): rc = sqlite3_bind_double(stmt, index, v)
            case .text(let v): rc = sqlite3_bind_text(stmt, index, v, -1, transient)
            case .blob(let v):
                rc = v.withUnsafeBytes { raw in
                    // A zero-length blob must still be a blob, not NULL.
                    sqlite3_bind_blob64(stmt, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                        sqlite3_uint64(v.count), transient)
                }
            }
            try database.check(rc)
        }
    }

    /// Advances; true while a row is available.
    package func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw SQLiteError.from(code: sqlite3_extended_errcode(database.handle), message: database.errorMessage)
    }

    package func row() -> [SQLValue] {
        (0..<sqlite3_column_count(stmt)).map { i in
            switch sqlite3_column_type(stmt, i) {
            case SQLITE_INTEGER: return .integer(sqlite3_column_int64(stmt, i))
            case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, i))
            case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(stmt, i)))
            case SQLITE_BLOB:
                let n = Int(sqlite3_column_bytes(stmt, i))
                guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return .blob([]) }
                return .blob([UInt8](UnsafeRawBufferPointer(start: p, count: n)))
            default: return .null
            }
        }
    }
}
