import ArgumentParser
import Foundation
import TanbaCompliance

struct ComplianceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compliance",
        abstract: "The rules of REQUIREMENTS.md §2–§5 that software can enforce, proved end to end.",
        subcommands: [ComplianceCheckCommand.self])
}

struct ComplianceCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run every software-enforceable rule as a scenario with a negative twin against a local cluster.",
        discussion: """
            Each rule of docs/compliance.md is run against fresh local state (access database with a throwaway CA, \
            encrypted stores, the station's enrollment rules, an in-process coordinator with two workers): the lawful \
            case must go through and its negative twin, which breaks the rule, must be refused. Exit status 1 when a \
            rule fails.
            """)
    @Flag(help: "Print JSON: {rules: [{id, title, status, evidence}], passed, failed}.") var json = false
    @Option(help: "Run only these rule IDs (comma-separated, e.g. STO-2,LEX-12).") var only: String?
    @Option(help: "Keep the scenarios' files in this folder (default: a temporary folder, removed).") var keep: String?

    func run() async throws {
        let dir = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("tanba-compliance-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let ids = only.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }) }
        if let ids {
            let unknown = ids.subtracting(ComplianceCheck.rules.map(\.id))
            guard unknown.isEmpty else { throw CommandError("unknown rule IDs: \(unknown.sorted().joined(separator: ", "))") }
        }
        let report = await ComplianceCheck.run(directory: dir, only: ids)
        print(json ? try Output.json(report) : ComplianceCheck.table(report))
        if report.failed > 0 { throw ExitCode(1) }
    }
}
