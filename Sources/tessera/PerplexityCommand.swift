import ArgumentParser
import Engine
import Foundation
import Models

/// `tessera perplexity`: a model's perplexity on a text file, computed as `llama-perplexity` does
/// (non-overlapping chunks of --context tokens, BOS first where the model adds one, the second
/// half of each chunk scored), so the two can be compared on the same GGUF file.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model on a text file, computed as llama.cpp's llama-perplexity does.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "A plain-text file.")
    var file: String

    @Option(help: "Tokens per chunk (llama-perplexity's -c).")
    var context = 512

    @Flag(help: "Print {\"perplexity\": x, \"tokens\": n} only.")
    var json = false

    func run() throws {
        try modelOptions.applyComputeSettings()
        let directory = try modelOptions.modelDirectory()
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read --file \(file)") }
        let text = String(decoding: data, as: UTF8.self)
        let tokenizer = try ModelLoader.loadTokenizer(at: directory)
        let model = try ModelLoader.load(directory: directory, quantization: try modelOptions.quantization())
        let tokens = tokenizer.encode(text)
        // encode adds BOS exactly when the tokenizer is configured to; the chunks then start with it.
        let bos = tokenizer.bosTokenId.flatMap { tokens.first == $0 ? $0 : nil }
        let result: Perplexity.Result
        do {
            result = try Perplexity.evaluate(model: model, tokens: tokens, context: context, bos: bos) { done, total, running in
                if !json { FileHandle.standardError.write(Data("[\(done)/\(total)] \(String(format: "%.4f", running))\n".utf8)) }
            }
        } catch let failure as Perplexity.Failure {
            throw ValidationError(failure.description)
        }
        if json {
            print(#"{"perplexity": \#(result.perplexity), "tokens": \#(result.tokens)}"#)
        } else {
            print("perplexity \(String(format: "%.4f", result.perplexity)) over \(result.tokens) tokens (\(result.chunks) chunks of \(context))")
        }
    }
}
