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
    var tokenLogprobs: [Double] = []
    /// One object per token mapping alternative token text to its log-probability.
    var topLogprobs: [[String: Double]] = []
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
