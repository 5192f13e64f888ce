import Foundation
import ServingAPI

/// The request fields both completion endpoints share, checked and turned into engine parameters.
struct GenerationSettings: Sendable {
    var parameters: SamplingParameters
    /// `max_tokens` as the client gave it; nil fills the context.
    var requestedMaxTokens: Int?
    var n: Int
    var stream: Bool
    var includeUsage: Bool
    /// Whether per-token logprobs go into the response.
    var wantsLogprobs: Bool
    /// `echo` with `logprobs`: the prompt's tokens and log-probabilities lead the logprobs lists.
    var echoesPromptLogprobs = false
    /// vLLM's `prompt_logprobs`: a separate list per choice.
    var reportsPromptLogprobs = false
    /// `slo_class`, which the engine checks against its classes.
    var sloClass: String?
    /// The field the client's token limit came in (`max_tokens`, `max_completion_tokens`, `max_output_tokens`), named by its errors.
    var maxTokensField = "max_tokens"

    /// Most parallel samples one request may ask for.
    static let maxN = 16

    init(_ sampling: SamplingFields, maxTokens: Int?, maxTokensField: String = "max_tokens", topLogprobs: Int?, ignoreEos: Bool?,
         promptLogprobs: Int? = nil) throws(APIError) {
        let n = sampling.n ?? 1
        guard n >= 1, n <= Self.maxN else {
            throw .invalidRequest("n must be between 1 and \(Self.maxN), got \(n)", param: "n", code: "invalid_value")
        }
        if let maxTokens, maxTokens < (promptLogprobs == nil ? 1 : 0) {
            throw .invalidRequest(
                "\(maxTokensField) must be at least \(promptLogprobs == nil ? 1 : 0), got \(maxTokens)", param: maxTokensField, code: "invalid_value")
        }
        if sampling.streamOptions != nil, sampling.stream != true {
            throw .invalidRequest("stream_options is only allowed when stream is true", param: "stream_options")
        }
        let topP = sampling.topP ?? 1
        guard topP > 0, topP <= 1 else {
            throw .invalidRequest("top_p must be in (0, 1], got \(topP)", param: "top_p", code: "invalid_value")
        }
        var p = SamplingParameters()
        // Below float32's range a temperature is 0 (greedy); a top_p is the smallest float32 (the top token).
        p.temperature = Float(sampling.temperature ?? 1)
        p.topP = max(Float(topP), .leastNonzeroMagnitude)
        // vLLM's -1 for "no limit" is the engine's 0.
        p.topK = sampling.topK.map { $0 == -1 ? 0 : $0 } ?? 0
        p.minP = Float(sampling.minP ?? 0)
        p.presencePenalty = Float(sampling.presencePenalty ?? 0)
        p.frequencyPenalty = Float(sampling.frequencyPenalty ?? 0)
        p.seed = sampling.seed.map { UInt64(bitPattern: Int64($0)) }
        p.stopStrings = sampling.stop?.values ?? []
        p.topLogprobs = topLogprobs
        p.ignoreStopTokens = ignoreEos ?? false
        p.promptLogprobs = promptLogprobs
        // Checked later against the prompt; 1 only so that validation passes here.
        p.maxTokens = maxTokens ?? 1
        do {
            try p.validate()
        } catch {
            throw .invalidRequest(error.message, param: Self.param(of: error.message), code: "invalid_value")
        }
        parameters = p
        requestedMaxTokens = maxTokens
        self.maxTokensField = maxTokensField
        self.n = n
        stream = sampling.stream ?? false
        includeUsage = sampling.streamOptions?.includeUsage ?? false
        wantsLogprobs = topLogprobs != nil
        sloClass = sampling.sloClass
    }

    /// Applies `logit_bias` and the grammar of `response_format` / `guided_*` (checked here, so a
    /// bad schema is a 400 naming its field before anything is queued).
    mutating func constrain(_ fields: StructuredOutputFields, body: Data, vocabularySize: Int) throws(APIError) {
        parameters.logitBias = try fields.bias(vocabularySize: vocabularySize)
        parameters.grammar = try fields.grammar(body: body)
    }

    /// Applies the grammar that forces a tool call (tool_choice `required` or a named function);
    /// `format` names the request's own output-format fields, which cannot be combined with it.
    mutating func constrain(_ tools: ToolPlan?, format: String) throws(APIError) {
        guard let grammar = tools?.grammar else { return }
        guard parameters.grammar == nil else {
            throw .invalidRequest("\(format) cannot be combined with tool_choice 'required' or a named function", param: "tool_choice")
        }
        parameters.grammar = grammar
    }

    /// The field a validation message is about: its first word, when that is a field name.
    private static func param(of message: String) -> String? {
        let first = message.prefix { $0 != " " }
        return first.contains("_") || ["temperature", "stop"].contains(first) ? String(first) : nil
    }

    /// The parameters for one prompt: `max_tokens` fitted to the context, and the `index`-th seed of a fan-out.
    func parameters(promptTokens: Int, contextLength: Int, index: Int) throws(APIError) -> SamplingParameters {
        let room = contextLength - promptTokens
        if let requestedMaxTokens, requestedMaxTokens > room || room < 1 {
            // A client's max_tokens may be near Int.max: the total is reported without overflowing.
            let (total, overflow) = promptTokens.addingReportingOverflow(requestedMaxTokens)
            throw .invalidRequest(
                "This model's maximum context length is \(contextLength) tokens. However, you requested "
                    + "\(overflow ? "more than \(Int.max)" : String(total)) tokens (\(promptTokens) in the prompt, "
                    + "\(requestedMaxTokens) for the completion). Please reduce the length of the prompt or completion.",
                param: maxTokensField, code: "context_length_exceeded")
        }
        guard room >= 1 else {
            throw .invalidRequest(
                "This model's maximum context length is \(contextLength) tokens. However, the prompt has "
                    + "\(promptTokens) tokens. Please reduce the length of the prompt.",
                param: "messages", code: "context_length_exceeded")
        }
        var p = parameters
        p.maxTokens = requestedMaxTokens ?? room
        if let seed = p.seed { p.seed = seed &+ UInt64(index) }
        return p
    }
}

extension ChatCompletionRequest {
    func settings() throws(APIError) -> GenerationSettings { try GenerationSettings(self) }
}

extension CompletionRequest {
    func settings() throws(APIError) -> GenerationSettings { try GenerationSettings(self) }
}

extension GenerationSettings {
    init(_ request: ChatCompletionRequest) throws(APIError) {
        if request.topLogprobs != nil, request.logprobs != true {
            throw .invalidRequest("top_logprobs requires logprobs to be true", param: "top_logprobs")
        }
        try self.init(
            request.sampling, maxTokens: request.maxCompletionTokens ?? request.maxTokens,
            maxTokensField: request.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens", topLogprobs: request.logprobs == true ? (request.topLogprobs ?? 0) : nil, ignoreEos: request.ignoreEos)
    }

    /// With `echo`, `logprobs` also covers the prompt (its log-probabilities are computed), and
    /// `max_tokens` may be 0, as log-likelihood evaluations ask.
    init(_ request: CompletionRequest) throws(APIError) {
        let echoLogprobs = request.echo == true ? request.logprobs : nil
        let promptLogprobs = [echoLogprobs, request.promptLogprobs].compactMap { $0 }.max()
        try self.init(
            request.sampling, maxTokens: request.maxTokens ?? 16, topLogprobs: request.logprobs, ignoreEos: request.ignoreEos,
            promptLogprobs: promptLogprobs ?? (request.echo == true && request.maxTokens == 0 ? 0 : nil))
        echoesPromptLogprobs = echoLogprobs != nil
        reportsPromptLogprobs = request.promptLogprobs != nil
    }
}
