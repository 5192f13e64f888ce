import CoreUtilities
import Foundation
import ServingAPI

extension OpenAIService {
    /// The token ids of a prompt text, refused by its size before any tokenizing when it cannot fit
    /// the context: no token covers more than `maxTokenUTF8Length` bytes, so a text more than twice
    /// that many bytes per token of context (twice, for normalisers that shrink text) is too long.
    /// Long texts are tokenized on a thread of their own, so the cooperative threads keep serving
    /// other requests and `/health`. Occurrences of `literal` (see ``ChatPromptBuilder/Prompt``) are
    /// the image placeholder as plain text; chat prompts, which carry it, add no special tokens.
    func tokenize(_ text: String, param: String, addSpecialTokens: Bool, literal: String? = nil) async throws(APIError) -> [Int] {
        let model = engine.servedModel
        let tokenizer = model.tokenizer
        let limit = model.contextLength.multipliedReportingOverflow(by: 2 * tokenizer.maxTokenUTF8Length)
        let bytes = text.utf8.count
        if !limit.overflow, bytes > limit.partialValue {
            throw .invalidRequest(
                "This model's maximum context length is \(model.contextLength) tokens. However, the prompt is \(bytes) "
                    + "bytes of text, more than the \(limit.partialValue) bytes that can fit it. Please reduce the length of the prompt.",
                param: param, code: "context_length_exceeded")
        }
        let placeholder = model.imagePlaceholder
        let work: @Sendable () -> [Int] = {
            guard let literal, let placeholder, text.contains(literal) else {
                return tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
            }
            let plain = tokenizer.encode(placeholder, addSpecialTokens: false, matchAddedTokens: false)
            var ids: [Int] = []
            for (i, piece) in text.components(separatedBy: literal).enumerated() {
                if i > 0 { ids += plain }
                ids += tokenizer.encode(piece, addSpecialTokens: false)
            }
            return ids
        }
        guard bytes > 32 << 10 else { return work() }
        do {
            return try await onOwnThread(work)
        } catch {
            throw .internalError("tokenizing failed: \(error)")
        }
    }
}
