import ArgumentParser
import Foundation
import Tensor

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A Hugging Face model folder (config.json, *.safetensors, tokenizer.json) or a GGUF file. Default: the embedded model.")
    var model: String?

    @Option(name: .long, help: "Quantize a model folder's weight matrices at load time: q8_0 or q4_0 (GGUF files keep their own types).")
    var quantize: String?

    @Option(name: .long, help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("widened-weight-memory"),
            help: "MiB for float32 copies of 16-bit weights, which prefill steps reuse instead of widening the weights on every step (0: widen every step).")
    var widenedWeightMemoryMiB = WidenedWeights.defaultBudgetBytes >> 20

    /// The model folder to load: `--model`, else the small model shipped inside the executable's bundle.
    func modelDirectory() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        guard let url = Bundle.module.url(forResource: "DefaultModel", withExtension: nil) else {
            throw ValidationError("no --model given and the embedded default model is missing from the build")
        }
        return url
    }

    /// The `--quantize` type, if any.
    func quantization() throws -> DType? {
        guard let quantize else { return nil }
        switch quantize.lowercased() {
        case "q8_0": return .q8_0
        case "q4_0": return .q4_0
        default: throw ValidationError("--quantize must be q8_0 or q4_0, not '\(quantize)'")
        }
    }

    /// Applies `--threads` and `--widened-weight-memory` to the process's kernels.
    func applyComputeSettings() throws {
        guard widenedWeightMemoryMiB >= 0 else { throw ValidationError("--widened-weight-memory must not be negative") }
        WidenedWeights.shared.setBudget(bytes: widenedWeightMemoryMiB << 20)
        guard let threads else { return }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        ComputeThreads.set(threads)
    }
}
