import Foundation
import TanbaCore
import TanbaSQLite

/// A health observation from monitoring (the coordinator's status probes).
public struct HealthEvent: Sendable, Equatable {
    public enum Status: String, Sendable, Codable { case up, down, delayed }
    public var component: String
    public var status: Status
    public var at: Date
    public var detail: String

    public init(component: String, status: HealthEvent.Status, at: Date, detail: String) {
        self.component = component
        self.status = status
        self.at = at
        self.detail = detail
    }
}

public struct Incident: Sendable, Equatable, Codable {
    public enum Source: String, Sendable, Codable { case monitoring, manual }
    public var id: String
    public var source: Source
    public var component: String
    public var startedAt: String
    public var cause: String
    public var actions: String
    public var endedAt: String?
    public var recordedBy: String
}

public struct MaintenanceWindow: Sendable, Equatable, Codable {
    public var id: String
    public var startsAt: String
    public var endsAt: String
    public var description: String
    public var announcedAt: String
    public var announcedBy: String
}

/// What the status endpoint shows: planned maintenance ahead and incidents still open.
public struct StatusAnnouncements: Sendable, Equatable, Codable {
    public var maintenance: [MaintenanceWindow]
    public var openIncidents: [Incident]
}

/// The incident journal [LEX 39–41]: outages or delays of more than one hour with start,
/// cause, actions and end, recorded automatically from health monitoring and by hand;
/// planned maintenance announced in advance [LEX 42]. Same file as the accounts.
public final class IncidentJournal: @unchecked Sendable {
    public static let threshold: TimeInterval = 3600

    let db: Database
    let clock: AccessClock
    private let lock = NSLock()

    public init(path: String, clock: AccessClock = .system) throws {
        db = try Database(path: path)
        self.clock = clock
        try Migrator.migrate(db, AccessSchema.migrations)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Monitoring

    /// Feeds one health observation. A component that is down or delayed is remembered
    /// from its first bad observation; once that lasts more than an hour an incident is
    /// opened (start = first bad observation), and the next `up` closes it. Shorter
    /// interruptions leave no entry. Returns the incident opened or closed, if any.
    @discardableResult
    public func observe(_ event: HealthEvent) throws -> Incident? {
        try locked {
            try db.transaction { () throws -> Incident? in
                let state = try db.query("SELECT down_since, cause, incident_id FROM access_health_state WHERE component = ?",
                                         [.text(event.component)]).first
                switch event.status {
                case .down, .delayed:
                    guard let state else {
                        try db.run("INSERT INTO access_health_state (component, down_since, cause) VALUES (?, ?, ?)",
                                   [.text(event.component), .text(event.at.astana), .text("\(event.status.rawValue): \(event.detail)")])
                        return nil
                    }
                    return try openIfLong(event.component, state: state, at: event.at)
                case .up:
                    guard let state else { return nil }
                    var incident = try openIfLong(event.component, state: state, at: event.at)
                    let id = incident?.id ?? state[2].string
                    try db.run("DELETE FROM access_health_state WHERE component = ?", [.text(event.component)])
                    guard let id else { return nil }
                    try db.run("""
                        UPDATE access_incidents SET ended_at = ?, actions = actions || ? WHERE incident_id = ? AND ended_at IS NULL
                        """, [.text(event.at.astana), .text("; recovered: \(event.detail)"), .text(id)])
                    incident = try incidentRow(id)
                    return incident
                }
            }
        }
    }

    /// Opens incidents for components down for more than an hour at `clock.now()` even
    /// when no new observation came (a monitor that stopped reporting).
    @discardableResult
    public func sweep() throws -> [Incident] {
        let t = clock.now()
        return try locked {
            try db.transaction {
                try db.query("SELECT component, down_since, cause, incident_id FROM access_health_state").compactMap { r in
                    try openIfLong(r[0].string ?? "", state: Array(r[1...]), at: t)
                }
            }
        }
    }

    private func openIfLong(_ component: String, state: [SQLValue], at: Date) throws -> Incident? {
        guard state[2].string == nil, let since = parseAstana(state[0].string), at.timeIntervalSince(since) > Self.threshold else {
            return nil
        }
        let id = "inc-" + randomHex(6)
        try db.run("""
            INSERT INTO access_incidents (incident_id, source, component, started_at, cause, actions, recorded_by)
            VALUES (?, 'monitoring', ?, ?, ?, ?, 'monitoring')
            """, [.text(id), .text(component), .text(since.astana), .text(state[1].string ?? ""),
                  .text("detected by health monitoring; operations paged")])
        try db.run("UPDATE access_health_state SET incident_id = ? WHERE component = ?", [.text(id), .text(component)])
        return try incidentRow(id)
    }

    // MARK: Manual entries

    /// Records an incident by hand. `end` may be nil while it lasts.
    @discardableResult
    public func record(component: String, start: Date, cause: String, actions: String, end: Date?, by actor: String) throws -> Incident {
        guard !cause.trimmingCharacters(in: .whitespaces).isEmpty, !actions.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AccessError.invalid("an incident needs a cause and the actions taken")
        }
        if let end, end < start { throw AccessError.invalid("an incident cannot end before it starts") }
        let id = "inc-" + randomHex(6)
        return try locked {
            try db.run("""
                INSERT INTO access_incidents (incident_id, source, component, started_at, cause, actions, ended_at, recorded_by)
                VALUES (?, 'manual', ?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(component), .text(start.astana), .text(cause), .text(actions),
                      end.map { .text($0.astana) } ?? .null, .text(actor)])
            return try incidentRow(id)!
        }
    }

    /// Adds actions to an incident and optionally closes it.
    public func update(_ id: String, actions: String, end: Date?) throws {
        try locked {
            guard try db.run("""
                UPDATE access_incidents SET actions = actions || ?, ended_at = COALESCE(?, ended_at) WHERE incident_id = ?
                """, [.text("; " + actions), end.map { .text($0.astana) } ?? .null, .text(id)]) == 1 else {
                throw AccessError.notFound("incident \(id)")
            }
        }
    }

    public func incidents() throws -> [Incident] {
        try locked { try db.query("\(Self.select) ORDER BY started_at").map(Self.incident) }
    }

    private func incidentRow(_ id: String) throws -> Incident? {
        try db.query("\(Self.select) WHERE incident_id = ?", [.text(id)]).first.map(Self.incident)
    }

    private static let select = "SELECT incident_id, source, component, started_at, cause, actions, ended_at, recorded_by FROM access_incidents"

    private static func incident(_ r: [SQLValue]) -> Incident {
        Incident(id: r[0].string ?? "", source: Incident.Source(rawValue: r[1].string ?? "") ?? .manual,
                 component: r[2].string ?? "", startedAt: r[3].string ?? "", cause: r[4].string ?? "",
                 actions: r[5].string ?? "", endedAt: r[6].string, recordedBy: r[7].string ?? "")
    }

    // MARK: Planned maintenance [LEX 42]

    /// Announces maintenance; it must start at least `minimumNotice` from now.
    @discardableResult
    public func announceMaintenance(starts: Date, ends: Date, description: String, by actor: String,
                                    minimumNotice: TimeInterval = 24 * 3600) throws -> MaintenanceWindow {
        let t = clock.now()
        guard starts.timeIntervalSince(t) >= minimumNotice else {
            throw AccessError.invalid("maintenance must be announced at least \(Int(minimumNotice / 3600)) hours in advance")
        }
        guard ends > starts else { throw AccessError.invalid("maintenance must end after it starts") }
        let w = MaintenanceWindow(id: "mnt-" + randomHex(6), startsAt: starts.astana, endsAt: ends.astana,
                                  description: description, announcedAt: t.astana, announcedBy: actor)
        try locked {
            _ = try db.run("""
                INSERT INTO access_maintenance (maintenance_id, starts_at, ends_at, description, announced_at, announced_by)
                VALUES (?, ?, ?, ?, ?, ?)
                """, [.text(w.id), .text(w.startsAt), .text(w.endsAt), .text(w.description), .text(w.announcedAt), .text(actor)])
        }
        return w
    }

    public func cancelMaintenance(_ id: String) throws {
        try locked {
            guard try db.run("UPDATE access_maintenance SET cancelled = 1 WHERE maintenance_id = ?", [.text(id)]) == 1 else {
                throw AccessError.notFound("maintenance \(id)")
            }
        }
    }

    /// For the status endpoint: maintenance not yet over (not cancelled), open incidents.
    public func announcements() throws -> StatusAnnouncements {
        let t = clock.now()
        return try locked {
            let windows = try db.query("""
                SELECT maintenance_id, starts_at, ends_at, description, announced_at, announced_by FROM access_maintenance
                WHERE cancelled = 0 ORDER BY starts_at
                """).map {
                MaintenanceWindow(id: $0[0].string ?? "", startsAt: $0[1].string ?? "", endsAt: $0[2].string ?? "",
                                  description: $0[3].string ?? "", announcedAt: $0[4].string ?? "", announcedBy: $0[5].string ?? "")
            }.filter { parseAstana($0.endsAt).map { $0 > t } ?? false }
            let open = try db.query("\(Self.select) WHERE ended_at IS NULL ORDER BY started_at").map(Self.incident)
            return StatusAnnouncements(maintenance: windows, openIncidents: open)
        }
    }
}
