import ArgumentParser

/// `tanba`: one program for every Tanba role and tool.
struct Tanba: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tanba",
        abstract: "Tanba fingerprint identification: extraction, matching, evaluation and benchmarks.",
        subcommands: [ExtractCommand.self, MatchCommand.self, EvalCommand.self, BenchCommand.self,
                      SynthCommand.self, DemoCommand.self, PKICommand.self,
                      StoreCommand.self, AuditCommand.self, AccessCommand.self,
                      StationCommand.self, ChaosCommand.self])
}

Tanba.main()
