import TanbaCore
/// One schema step. Versions are 1, 2, 3… in list order; a migration is never edited
/// once released — a change is a new migration — so every deployed store upgrades the
/// same way.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

public enum MigrationError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file was written by a newer Tanba: refusing protects it from an old binary
    /// that would misread or damage columns it does not know.
    case newerSchema(found: Int, supported: Int)
    /// The list itself is wrong (versions not 1, 2, 3… in order).
    case badMigrationList(String)

    public var description: String {
        switch self {
        case .newerSchema(let found, let supported):
            "the database has schema version \(found) but this program supports up to \(supported); upgrade Tanba"
        case .badMigrationList(let why): "invalid migration list: \(why)"
        }
    }
}

public enum Migrator {
    /// The schema version recorded in `db` (0 for a fresh file).
    public static func version(of db: Database) throws -> Int {
        try db.execute("""
            CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)
            """)
        return try db.query("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0].int ?? 0
    }

    /// Applies every migration above the recorded version, each in its own transaction
    /// together with its `schema_version` row, so a crash leaves a consistent version.
    /// Returns the resulting version.
    @discardableResult
    public static func migrate(_ db: Database, _ migrations: [Migration]) throws -> Int {
        for (i, m) in migrations.enumerated() where m.version != i + 1 {
            throw MigrationError.badMigrationList("migration \(m.name) has version \(m.version), expected \(i + 1)")
        }
        let current = try version(of: db)
        guard current <= migrations.count else {
            throw MigrationError.newerSchema(found: current, supported: migrations.count)
        }
        for m in migrations where m.version > current {
            try db.transaction {
                try db.execute(m.sql)
                try db.run("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                           [.integer(Int64(m.version)), .text(m.name), .text(AstanaTime.now())])
            }
        }
        return migrations.count
    }
}
