import Foundation

/// One rule's outcome, in the format `tanba compliance check --json` prints (issue 6).
public struct ComplianceRuleResult: Sendable, Codable, Equatable {
    public var id: String
    public var title: String
    /// "pass" or "fail".
    public var status: String
    /// What the scenario observed: the lawful run, then the negative twin's refusal (or,
    /// on failure, what went wrong).
    public var evidence: String
}

public struct ComplianceReport: Sendable, Codable, Equatable {
    public var rules: [ComplianceRuleResult]
    public var passed: Int
    public var failed: Int
}

/// Thrown by a scenario when what it observed breaks the rule.
struct RuleBroken: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw RuleBroken(message()) }
}

/// Runs `body`, which must throw: the enforcing code refusing the rule-breaking request.
/// Returns the refusal's text for the evidence; throws `RuleBroken` when nothing refused.
func refused<T>(_ what: String, _ body: () async throws -> T) async throws -> String {
    do {
        _ = try await body()
    } catch let broken as RuleBroken {
        throw broken
    } catch {
        return "\(error)"
    }
    throw RuleBroken("\(what) was accepted")
}

/// One rule of docs/compliance.md as a scenario: the lawful case, which must go through,
/// and its negative twin, which breaks the rule and must be refused by the code that
/// enforces it. Each returns what it observed; a scenario throws (`RuleBroken` or any
/// other error) when the lawful case fails or the rule-breaking one is accepted.
struct RuleScenario: Sendable {
    let id: String
    let title: String
    /// Where it is enforced today (docs/compliance.md "enforced in"), for the table.
    let layer: Layer
    let lawful: @Sendable (ComplianceWorld) async throws -> String
    let violation: @Sendable (ComplianceWorld) async throws -> String

    enum Layer: String, Sendable { case access, store, station, cluster }
}

/// `tanba compliance check`: every software-enforceable rule of REQUIREMENTS.md §2–§5
/// (IDs of docs/compliance.md) run end to end against fresh local state — an access
/// database with a throwaway CA and a manual clock, an encrypted store, the station's
/// enrollment rules, and an in-process cluster (coordinator and two workers over
/// `EmbeddedTransport`, the same code that runs over nng).
public enum ComplianceCheck {
    static let scenarios: [RuleScenario] =
        StationScenarios.all + ClusterScenarios.all + AccessScenarios.all

    /// The rules the check covers, in report order.
    public static var rules: [(id: String, title: String)] { scenarios.map { ($0.id, $0.title) } }

    /// Runs every scenario (or those whose ID is in `only`) with files in `directory`
    /// (left there for inspection; the caller removes it). A scenario passes only when its
    /// lawful case goes through and its negative twin is refused.
    public static func run(directory: String, only: Set<String>? = nil) async -> ComplianceReport {
        let world = ComplianceWorld(directory: directory)
        var results: [ComplianceRuleResult] = []
        for s in scenarios where only?.contains(s.id) ?? true {
            results.append(await run(s, in: world))
        }
        await world.shutdown()
        let passed = results.filter { $0.status == "pass" }.count
        return ComplianceReport(rules: results, passed: passed, failed: results.count - passed)
    }

    static func run(_ s: RuleScenario, in world: ComplianceWorld) async -> ComplianceRuleResult {
        func fail(_ stage: String, _ error: any Error) -> ComplianceRuleResult {
            ComplianceRuleResult(id: s.id, title: s.title, status: "fail", evidence: "\(stage): \(error)")
        }
        let lawful: String
        do { lawful = try await s.lawful(world) } catch { return fail("lawful case failed", error) }
        let violation: String
        do { violation = try await s.violation(world) } catch { return fail("negative twin not refused", error) }
        return ComplianceRuleResult(id: s.id, title: s.title, status: "pass",
                                    evidence: "lawful: \(lawful) | broken rule refused: \(violation)")
    }

    /// A fixed-width table for terminals.
    public static func table(_ report: ComplianceReport) -> String {
        var lines: [String] = []
        for r in report.rules {
            lines.append("\(r.status == "pass" ? "pass" : "FAIL")  \(r.id.padding(toLength: 7, withPad: " ", startingAt: 0)) \(r.title)")
            lines.append("        \(r.evidence)")
        }
        lines.append("\(report.rules.count) rules: \(report.passed) passed, \(report.failed) failed")
        return lines.joined(separator: "\n")
    }
}
