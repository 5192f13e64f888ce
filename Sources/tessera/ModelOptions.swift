import ArgumentParser
import Foundation
import Tensor

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A Hugging Face model folder (config.json, *.safetensors, tokenizer.json) or a GGUF file. Default: the embedded model.",
        discussion: "`serve` takes several, each PATH or NAME=PATH (NAME is what requests send as `model`; default: the folder or file name).",
        valueName: "model"))
    var model: [String] = []

    @Option(name: .long, help: "Quantize a model folder's weight matrices at load time: q8_0 or q4_0 (GGUF files keep their own types).")
    var quantize: String?

    @Option(name: .long, help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("widened-weight-memory"),
            help: "MiB for float32 copies of 16-bit weights, which prefill steps reuse instead of widening the weights on every step (0: widen every step).")
    var widenedWeightMemoryMiB = WidenedWeights.defaultBudgetBytes >> 20

    /// The one `--model` a command that loads one model takes, if given.
    func singleModel() throws -> String? {
        guard model.count <= 1 else { throw ValidationError("this command loads one model; --model was given \(model.count) times") }
        return model.first
    }

    /// The model folder to load: `--model`, else the small model shipped inside the executable's bundle.
    func modelDirectory() throws -> URL {
        if let model = try singleModel() { return URL(fileURLWithPath: model) }
        return try Self.embeddedModel()
    }

    /// The small vision-language model shipped inside the executable's bundle.
    static func embeddedModel() throws -> URL {
        guard let url = Bundle.module.url(forResource: "DefaultModel", withExtension: nil) else {
            throw ValidationError("no --model given and the embedded default model is missing from the build")
        }
        return url
    }

    /// The models `serve` loads, in `--model` order, with their served names: NAME=PATH names one,
    /// a bare PATH is named after its folder or file, as the engine names it; without
    /// `--model`, the embedded model. Names must differ.
    func servedModels() throws -> [(name: String, location: URL)] {
        let given: [(name: String?, location: URL)] = model.isEmpty ? [(nil, try Self.embeddedModel())] : try model.map(Self.parseServed)
        let models = given.map { ($0.name ?? $0.location.standardizedFileURL.lastPathComponent, $0.location) }
        var seen = Set<String>()
        for (name, _) in models where !seen.insert(name).inserted {
            throw ValidationError("two --model values are served as '\(name)'; name them apart with NAME=PATH")
        }
        return models
    }

    /// `NAME=PATH`, or `PATH` when the whole value exists as a path or holds no `=`.
    private static func parseServed(_ value: String) throws -> (name: String?, location: URL) {
        guard !FileManager.default.fileExists(atPath: value), let equals = value.firstIndex(of: "=") else { return (nil, URL(fileURLWithPath: value)) }
        let name = String(value[..<equals]), path = String(value[value.index(after: equals)...])
        guard !name.isEmpty, !path.isEmpty else { throw ValidationError("--model '\(value)': write NAME=PATH with both parts, or a PATH") }
        return (name, URL(fileURLWithPath: path))
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
