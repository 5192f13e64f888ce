import ArgumentParser
import ChatTemplates
import Engine
import Foundation
import Imaging
import Models
import ServingAPI
import Tokenizers

/// `tessera generate`: one prompt in, text out (streamed, or one JSON object with `--json`).
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt.",
        discussion: """
        Without --json the text streams to stdout. With --json one object is printed:
        {"prompt_token_ids", "image_tokens", "token_ids", "text", "finish_reason", "top_logprobs"};
        prompt_token_ids are the ids the language model sees, image placeholders expanded.

        With a vision-language model (LLaVA, Qwen2-VL), each --image fills the next image
        placeholder of the prompt (<image>, or <|vision_start|><|image_pad|><|vision_end|>).
        --chat renders the prompt as one user message through the model's chat template,
        with the images first.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The prompt, used as given (the tokenizer adds BOS if it is configured to).")
    var prompt: String = "Once upon a time"

    @Option(name: .customLong("image"), help: "An image file (PNG or JPEG) for the next image placeholder (repeatable).")
    var images: [String] = []

    @Flag(help: "Wrap the prompt (and images) in a user message rendered by the model's chat template.")
    var chat = false

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

    func run() async throws {
        try modelOptions.applyComputeSettings()
        let directory = try modelOptions.modelDirectory()
        let tokenizer = try ModelLoader.loadTokenizer(at: directory)
        let defaults = try GenerationDefaults.load(directory: directory)
        let multimodal = ModelLoader.visionLanguageArchitectures.contains(try ModelLoader.architecture(directory: directory))
        guard multimodal || images.isEmpty else { throw ValidationError("--image needs a vision-language model (LLaVA, Qwen2-VL)") }

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

        let format = multimodal ? try ModelLoader.loadImagePromptFormat(directory: directory) : nil
        let text = chat ? try chatPrompt(directory: directory, tokenizer: tokenizer, placeholder: format?.imagePlaceholder) : prompt
        // apply_chat_template tokenizes without adding special tokens: the template writes them.
        let promptIds = tokenizer.encode(text, addSpecialTokens: !chat)
        let decoded = try images.map { try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0)) }
        // The ids the language model sees, placeholders expanded, size the engine's KV cache and the --json report.
        var expanded = promptIds
        if let format {
            let processor = try ImageProcessorLoader.load(directory: directory)
            expanded = try format.expandPrompt(promptIds, images: decoded.map { try processor.preprocess($0) }).tokenIds
        }
        let engine = try LLMEngine(directory: directory, config: try engineConfig(directory: directory, tokens: expanded.count + maxTokens))
        var output = GenerateJSON(prompt_token_ids: expanded, image_tokens: expanded.count - promptIds.count + decoded.count)
        do {
            let stream = try engine.submit(InferenceRequest(prompt: .tokens(promptIds), images: decoded, parameters: parameters))
            for try await event in stream {
                switch event {
                case let .delta(delta):
                    output.token_ids += delta.tokenIds
                    output.text += delta.text
                    output.top_logprobs += delta.logprobs.map(\.top)
                    if !json { FileHandle.standardOutput.write(Data(delta.text.utf8)) }
                case let .finished(info):
                    output.finish_reason = info.reason.rawValue
                }
            }
        } catch {
            await engine.shutdown(gracePeriod: .zero)
            throw ValidationError("\(error)")
        }
        await engine.shutdown(gracePeriod: .zero)
        print(json ? try output.encoded() : "")
    }

    /// One request's engine: a KV cache for `tokens` positions (at most the model's context), images
    /// encoded at full priority.
    private func engineConfig(directory: URL, tokens: Int) throws -> EngineConfig {
        var config = EngineConfig()
        let model = try ModelLoader.languageModelConfig(directory: directory)
        let length = max(2, min(tokens, model.maxPositionEmbeddings))
        config.maxModelLength = length
        config.kvCacheMemoryBytes = PagedKVCache.bytesPerBlock(config: model, blockSize: config.blockSize)
            * ((length + config.blockSize - 1) / config.blockSize)
        config.weightQuantization = try modelOptions.quantization()
        config.backgroundImageWork = false
        return config
    }

    /// The prompt as one user message through the model's chat template: text content for text
    /// models; content parts (images first, then the text) when there are images, as the
    /// transformers processors pass them. `placeholder` stands for each image in templates that
    /// take plain text.
    private func chatPrompt(directory: URL, tokenizer: Tokenizer, placeholder: String?) throws -> String {
        // A GGUF file carries its template in the metadata the tokenizer read.
        let source = try tokenizer.chatTemplate ?? ChatTemplate.source(modelDirectory: directory)
        let template = try ChatTemplate(source)
        let content: TemplateValue
        if images.isEmpty {
            content = .string(prompt)
        } else if source.contains("'image'") || source.contains("\"image\"") {
            content = .array(images.map { _ in .object([("type", "image")]) } + [.object([("type", "text"), ("text", .string(prompt))])])
        } else {
            content = .string(images.map { _ in placeholder ?? "" }.joined(separator: "\n") + "\n" + prompt)
        }
        var extra: [String: TemplateValue] = [:]
        if let id = tokenizer.bosTokenId, let token = tokenizer.token(forId: id) { extra["bos_token"] = .string(token) }
        if let id = tokenizer.eosTokenId, let token = tokenizer.token(forId: id) { extra["eos_token"] = .string(token) }
        return try template.render(messages: [.object([("role", "user"), ("content", content)])], addGenerationPrompt: true, extra: extra)
    }
}

/// The `--json` output contract of `tessera generate`.
struct GenerateJSON: Encodable {
    let prompt_token_ids: [Int]
    /// Placeholder tokens the images expanded to (0 without images).
    let image_tokens: Int
    var token_ids: [Int] = []
    var text = ""
    var finish_reason = FinishReason.length.rawValue
    var top_logprobs: [[TokenLogprob]] = []

    func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
