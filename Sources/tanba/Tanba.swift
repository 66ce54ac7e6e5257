import ArgumentParser

/// `tanba`: one program for every Tanba role and tool.
@main
struct Tanba: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tanba",
        abstract: "Tanba fingerprint identification: cluster nodes and clients, capture station, store, lawful access, extraction, matching, evaluation and benchmarks.",
        subcommands: [CoordinatorCommand.self, WorkerCommand.self, ClientCommand.self, ClusterCommand.self, LoadtestCommand.self,
                      ExtractCommand.self, MatchCommand.self, EvalCommand.self, BenchCommand.self,
                      SynthCommand.self, DemoCommand.self, PKICommand.self,
                      StoreCommand.self, AuditCommand.self, AccessCommand.self, ComplianceCommand.self, StationCommand.self, ChaosCommand.self])
}

