import Foundation
import Hummingbird
import ServingAPI

extension OpenAIService {
    /// `POST /v1/chat/completions`.
    @Sendable func chatCompletions(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let chat = try RequestDecoding.decode(ChatCompletionRequest.self, from: body)
        try checkModel(chat.model)
        let settings = try GenerationSettings(chat)
        guard let prompts else {
            throw APIError.invalidRequest(
                "model '\(chat.model)' has no chat template; use /v1/completions", code: "chat_template_missing")
        }
        let prompt = try prompts.render(chat.messages)
        let decodedImages = try await images.load(prompt.images)
        let tokens = engine.servedModel.tokenizer.encode(prompt.text, addSpecialTokens: false)
        let contextLength = engine.servedModel.contextLength
        let requests = try (0..<settings.n).map { index throws(APIError) in
            InferenceRequest(
                prompt: .tokens(tokens), images: decodedImages,
                parameters: try settings.parameters(promptTokens: tokens.count, contextLength: contextLength, index: index))
        }
        let events = try submit(requests)
        let tracker = ChoiceTracker(count: settings.n, arrival: arrival, metrics: metrics)
        let id = Self.requestID("chatcmpl-")
        let created = Int(Date().timeIntervalSince1970)
        let model = chat.model
        if settings.stream {
            return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
                defer { tracker.close() }
                try await self.streamChat(events, writer: writer, tracker: tracker, settings: settings, id: id, created: created, model: model)
            })
        }
        defer { tracker.close() }
        var texts = Array(repeating: "", count: settings.n)
        var logprobEntries = Array(repeating: [ChatTokenLogprob](), count: settings.n)
        do {
            for event in try await watch.collect(events) {
                tracker.record(event)
                if case let .delta(delta) = event.event {
                    texts[event.index] += delta.text
                    if settings.wantsLogprobs { logprobEntries[event.index] += logprobs.chat(delta.logprobs) }
                }
            }
        } catch {
            throw Self.error(from: error)
        }
        let choices = (0..<settings.n).map { index in
            ChatCompletionChoice(
                index: index, content: texts[index],
                logprobs: settings.wantsLogprobs ? ChatLogprobs(content: logprobEntries[index]) : nil,
                finishReason: tracker.finishes[index]?.reason ?? .stop)
        }
        return try Self.json(ChatCompletionResponse(
            id: id, created: created, model: model, choices: choices, usage: tracker.usage(choicesPerPrompt: settings.n),
            includeUsageField: true))
    }

    private func streamChat(
        _ events: ChoiceEvents, writer: any ResponseBodyWriter, tracker: ChoiceTracker,
        settings: GenerationSettings, id: String, created: Int, model: String
    ) async throws {
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
                guard !delta.text.isEmpty || logprobs != nil else { return }
                try await sse.send(chunk(.init(index: event.index, content: delta.text, logprobs: logprobs)))
            case let .finished(info):
                try await sse.send(chunk(.init(index: event.index, finishReason: info.reason)))
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
