import Foundation
import TanbaCore

/// The supervisor's review of requests [LEX 9, 10]: requests per user, per basis and per
/// day of a period, with flags for case numbers that do not belong to the user's
/// proceedings [LEX 5] and for unusual volume. For the supervising prosecutor only
/// (`Action.supervisorReport`) [LEX 44, 51, 52].
public struct SupervisorReport: Sendable, Equatable, Codable {
    public struct UserLine: Sendable, Equatable, Codable {
        public var login: String
        public var role: String
        public var requests: Int
        public var allowed: Int
        public var refused: Int
        public var distinctSubjects: Int
        public var byBasis: [String: Int]
        public var unusualVolume: Bool
    }

    public struct Flag: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            case caseNotInProceedings = "case-not-in-proceedings"
            case caseUnverified = "case-unverified"
            case missingCaseNumber = "missing-case-number"
            case unusualVolume = "unusual-volume"
        }
        public var kind: Kind
        public var login: String
        public var at: String?
        public var basis: String?
        public var caseNumber: String?
        public var detail: String
    }

    public var from: String
    public var to: String
    public var generatedAt: String
    public var totalRequests: Int
    public var users: [UserLine]
    public var byBasis: [String: Int]
    /// Astana calendar day (YYYY-MM-DD) → requests.
    public var byDay: [String: Int]
    public var flags: [Flag]
}

public struct SupervisorReportOptions: Sendable {
    /// A user is flagged when their requests exceed `volumeMultiplier` × the median of all
    /// users' counts in the period, and at least `volumeFloor`.
    public var volumeMultiplier: Double = 3
    public var volumeFloor: Int = 20
    /// Operations that count as requests (authority requests by default).
    public var operations: Set<String> = ["identify", "verify", "view-record"]
    public init() {}
}

extension SupervisorReport {
    /// Builds the report from audit events (the coordinator reads them from the store's
    /// audit log) for `[from, to)`.
    public static func build(events: [AuditEvent], from: Date, to: Date, proceedings: (any ProceedingsRegistry)? = nil,
                             options: SupervisorReportOptions = SupervisorReportOptions(), now: Date = Date()) -> SupervisorReport {
        let selected = events.filter { e in
            guard options.operations.contains(e.operation), let d = e.date else { return false }
            return d >= from && d < to
        }.sorted { ($0.date ?? .distantPast) < ($1.date ?? .distantPast) }

        var flags: [Flag] = []
        var byBasis: [String: Int] = [:], byDay: [String: Int] = [:]
        var perUser: [String: (role: String, events: [AuditEvent])] = [:]
        for e in selected {
            byBasis[e.basis, default: 0] += 1
            byDay[String(AstanaTime.format(e.date!).prefix(10)), default: 0] += 1
            perUser[e.actor, default: (e.role, [])].events.append(e)
            guard let kind = CaseKind(rawValue: e.basis) else { continue }
            let at = AstanaTime.format(e.date!)
            guard let number = e.caseNumber, !number.isEmpty else {
                flags.append(Flag(kind: .missingCaseNumber, login: e.actor, at: at, basis: e.basis, caseNumber: nil,
                                  detail: "\(e.operation) without a case number"))
                continue
            }
            switch proceedings?.belongs(caseNumber: number, kind: kind, toUser: e.actor) {
            case .some(false):
                flags.append(Flag(kind: .caseNotInProceedings, login: e.actor, at: at, basis: e.basis, caseNumber: number,
                                  detail: "case \(number) is not among the proceedings of \(e.actor) (\(e.operation), \(e.result))"))
            case .none:
                flags.append(Flag(kind: .caseUnverified, login: e.actor, at: at, basis: e.basis, caseNumber: number,
                                  detail: "case \(number) could not be checked against the user's proceedings"))
            case .some(true): break
            }
        }

        let counts = perUser.values.map(\.events.count).sorted()
        let median: Double = counts.isEmpty ? 0
            : counts.count % 2 == 1 ? Double(counts[counts.count / 2])
            : Double(counts[counts.count / 2 - 1] + counts[counts.count / 2]) / 2
        let limit = max(Double(options.volumeFloor), options.volumeMultiplier * median)
        var users: [UserLine] = []
        for (login, entry) in perUser.sorted(by: { $0.key < $1.key }) {
            let evs = entry.events
            var basis: [String: Int] = [:]
            for e in evs { basis[e.basis, default: 0] += 1 }
            let unusual = Double(evs.count) > limit
            if unusual {
                flags.append(Flag(kind: .unusualVolume, login: login, at: nil, basis: nil, caseNumber: nil,
                                  detail: "\(evs.count) requests in the period; median per user \(median), limit \(Int(limit))"))
            }
            users.append(UserLine(login: login, role: entry.role, requests: evs.count,
                                  allowed: evs.filter { !$0.refused }.count, refused: evs.filter(\.refused).count,
                                  distinctSubjects: Set(evs.compactMap(\.subjectRef)).count, byBasis: basis, unusualVolume: unusual))
        }
        return SupervisorReport(from: AstanaTime.format(from), to: AstanaTime.format(to), generatedAt: AstanaTime.format(now),
                                totalRequests: selected.count, users: users, byBasis: byBasis, byDay: byDay, flags: flags)
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// CSV (RFC 4180): one row per user and basis, then one row per flag.
    public func csv() -> String {
        var rows = [["section", "login", "role", "basis", "requests", "allowed", "refused", "distinct_subjects", "flag", "at", "case_number", "detail"]]
        for u in users {
            for (basis, n) in u.byBasis.sorted(by: { $0.key < $1.key }) {
                rows.append(["requests", u.login, u.role, basis, String(n), String(u.allowed), String(u.refused),
                             String(u.distinctSubjects), u.unusualVolume ? "unusual-volume" : "", "", "", ""])
            }
        }
        for f in flags {
            rows.append(["flag", f.login, "", f.basis ?? "", "", "", "", "", f.kind.rawValue, f.at ?? "", f.caseNumber ?? "", f.detail])
        }
        return rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ s: String) -> String {
        // Quote when needed; a leading formula character is neutralised for spreadsheets.
        var v = s
        if let first = v.first, "=+-@".contains(first) { v = "'" + v }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A self-contained HTML page (no scripts, no external resources).
    public func html() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
                .replacingOccurrences(of: "'", with: "&#39;")
        }
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Tanba supervisor report \(esc(from)) – \(esc(to))</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}
            td,th{border:1px solid #999;padding:.25em .6em;text-align:left}th{background:#eee}.flag{background:#fdd}</style>
            </head><body>
            <h1>Requests review</h1>
            <p>Period \(esc(from)) to \(esc(to)) (Astana time). Generated \(esc(generatedAt)). \(totalRequests) requests, \(flags.count) flags.</p>
            <h2>Per user</h2>
            <table><tr><th>user</th><th>role</th><th>requests</th><th>allowed</th><th>refused</th><th>subjects</th><th>by basis</th></tr>

            """
        for u in users {
            let basis = u.byBasis.sorted { $0.key < $1.key }.map { "\(esc($0.key)): \($0.value)" }.joined(separator: ", ")
            h += "<tr\(u.unusualVolume ? " class=\"flag\"" : "")><td>\(esc(u.login))</td><td>\(esc(u.role))</td><td>\(u.requests)</td>"
                + "<td>\(u.allowed)</td><td>\(u.refused)</td><td>\(u.distinctSubjects)</td><td>\(basis)</td></tr>\n"
        }
        h += "</table>\n<h2>Per basis</h2>\n<table><tr><th>basis</th><th>requests</th></tr>\n"
        for (b, n) in byBasis.sorted(by: { $0.key < $1.key }) { h += "<tr><td>\(esc(b))</td><td>\(n)</td></tr>\n" }
        h += "</table>\n<h2>Per day</h2>\n<table><tr><th>day</th><th>requests</th></tr>\n"
        for (d, n) in byDay.sorted(by: { $0.key < $1.key }) { h += "<tr><td>\(esc(d))</td><td>\(n)</td></tr>\n" }
        h += "</table>\n<h2>Flags</h2>\n<table><tr><th>flag</th><th>user</th><th>time</th><th>basis</th><th>case</th><th>detail</th></tr>\n"
        for f in flags {
            h += "<tr class=\"flag\"><td>\(esc(f.kind.rawValue))</td><td>\(esc(f.login))</td><td>\(esc(f.at ?? ""))</td>"
                + "<td>\(esc(f.basis ?? ""))</td><td>\(esc(f.caseNumber ?? ""))</td><td>\(esc(f.detail))</td></tr>\n"
        }
        h += "</table>\n</body></html>\n"
        return h
    }
}
