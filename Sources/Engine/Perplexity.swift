import Foundation
import Models

/// Perplexity of a model on a token sequence, computed as llama.cpp's `llama-perplexity` does, so
/// the two are comparable on the same file: the tokens are cut into non-overlapping chunks of
/// `context` tokens (a trailing partial chunk is dropped), each chunk is run from an empty cache
/// with its first token replaced by BOS when the tokenizer adds one, and only the second half of
/// each chunk is scored (token t+1 from the logits at t, for t in context/2 ..< context-1).
///
/// ```swift
/// let result = try Perplexity.evaluate(model: model, tokens: tokenizer.encode(text), context: 512, bos: tokenizer.addsBOS ? bos : nil)
/// print(result.perplexity, result.tokens)
/// ```
public enum Perplexity {
    public struct Result: Sendable, Codable, Equatable {
        public var perplexity: Double
        /// Tokens scored.
        public var tokens: Int
        public var chunks: Int
    }

    public enum Failure: Error, CustomStringConvertible {
        case tooShort(tokens: Int, context: Int)
        case badContext(Int)

        public var description: String {
            switch self {
            case let .tooShort(tokens, context):
                "the text tokenizes to \(tokens) tokens; perplexity with a context of \(context) needs at least \(2 * context)"
            case let .badContext(context): "the context must be at least 4 tokens, not \(context)"
            }
        }
    }

    /// `progress` is called after each chunk with (chunks done, chunks, running perplexity).
    public static func evaluate(model: any CausalLanguageModel, tokens: [Int], context: Int, bos: Int?,
                                progress: (Int, Int, Double) -> Void = { _, _, _ in }) throws -> Result {
        guard context >= 4 else { throw Failure.badContext(context) }
        guard tokens.count >= 2 * context else { throw Failure.tooShort(tokens: tokens.count, context: context) }
        let chunks = tokens.count / context
        let first = context / 2
        var nll = 0.0, count = 0
        for chunk in 0 ..< chunks {
            var input = Array(tokens[chunk * context ..< (chunk + 1) * context])
            if let bos { input[0] = bos }
            let cache = model.makeCache(capacity: context)
            let logits = try model.forward(input, cache: cache, allLogits: true)
            for position in first ..< context - 1 {
                let row = logits[position]
                let target = tokens[chunk * context + position + 1]
                let maximum = row.max() ?? 0
                var sum = 0.0
                for value in row { sum += exp(Double(value - maximum)) }
                nll += Double(maximum) + log(sum) - Double(row[target])
                count += 1
            }
            progress(chunk + 1, chunks, exp(nll / Double(count)))
        }
        return Result(perplexity: exp(nll / Double(count)), tokens: count, chunks: chunks)
    }
}
