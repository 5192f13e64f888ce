import ArgumentParser

/// The `tessera` command line: one executable, one subcommand per job.
@main
struct Tessera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Serve multimodal and diffusion models with disaggregated, modality-aware scheduling.",
        subcommands: [GenerateCommand.self, GenerateImageCommand.self, PerplexityCommand.self, BenchCommand.self, SimulateCommand.self, ServeCommand.self, ProfileCommand.self, WorkerCommand.self, PipelineStageCommand.self,
                      TrainPredictorCommand.self, SleepCommand.self]
    )
}
