import Foundation
import Hummingbird
import ServingAPI

extension OpenAIService {
    /// `POST /v1/completions`: one or more prompts (text or token ids), `n` choices each.
    @Sendable func completions(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let (completion, settings) = try decodeCompletionBody(CompletionRequest.self, from: body)
        let model = engine.servedModel
        let count = completion.prompt.count
        try checkFits(sequences: count * settings.n, param: count > 1 ? "prompt" : "n")
        let prompts: [[Int]]
        switch completion.prompt {
        case let .texts(texts):
            var lists: [[Int]] = []
            for text in texts { lists.append(try await tokenize(text, param: "prompt", addSpecialTokens: true)) }
            prompts = lists
        case let .tokenLists(lists):
            let vocabulary = model.tokenizer.vocabularySize
            for (i, list) in lists.enumerated() where list.contains(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.invalidRequest(
                    "prompt \(i) has token ids outside the vocabulary [0, \(vocabulary))", param: "prompt", code: "invalid_value")
            }
            prompts = lists
        }
        if let i = prompts.firstIndex(where: \.isEmpty) {
            throw APIError.invalidRequest("prompt \(i) is empty", param: "prompt", code: "invalid_value")
        }
        var requests: [InferenceRequest] = []
        for tokens in prompts {
            for index in 0..<settings.n {
                let parameters = try settings.parameters(promptTokens: tokens.count, contextLength: model.contextLength, index: index)
                requests.append(InferenceRequest(prompt: .tokens(tokens), parameters: parameters, sloClass: settings.sloClass))
            }
        }
        // The echo is the prompt as sent: text prompts verbatim (no rendered BOS), token prompts decoded.
        let echoes: [String]? = switch (completion.echo, completion.prompt) {
        case (true?, let .texts(texts)): texts
        case (true?, _): prompts.map { model.tokenizer.decode($0, skipSpecialTokens: false) }
        default: nil
        }
        let name = completion.model
        return try await answer(requests, arrival: arrival, idPrefix: "cmpl-", stream: settings.stream) { events, writer, tracker, id, created in
            try await self.streamCompletion(
                events, writer: writer, tracker: tracker, settings: settings, echoes: echoes, prompts: prompts, id: id,
                created: created, model: name)
        } whole: { events, tracker, id, created in
            var texts = (0..<requests.count).map { echoes?[$0 / settings.n] ?? "" }
            var logprobs = Array(repeating: CompletionLogprobs(), count: requests.count)
            var offsets = texts.map { settings.echoesPromptLogprobs ? 0 : $0.count }
            var promptLists = Array(repeating: [[String: PromptLogprob]?](), count: requests.count)
            try await tracker.collect(events, watch: watch) { index, delta in
                texts[index] += delta.text
                if let prompt = delta.promptLogprobs {
                    if settings.echoesPromptLogprobs {
                        self.logprobs.appendPrompt(prompts[index / settings.n], prompt, to: &logprobs[index], offset: &offsets[index])
                    }
                    if settings.reportsPromptLogprobs { promptLists[index] = self.logprobs.promptList(prompt) }
                }
                if settings.wantsLogprobs {
                    self.logprobs.appendCompletion(delta.logprobs, to: &logprobs[index], offset: &offsets[index])
                }
            }
            let choices = (0..<requests.count).map { index in
                TextCompletionChoice(
                    index: index, text: texts[index], logprobs: settings.wantsLogprobs ? logprobs[index] : nil,
                    finishReason: tracker.finishes[index]?.reason ?? .stop,
                    promptLogprobs: settings.reportsPromptLogprobs ? promptLists[index] : nil)
            }
            return try Self.json(CompletionResponse(
                id: id, created: created, model: name, choices: choices, usage: tracker.usage(choicesPerPrompt: settings.n),
                includeUsageField: true))
        }
    }

    private func streamCompletion(
        _ events: ChoiceEvents, writer: any ResponseBodyWriter, tracker: ChoiceTracker,
        settings: GenerationSettings, echoes: [String]?, prompts: [[Int]], id: String, created: Int, model: String
    ) async throws {
        var sse = ServerSentEvents(writer: writer)
        func chunk(_ choice: TextCompletionChoice) -> CompletionResponse {
            CompletionResponse(id: id, created: created, model: model, choices: [choice], usage: nil, includeUsageField: settings.includeUsage)
        }
        var offsets = [Int](repeating: 0, count: tracker.finishes.count)
        if let echoes {
            for index in offsets.indices {
                let echo = echoes[index / settings.n]
                offsets[index] = settings.echoesPromptLogprobs ? 0 : echo.count
                try await sse.send(chunk(.init(index: index, text: echo)))
            }
        }
        let completed = try await ServerSentEvents.forEach(events, sse: &sse) { event, sse in
            tracker.record(event)
            switch event.event {
            case let .delta(delta):
                var logprobs: CompletionLogprobs?
                if settings.wantsLogprobs {
                    var entries = CompletionLogprobs()
                    if let prompt = delta.promptLogprobs, settings.echoesPromptLogprobs {
                        self.logprobs.appendPrompt(prompts[event.index / settings.n], prompt, to: &entries, offset: &offsets[event.index])
                    }
                    self.logprobs.appendCompletion(delta.logprobs, to: &entries, offset: &offsets[event.index])
                    logprobs = entries
                }
                let promptList = settings.reportsPromptLogprobs ? delta.promptLogprobs.map(self.logprobs.promptList) : nil
                guard !delta.text.isEmpty || logprobs != nil || promptList != nil else { return }
                try await sse.send(chunk(.init(index: event.index, text: delta.text, logprobs: logprobs, promptLogprobs: promptList)))
            case let .finished(info):
                try await sse.send(chunk(.init(index: event.index, text: "", finishReason: info.reason)))
            }
        }
        if completed, settings.includeUsage {
            try await sse.send(CompletionResponse(
                id: id, created: created, model: model, choices: [], usage: tracker.usage(choicesPerPrompt: settings.n),
                includeUsageField: true))
        }
        try await sse.finish()
    }
}
