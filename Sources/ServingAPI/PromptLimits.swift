/// What a tokenized prompt must satisfy before an engine (or a front end routing to engines) admits it.
///
/// ```swift
/// try PromptLimits(contextLength: 2048, vocabSize: 32000).check(promptIds)
/// ```
public struct PromptLimits: Sendable, Hashable {
    public var contextLength: Int
    public var vocabSize: Int

    public init(contextLength: Int, vocabSize: Int) {
        self.contextLength = contextLength
        self.vocabSize = vocabSize
    }

    /// Throws `invalidRequest` for an empty prompt, one that leaves no room for a generated token,
    /// or token ids outside the vocabulary.
    public func check(_ prompt: [Int]) throws(EngineError) {
        guard !prompt.isEmpty else { throw .invalidRequest("the prompt is empty") }
        guard prompt.count < contextLength else {
            throw .contextLengthExceeded("the prompt has \(prompt.count) tokens, but this model's maximum context length is "
                + "\(contextLength) tokens (prompt plus at least one generated token)")
        }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw .invalidRequest("token id \(bad) is out of range for a vocabulary of \(vocabSize)")
        }
    }
}
