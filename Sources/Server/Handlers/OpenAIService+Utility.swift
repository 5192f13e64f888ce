import Foundation
import Hummingbird
import ServingAPI

/// Tessera's version, reported by `GET /version` and in `system_fingerprint`.
public enum TesseraVersion {
    public static let current = "0.3.0"
    static let fingerprint = "fp_tessera_" + current
}

/// vLLM's utility routes: `/tokenize`, `/detokenize`, `/tokenizer_info`, `/version`; and
/// `/v1/embeddings`, which a generative model does not serve.
extension OpenAIService {
    struct TokenizeRequest: Decodable {
        var model: String?
        var prompt: String?
        var messages: [ChatMessage]?
        var addSpecialTokens: Bool?
        var returnTokenStrs: Bool?

        enum CodingKeys: String, CodingKey {
            case model, prompt, messages
            case addSpecialTokens = "add_special_tokens"
            case returnTokenStrs = "return_token_strs"
        }
    }

    struct DetokenizeRequest: Decodable {
        var model: String?
        var tokens: [Int]
    }

    /// `POST /tokenize`: `{"prompt": …}` or `{"messages": […]}` (rendered with the chat template)
    /// → `{"count", "max_model_len", "tokens"}` (and `token_strs` when asked), as vLLM answers.
    @Sendable func tokenize(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let request = try RequestDecoding.decode(TokenizeRequest.self, from: body, fields: ["model", "prompt", "messages", "add_special_tokens", "return_token_strs"])
        if let model = request.model { try checkModel(model) }
        let tokenizer = engine.servedModel.tokenizer
        let tokens: [Int]
        switch (request.prompt, request.messages) {
        case let (prompt?, nil):
            tokens = tokenizer.encode(prompt, addSpecialTokens: request.addSpecialTokens ?? true)
        case let (nil, messages?):
            guard let prompts else {
                throw APIError.invalidRequest("model '\(engine.servedModel.name)' has no chat template", param: "messages")
            }
            tokens = tokenizer.encode(try prompts.render(messages).text, addSpecialTokens: request.addSpecialTokens ?? false)
        default:
            throw APIError.invalidRequest("give exactly one of 'prompt' and 'messages'", param: "prompt")
        }
        var object: [String: Any] = ["count": tokens.count, "max_model_len": engine.servedModel.contextLength, "tokens": tokens]
        if request.returnTokenStrs == true { object["token_strs"] = tokens.map { tokenizer.token(forId: $0) ?? "" } }
        return Self.jsonObject(object)
    }

    /// `POST /detokenize`: `{"tokens": […]}` → `{"prompt": text}`.
    @Sendable func detokenize(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let request = try RequestDecoding.decode(DetokenizeRequest.self, from: body, fields: ["model", "tokens"])
        if let model = request.model { try checkModel(model) }
        let tokenizer = engine.servedModel.tokenizer
        if let bad = request.tokens.first(where: { $0 < 0 || $0 >= tokenizer.vocabularySize }) {
            throw APIError.invalidRequest(
                "token id \(bad) is outside the vocabulary [0, \(tokenizer.vocabularySize))", param: "tokens", code: "invalid_value")
        }
        return Self.jsonObject(["prompt": tokenizer.decode(request.tokens)])
    }

    /// `GET /tokenizer_info`: the tokenizer's configuration as vLLM reports it — its special tokens,
    /// whether encoding adds BOS, the context length and the chat template served — from which
    /// clients such as lm-evaluation-harness learn to tokenize through `/tokenize`.
    func tokenizerInfo() -> Response {
        let model = engine.servedModel
        let tokenizer = model.tokenizer
        var object: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model.contextLength,
            "add_bos_token": tokenizer.bosTokenId.map { tokenizer.encode("", addSpecialTokens: true).first == $0 } ?? false,
        ]
        if let id = tokenizer.bosTokenId { object["bos_token"] = tokenizer.token(forId: id) }
        if let id = tokenizer.eosTokenId { object["eos_token"] = tokenizer.token(forId: id) }
        if let prompts { object["chat_template"] = prompts.source }
        return Self.jsonObject(object)
    }

    func version() -> Response {
        Self.jsonObject(["version": TesseraVersion.current])
    }

    /// `POST /v1/embeddings`: Tessera serves generative models only, so every request is refused
    /// with the reason (vLLM answers the same for a generative model).
    @Sendable func embeddings(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let model = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["model"] as? String
        if let model { try checkModel(model) }
        throw APIError.invalidRequest(
            "the model '\(engine.servedModel.name)' is a generative model and does not serve embeddings; "
                + "/v1/embeddings needs an embedding model, which Tessera does not serve",
            param: "model", code: "model_not_supported")
    }
}
