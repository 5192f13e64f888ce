import ArgumentParser
import ChatTemplates
import Engine
import Foundation
import Imaging
import Models
import ServingAPI
import Tokenizers

/// `tessera generate`: one prompt in, text out (streamed, or one JSON object with `--json`).
struct GenerateCommand: ParsableCommand {
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

    func run() throws {
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

        let vlm = multimodal ? try ModelLoader.loadVisionLanguageModel(directory: directory) : nil
        let text = chat ? try chatPrompt(directory: directory, tokenizer: tokenizer, placeholder: vlm?.imagePlaceholder) : prompt
        // apply_chat_template tokenizes without adding special tokens: the template writes them.
        var promptIds = tokenizer.encode(text, addSpecialTokens: !chat)
        let model: any CausalLanguageModel
        var imageTokens = 0
        if let vlm {
            let processor = try ImageProcessorLoader.load(directory: directory)
            let pixels = try images.map { try processor.preprocess(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0))) }
            let expanded = try vlm.expandPrompt(promptIds, images: pixels)
            promptIds = expanded.tokenIds
            imageTokens = expanded.imageTokenCount
            model = PromptWithImages(vlm.languageModel, images: try expanded.place(try pixels.map(vlm.encodeImage)), mrope: expanded.mrope)
        } else {
            model = try ModelLoader.load(directory: directory, quantization: try modelOptions.quantization())
        }
        let generator = TextGenerator(model: model, tokenizer: tokenizer, defaults: defaults)
        let output = try generator.generate(prompt: promptIds, parameters: parameters) { piece in
            guard !json else { return }
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        if json {
            print(try GenerateJSON(output, imageTokens: imageTokens).encoded())
        } else {
            print()
        }
    }

    /// The prompt as one user message through the model's chat template: text content for text
    /// models; content parts (images first, then the text) when there are images, as the
    /// transformers processors pass them. `placeholder` stands for each image in templates that
    /// take plain text.
    private func chatPrompt(directory: URL, tokenizer: Tokenizer, placeholder: String?) throws -> String {
        let source = try ChatTemplate.source(modelDirectory: directory)
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

/// A vision-language model's decoder bound to one prompt's images: every forward pass places the
/// image rows its positions cover and rotates by the prompt's M-RoPE positions, so the text
/// generator runs it like any language model.
private final class PromptWithImages: CausalLanguageModel {
    let model: DecoderLanguageModel
    let images: [ImageFeatures]
    let mrope: MRoPEPositions?

    init(_ model: DecoderLanguageModel, images: [ImageFeatures], mrope: MRoPEPositions?) {
        self.model = model
        self.images = images
        self.mrope = mrope
    }

    var config: LanguageModelConfig { model.config }
    func makeCache(capacity: Int) -> KVCache { model.makeCache(capacity: capacity) }

    func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [[Float]] {
        try model.forward(tokens, images: images, mrope: mrope, cache: cache, allLogits: allLogits)
    }

    /// Batch sequences carry their own images and positions.
    func forward(batch: [BatchSequence], cache: PagedKVCache) throws -> [[Float]] {
        try model.forward(batch: batch, cache: cache)
    }
}

/// The `--json` output contract of `tessera generate`.
struct GenerateJSON: Encodable {
    let prompt_token_ids: [Int]
    /// Placeholder tokens the images expanded to (0 without images).
    let image_tokens: Int
    let token_ids: [Int]
    let text: String
    let finish_reason: String
    let top_logprobs: [[TokenLogprob]]

    init(_ output: GenerationOutput, imageTokens: Int) {
        prompt_token_ids = output.promptTokenIds
        image_tokens = imageTokens
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
