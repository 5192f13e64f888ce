import ChatTemplates
import Foundation
import Hummingbird
import ServingAPI

extension OpenAIService {
    /// `POST /v1/chat/completions`.
    @Sendable func chatCompletions(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let (chat, decoded) = try decodeCompletionBody(ChatCompletionRequest.self, from: body)
        var constrained = decoded
        guard let prompts else {
            throw APIError.invalidRequest(
                "model '\(chat.model)' has no chat template; use /v1/completions", code: "chat_template_missing")
        }
        let document = String(decoding: body, as: UTF8.self)
        let tools = try ToolPlan(
            tools: chat.tools, choice: chat.toolChoice, parallel: chat.parallelToolCalls, body: document,
            format: prompts.toolCallFormat)
        try constrained.constrain(tools, format: "response_format and guided_*")
        let settings = constrained
        let toolValues = tools == nil ? nil : (try? TemplateValue(jsonData: body))?["tools"]
        try checkFits(sequences: settings.n, param: "n")
        let prompt = try prompts.render(chat.messages, tools: toolValues)
        let tokens = try await tokenize(prompt.text, param: "messages", addSpecialTokens: false, literal: prompt.literalPlaceholder)
        let decodedImages = try await images.load(prompt.images)
        let contextLength = engine.servedModel.contextLength
        let requests = try (0..<settings.n).map { index throws(APIError) in
            InferenceRequest(
                prompt: .tokens(tokens), images: decodedImages,
                parameters: try settings.parameters(promptTokens: tokens.count, contextLength: contextLength, index: index),
                sloClass: settings.sloClass)
        }
        let model = chat.model
        return try await answer(requests, arrival: arrival, idPrefix: "chatcmpl-", stream: settings.stream) { events, writer, tracker, id, created in
            try await self.streamChat(
                events, writer: writer, tracker: tracker, settings: settings, tools: tools, id: id, created: created, model: model)
        } whole: { events, tracker, id, created in
            var texts = Array(repeating: "", count: settings.n)
            var logprobEntries = Array(repeating: [ChatTokenLogprob](), count: settings.n)
            try await tracker.collect(events, watch: watch) { index, delta in
                texts[index] += delta.text
                if settings.wantsLogprobs { logprobEntries[index] += logprobs.chat(delta.logprobs) }
            }
            let choices = (0..<settings.n).map { index in
                let (content, calls) = tools?.result(texts[index]) ?? (texts[index], [])
                return ChatCompletionChoice(
                    index: index, content: content,
                    logprobs: settings.wantsLogprobs ? ChatLogprobs(content: logprobEntries[index]) : nil,
                    finishReason: tracker.finishes[index]?.reason ?? .stop, toolCalls: calls)
            }
            return try Self.json(ChatCompletionResponse(
                id: id, created: created, model: model, choices: choices, usage: tracker.usage(choicesPerPrompt: settings.n),
                includeUsageField: true))
        }
    }

    private func streamChat(
        _ events: ChoiceEvents, writer: any ResponseBodyWriter, tracker: ChoiceTracker,
        settings: GenerationSettings, tools: ToolPlan?, id: String, created: Int, model: String
    ) async throws {
        // With tools (unless `none`) each choice's text goes through a reader that sends it as
        // content or as tool-call deltas.
        var calls = tools.flatMap { $0.mode == .none ? nil : Array(repeating: ToolCallStream(plan: $0), count: settings.n) }
        var sse = ServerSentEvents(writer: writer)
        func chunk(_ choice: ChatCompletionChunkChoice) -> ChatCompletionChunk {
            ChatCompletionChunk(id: id, created: created, model: model, choices: [choice], usage: nil, includeUsageField: settings.includeUsage)
        }
        // Every choice opens with the assistant role, as OpenAI's stream does (sent with the first token).
        for index in 0..<settings.n {
            try sse.hold(chunk(.init(index: index, role: "assistant", content: "")))
        }
        let completed = try await ServerSentEvents.forEach(events, sse: &sse) { event, sse in
            tracker.record(event)
            switch event.event {
            case let .delta(delta):
                let logprobs = settings.wantsLogprobs ? ChatLogprobs(content: self.logprobs.chat(delta.logprobs)) : nil
                guard calls != nil else {
                    guard !delta.text.isEmpty || logprobs != nil else { return }
                    return try await sse.send(chunk(.init(index: event.index, content: delta.text, logprobs: logprobs)))
                }
                let step = calls![event.index].append(delta.text)
                guard step.content != nil || !step.calls.isEmpty || logprobs != nil else { return }
                try await sse.send(chunk(.init(
                    index: event.index, content: step.content, logprobs: logprobs, toolCalls: step.calls.isEmpty ? nil : step.calls)))
            case let .finished(info):
                if let step = calls?[event.index].finish(), step.content != nil || !step.calls.isEmpty {
                    try await sse.send(chunk(.init(index: event.index, content: step.content, toolCalls: step.calls.isEmpty ? nil : step.calls)))
                }
                try await sse.send(chunk(.init(
                    index: event.index, finishReason: info.reason, calledTools: calls?[event.index].madeCalls ?? false)))
            }
        }
        if completed, settings.includeUsage {
            try await sse.send(ChatCompletionChunk(
                id: id, created: created, model: model, choices: [], usage: tracker.usage(choicesPerPrompt: settings.n),
                includeUsageField: true))
        }
        try await sse.finish()
    }
}
