import Foundation
import Grammar
import Hummingbird
import ServingAPI

/// `POST /v1/responses`: OpenAI's Responses API for text and image input, on the same prompt
/// rendering, engine and grammar masks as chat completions; non-streaming, or streamed as
/// `response.*` events.
extension OpenAIService {
    @Sendable func responses(_ body: Data, arrival: ContinuousClock.Instant, watch: ClientWatch) async throws -> Response {
        let request = try RequestDecoding.decode(ResponsesRequest.self, from: body, fields: ResponsesRequest.fields)
        try checkModel(request.model)
        guard let prompts else {
            throw APIError.invalidRequest("model '\(request.model)' has no chat template; use /v1/completions", code: "chat_template_missing")
        }
        var sampling = SamplingFields()
        sampling.temperature = request.temperature
        sampling.topP = request.topP
        sampling.seed = request.seed
        var settings = try GenerationSettings(sampling, maxTokens: request.maxOutputTokens, maxTokensField: "max_output_tokens", topLogprobs: nil, ignoreEos: nil)
        settings.parameters.grammar = try Self.grammar(request.text?.format, body: body)
        let prompt = try prompts.render(try request.messages())
        let decodedImages = try await images.load(prompt.images)
        let tokens = engine.servedModel.tokenizer.encode(prompt.text, addSpecialTokens: false)
        let parameters = try settings.parameters(promptTokens: tokens.count, contextLength: engine.servedModel.contextLength, index: 0)
        let events = try submit([InferenceRequest(prompt: .tokens(tokens), images: decodedImages, parameters: parameters)])
        let tracker = ChoiceTracker(count: 1, arrival: arrival, metrics: metrics)
        let response = ResponseObject(
            id: Self.requestID("resp_"), messageID: Self.requestID("msg_"), createdAt: Int(Date().timeIntervalSince1970),
            model: request.model, request: request)
        if request.stream == true {
            return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
                defer { tracker.close() }
                try await self.streamResponse(events, writer: writer, tracker: tracker, response: response)
            })
        }
        defer { tracker.close() }
        var text = ""
        do {
            for event in try await watch.collect(events) {
                tracker.record(event)
                if case let .delta(delta) = event.event { text += delta.text }
            }
        } catch {
            throw Self.error(from: error)
        }
        let finish = tracker.finishes[0]
        return Self.jsonObject(response.object(
            status: finish?.reason == .length ? "incomplete" : "completed", text: text, finish: finish, usage: tracker.usage(choicesPerPrompt: 1)))
    }

    /// `text.format`: `text`, `json_object`, or `json_schema` with its `schema`.
    static func grammar(_ format: ResponsesRequest.TextOptions.Format?, body: Data) throws(APIError) -> GrammarSpec? {
        guard let format else { return nil }
        let spec: GrammarSpec
        switch format.type {
        case "text": return nil
        case "json_object": spec = .jsonObject
        case "json_schema":
            guard format.schema != nil, let text = JSONMember.text(at: ["text", "format", "schema"], in: String(decoding: body, as: UTF8.self)) else {
                throw .invalidRequest("text.format of type 'json_schema' needs a schema", param: "text.format.schema")
            }
            spec = .jsonSchema(text)
        default:
            throw .invalidRequest("text.format.type must be 'text', 'json_object' or 'json_schema', got '\(format.type)'", param: "text.format.type")
        }
        do { _ = try spec.grammar() } catch { throw .invalidRequest(error.message, param: "text.format", code: "unsupported_schema") }
        return spec
    }

    private func streamResponse(_ events: ChoiceEvents, writer: any ResponseBodyWriter, tracker: ChoiceTracker, response: ResponseObject) async throws {
        var sse = ServerSentEvents(writer: writer)
        var sequence = 0
        func event(_ type: String, _ fields: [String: Any]) -> Data {
            defer { sequence += 1 }
            var object = fields
            object["type"] = type
            object["sequence_number"] = sequence
            return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        }
        let inProgress = response.object(status: "in_progress", text: nil, finish: nil, usage: nil)
        sse.hold(raw: event("response.created", ["response": inProgress]))
        sse.hold(raw: event("response.in_progress", ["response": inProgress]))
        sse.hold(raw: event("response.output_item.added", [
            "output_index": 0, "item": response.message(text: nil, status: "in_progress"),
        ]))
        sse.hold(raw: event("response.content_part.added", [
            "item_id": response.messageID, "output_index": 0, "content_index": 0, "part": ResponseObject.textPart(""),
        ]))
        var text = ""
        let completed = try await ServerSentEvents.forEach(events, sse: &sse) { choice, sse in
            tracker.record(choice)
            guard case let .delta(delta) = choice.event, !delta.text.isEmpty else { return }
            text += delta.text
            try await sse.send(raw: event("response.output_text.delta", [
                "item_id": response.messageID, "output_index": 0, "content_index": 0, "delta": delta.text, "logprobs": [Any](),
            ]))
        }
        if completed {
            let finish = tracker.finishes[0]
            let status = finish?.reason == .length ? "incomplete" : "completed"
            try await sse.send(raw: event("response.output_text.done", [
                "item_id": response.messageID, "output_index": 0, "content_index": 0, "text": text, "logprobs": [Any](),
            ]))
            try await sse.send(raw: event("response.content_part.done", [
                "item_id": response.messageID, "output_index": 0, "content_index": 0, "part": ResponseObject.textPart(text),
            ]))
            try await sse.send(raw: event("response.output_item.done", ["output_index": 0, "item": response.message(text: text, status: status)]))
            let final = response.object(status: status, text: text, finish: finish, usage: tracker.usage(choicesPerPrompt: 1))
            try await sse.send(raw: event(status == "completed" ? "response.completed" : "response.incomplete", ["response": final]))
        }
        try await sse.finish()
    }
}

/// The `response` object, built as JSON (its many optional members mirror the request).
struct ResponseObject: Sendable {
    let id: String
    let messageID: String
    let createdAt: Int
    let model: String
    let request: ResponsesRequest

    static func textPart(_ text: String) -> [String: Any] { ["type": "output_text", "text": text, "annotations": [Any]()] }

    func message(text: String?, status: String) -> [String: Any] {
        ["type": "message", "id": messageID, "status": status, "role": "assistant",
         "content": text.map { [Self.textPart($0)] } ?? [Any]()]
    }

    func object(status: String, text: String?, finish: FinishInfo?, usage: Usage?) -> [String: Any] {
        var format: [String: Any] = ["type": request.text?.format?.type ?? "text"]
        if let name = request.text?.format?.name { format["name"] = name }
        var object: [String: Any] = [
            "id": id, "object": "response", "created_at": createdAt, "status": status, "model": model,
            "output": text.map { [message(text: $0, status: status)] } ?? [Any](),
            "error": NSNull(), "incomplete_details": status == "incomplete" ? ["reason": "max_output_tokens"] : NSNull(),
            "instructions": request.instructions ?? NSNull(), "max_output_tokens": request.maxOutputTokens ?? NSNull(),
            "temperature": request.temperature ?? 1, "top_p": request.topP ?? 1, "parallel_tool_calls": false,
            "tool_choice": "none", "tools": [Any](), "text": ["format": format], "metadata": [String: Any](),
            "previous_response_id": NSNull(), "reasoning": NSNull(), "store": false, "truncation": "disabled",
        ]
        if let usage {
            object["usage"] = [
                "input_tokens": usage.promptTokens, "input_tokens_details": ["cached_tokens": usage.cachedTokens],
                "output_tokens": usage.completionTokens, "output_tokens_details": ["reasoning_tokens": 0],
                "total_tokens": usage.promptTokens + usage.completionTokens,
            ]
        } else {
            object["usage"] = NSNull()
        }
        return object
    }

}
