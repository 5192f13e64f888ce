import ServingAPI
import Tokenizers

/// One token of a chat `logprobs.content` list.
struct ChatTokenLogprob: Encodable, Sendable {
    struct Alternative: Encodable, Sendable {
        var token: String
        var logprob: Double
        var bytes: [UInt8]
    }

    var token: String
    var logprob: Double
    var bytes: [UInt8]
    var topLogprobs: [Alternative]

    enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
}

/// A chat choice's `logprobs` object.
struct ChatLogprobs: Encodable, Sendable {
    var content: [ChatTokenLogprob]
}

/// A text completion choice's `logprobs` object (the legacy parallel-array format).
struct CompletionLogprobs: Encodable, Sendable {
    var tokens: [String] = []
    /// Null for the prompt's first token (nothing predicts it).
    var tokenLogprobs: [Double?] = []
    /// One object per token mapping alternative token text to its log-probability (null for the prompt's first).
    var topLogprobs: [[String: Double]?] = []
    var textOffset: [Int] = []

    enum CodingKeys: String, CodingKey {
        case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }
}

/// Turns engine logprobs into the API's token strings and finite numbers.
struct LogprobFormatter: Sendable {
    let tokenizer: Tokenizer

    /// JSON has no -infinity; the API reports impossible tokens as -9999, as vLLM does.
    static func finite(_ value: Float) -> Double { value.isFinite ? Double(value) : -9999 }

    func text(_ id: Int) -> String { tokenizer.decode([id]) }

    func chat(_ entries: [TokenLogprobs]) -> [ChatTokenLogprob] {
        entries.map { entry in
            let token = text(entry.token.id)
            return ChatTokenLogprob(
                token: token, logprob: Self.finite(entry.token.logprob), bytes: Array(token.utf8),
                topLogprobs: entry.top.map {
                    let alt = text($0.id)
                    return .init(token: alt, logprob: Self.finite($0.logprob), bytes: Array(alt.utf8))
                })
        }
    }

    /// Appends a prompt's tokens: the first with null log-probabilities, then one per entry of `entries`
    /// (which cover the prompt's tokens after the first).
    func appendPrompt(_ tokens: [Int], _ entries: [TokenLogprobs], to logprobs: inout CompletionLogprobs, offset: inout Int) {
        guard let first = tokens.first else { return }
        let token = text(first)
        logprobs.tokens.append(token)
        logprobs.tokenLogprobs.append(nil)
        logprobs.topLogprobs.append(nil)
        logprobs.textOffset.append(offset)
        offset += token.count
        appendCompletion(entries, to: &logprobs, offset: &offset)
    }

    /// vLLM's `prompt_logprobs` list: null for the first token, then `{token id: {logprob, rank, decoded_token}}`
    /// holding the prompt token and its most likely alternatives.
    func promptList(_ entries: [TokenLogprobs]) -> [[String: PromptLogprob]?] {
        [nil] + entries.map { entry in
            var out: [String: PromptLogprob] = [:]
            for (rank, alt) in entry.top.enumerated() {
                out[String(alt.id)] = PromptLogprob(logprob: Self.finite(alt.logprob), rank: rank + 1, decodedToken: text(alt.id))
            }
            if out[String(entry.token.id)] == nil {
                out[String(entry.token.id)] = PromptLogprob(logprob: Self.finite(entry.token.logprob), rank: nil, decodedToken: text(entry.token.id))
            }
            return out
        }
    }

    /// Appends `entries` to `logprobs`; `offset` is the character offset of the first token in the choice's text.
    func appendCompletion(_ entries: [TokenLogprobs], to logprobs: inout CompletionLogprobs, offset: inout Int) {
        for entry in entries {
            let token = text(entry.token.id)
            logprobs.tokens.append(token)
            logprobs.tokenLogprobs.append(Self.finite(entry.token.logprob))
            var top: [String: Double] = [:]
            for alt in entry.top { top[text(alt.id)] = max(top[text(alt.id)] ?? -.infinity, Self.finite(alt.logprob)) }
            logprobs.topLogprobs.append(top)
            logprobs.textOffset.append(offset)
            offset += token.count
        }
    }
}

/// One entry of vLLM's `prompt_logprobs`.
struct PromptLogprob: Encodable, Sendable {
    var logprob: Double
    /// 1 for the most likely token; nil when the prompt token is not among the alternatives asked for.
    var rank: Int?
    var decodedToken: String

    enum CodingKeys: String, CodingKey { case logprob, rank, decodedToken = "decoded_token" }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(logprob, forKey: .logprob)
        try c.encode(rank, forKey: .rank)
        try c.encode(decodedToken, forKey: .decodedToken)
    }
}
