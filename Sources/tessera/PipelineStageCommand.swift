import ArgumentParser
import Foundation
import Models
import WireProtocol
import Workers

/// `tessera pipeline-stage`: a later stage of a layer-split model, which the first stage's worker
/// (`tessera worker --pipeline-units … --pipeline-next …`) or the stage before drives.
struct PipelineStageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-stage",
        abstract: "Run a later stage of a layer-split (pipeline-parallel) model for `tessera serve --topology`.",
        discussion: """
            The stage loads --units of the model (0 is the embedding, 1…L the decoder layers, L+1 the final norm \
            and LM head), connects to --next if given, then serves the one stage that connects to --listen: \
            hidden states in, its layers over them into its own KV cache, hidden states on, logits back. \
            It exits when that connection closes.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The units this stage runs, a:b.")
    var units: String

    @Option(help: "Where the stage before connects (unix:/path or tcp:HOST:PORT).")
    var listen: String

    @Option(help: "The next stage's endpoint; none for the stage with the LM head.")
    var next: String?

    /// The stage's own KV cache; its block size is the first stage's.
    @OptionGroup var kvCache: KVCacheOptions<WorkerKVCacheDefault>

    @Option(name: .customLong("startup-timeout"), help: "Seconds to wait for the next stage and for the stage before.")
    var startupTimeout = 180

    @Flag(name: .customLong("no-shared-memory"), help: "Send hidden states as TCP payloads even between Unix-socket endpoints.")
    var noSharedMemory = false

    func validate() throws {
        guard DecoderSlice(parsing: units) != nil else { throw ValidationError("--units must be a:b with a < b") }
        guard startupTimeout >= 1 else { throw ValidationError("--startup-timeout must be at least 1") }
    }

    func run() async throws {
        try modelOptions.applyComputeSettings()
        var configuration = StageWorker.Configuration(
            modelDirectory: try modelOptions.modelDirectory(), units: DecoderSlice(parsing: units)!,
            kvCacheMemoryBytes: kvCache.memoryBytes, blockSize: kvCache.blockSize, listen: try Endpoint(parsing: listen),
            next: try next.map { text throws(TransportError) in try Endpoint(parsing: text) })
        configuration.quantization = try modelOptions.quantization()
        configuration.sharedMemory = !noSharedMemory
        configuration.startupTimeout = .seconds(startupTimeout)
        try await StageWorker(configuration: configuration).run()
    }
}
