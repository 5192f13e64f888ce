import ArgumentParser
import Engine
import Foundation
import Grammar
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

    @Option(name: .customLong("json-schema"), help: ArgumentHelp(
        "A JSON Schema file: pair each decode run with one constrained by it and report both inter-token latencies.",
        valueName: "path"))
    var jsonSchema: String?

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
        let grammar = try jsonSchema.map { path -> GrammarSpec in
            let spec = GrammarSpec.jsonSchema(try String(contentsOfFile: path, encoding: .utf8))
            do { _ = try spec.grammar() } catch { throw ValidationError("--json-schema \(path): \(error)") }
            return spec
        }
        let benchmark = EngineBenchmark(promptTokens: promptTokens, generatedTokens: genTokens, runs: runs, grammar: grammar)
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
        let itl = EngineBenchmark.median(result.interTokenSeconds)
        let constrainedITL = result.constrainedInterTokenSeconds.isEmpty ? nil : EngineBenchmark.median(result.constrainedInterTokenSeconds)
        if json {
            var object: [String: Any] = [
                "prefill_tokens_per_s": result.prefillTokensPerSecond,
                "decode_tokens_per_s": result.decodeTokensPerSecond,
                "itl_ms": itl * 1000,
                "threads": threads,
            ]
            if let constrainedITL {
                object["constrained_itl_ms"] = constrainedITL * 1000
                object["itl_ms_runs"] = result.interTokenSeconds.map { $0 * 1000 }
                object["constrained_itl_ms_runs"] = result.constrainedInterTokenSeconds.map { $0 * 1000 }
            }
            if let p = result.maskPrecompute {
                object["mask_precompute"] = ["seconds": p.seconds, "positions": p.positions, "complete": p.complete] as [String: Any]
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads: \(threads)")
            print(String(format: "prefill pp%d: %.1f tokens/s", promptTokens, result.prefillTokensPerSecond))
            print(String(format: "decode  tg%d: %.1f tokens/s", genTokens, result.decodeTokensPerSecond))
            if let constrainedITL {
                print(String(format: "ITL unconstrained %.3f ms, constrained %.3f ms: %.2fx (medians of %d paired runs)",
                             itl * 1000, constrainedITL * 1000, constrainedITL / itl, runs))
            }
            if let p = result.maskPrecompute {
                print(String(format: "grammar masks computed ahead: %d positions in %.2f s%@", p.positions, p.seconds,
                             p.complete ? "" : " (stopped at the limit)"))
            }
        }
    }
}
