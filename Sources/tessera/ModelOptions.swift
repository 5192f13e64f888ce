import ArgumentParser
import Foundation
import Tensor

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A Hugging Face model folder (config.json, *.safetensors, tokenizer.json). Default: the embedded model.")
    var model: String?

    @Option(name: .long, help: "Compute threads (default: all cores).")
    var threads: Int?

    /// The model folder to load: `--model`, else the small model shipped inside the executable's bundle.
    func modelDirectory() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        guard let url = Bundle.module.url(forResource: "DefaultModel", withExtension: nil) else {
            throw ValidationError("no --model given and the embedded default model is missing from the build")
        }
        return url
    }

    func applyThreads() throws {
        guard let threads else { return }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        ComputeThreads.set(threads)
    }
}
