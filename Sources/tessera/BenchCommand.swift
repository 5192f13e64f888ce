import ArgumentParser

/// `tessera bench …`: measurements, one subcommand per part of the system.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark parts of Tessera.",
        subcommands: [BenchEngineCommand.self, BenchServeCommand.self, BenchEncodeCommand.self, BenchDiffusionCommand.self, BenchImagesCommand.self]
    )
}
