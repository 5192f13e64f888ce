import ArgumentParser
import Engine
import Foundation
import Models
import Tensor

/// `tessera bench engine`: prefill and decode tokens/s of one model, as `llama-bench -p N -n M` measures them.
struct BenchEngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure prefill and decode tokens/s (median of several runs)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("prompt-tokens"))
    var promptTokens = 512

    @Option(name: .customLong("gen-tokens"))
    var genTokens = 128

    @Option(help: "Measured runs per phase, after one warm-up.")
    var runs = 5

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard promptTokens >= 1, genTokens >= 1, runs >= 1 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --runs must be at least 1")
        }
    }

    func run() async throws {
        try modelOptions.applyComputeSettings()
        let directory = try modelOptions.modelDirectory()
        let benchmark = EngineBenchmark(promptTokens: promptTokens, generatedTokens: genTokens, runs: runs)
        var config = benchmark.engineConfig(model: try ModelLoader.languageModelConfig(directory: directory))
        config.weightQuantization = try modelOptions.quantization()
        let engine = try LLMEngine(directory: directory, config: config, parts: .languageModel)
        let result: EngineBenchmark.Result
        do { result = try await benchmark.run(engine: engine) } catch {
            await engine.shutdown(gracePeriod: .zero)
            throw error
        }
        await engine.shutdown(gracePeriod: .zero)
        let threads = ComputeThreads.count
        if json {
            let object: [String: Any] = [
                "prefill_tokens_per_s": result.prefillTokensPerSecond,
                "decode_tokens_per_s": result.decodeTokensPerSecond,
                "threads": threads,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads: \(threads)")
            print(String(format: "prefill pp%d: %.1f tokens/s", promptTokens, result.prefillTokensPerSecond))
            print(String(format: "decode  tg%d: %.1f tokens/s", genTokens, result.decodeTokensPerSecond))
        }
    }
}
