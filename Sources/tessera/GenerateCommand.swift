import ArgumentParser
import Engine
import Foundation
import Models
import Tokenizers

/// `tessera generate`: one prompt in, text out (streamed, or one JSON object with `--json`).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt.",
        discussion: """
        Without --json the text streams to stdout. With --json one object is printed:
        {"prompt_token_ids", "token_ids", "text", "finish_reason", "top_logprobs"}.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The prompt, used as given (the tokenizer adds BOS if it is configured to).")
    var prompt: String = "Once upon a time"

    @Option(name: .customLong("max-tokens"), help: "Maximum tokens to generate.")
    var maxTokens: Int = 32

    @Option(help: "Sampling temperature; 0 is greedy. Default: the model's generation_config, else 1.")
    var temperature: Float?

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass.")
    var topP: Float?

    @Option(name: .customLong("top-k"), help: "Keep only the K most likely tokens (0: off).")
    var topK: Int?

    @Option(name: .customLong("min-p"), help: "Drop tokens below min-p times the top token's probability.")
    var minP: Float = 0

    @Option(name: .customLong("presence-penalty"))
    var presencePenalty: Float = 0

    @Option(name: .customLong("frequency-penalty"))
    var frequencyPenalty: Float = 0

    @Option(help: "Random seed: the same seed gives the same output.")
    var seed: UInt64?

    @Option(name: .customLong("stop"), help: "A stop string (repeatable).")
    var stopStrings: [String] = []

    @Option(help: "Report the N most likely tokens with log-probabilities at each step.")
    var logprobs: Int?

    @Flag(help: "Print one JSON object instead of streaming text.")
    var json = false

    func run() throws {
        try modelOptions.applyThreads()
        let directory = try modelOptions.modelDirectory()
        let model = try ModelLoader.load(directory: directory)
        let tokenizer = try Tokenizer.load(directory: directory)
        let defaults = try GenerationDefaults.load(directory: directory)
        let generator = TextGenerator(model: model, tokenizer: tokenizer, defaults: defaults)

        let parameters = SamplingParameters(
            temperature: temperature ?? defaults.temperature ?? 1,
            topK: topK ?? defaults.topK ?? 0,
            topP: topP ?? defaults.topP ?? 1,
            minP: minP,
            presencePenalty: presencePenalty,
            frequencyPenalty: frequencyPenalty,
            seed: seed,
            maxTokens: maxTokens,
            stopStrings: stopStrings,
            topLogprobs: logprobs
        )
        do { try parameters.validate() } catch { throw ValidationError(error.message) }

        let promptIds = tokenizer.encode(prompt)
        let output = try generator.generate(prompt: promptIds, parameters: parameters) { piece in
            guard !json else { return }
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        if json {
            print(try GenerateJSON(output).encoded())
        } else {
            print()
        }
    }
}

/// The `--json` output contract of `tessera generate`.
struct GenerateJSON: Encodable {
    let prompt_token_ids: [Int]
    let token_ids: [Int]
    let text: String
    let finish_reason: String
    let top_logprobs: [[TokenLogprob]]

    init(_ output: GenerationOutput) {
        prompt_token_ids = output.promptTokenIds
        token_ids = output.tokenIds
        text = output.text
        finish_reason = output.finishReason.rawValue
        top_logprobs = output.topLogprobs
    }

    func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
