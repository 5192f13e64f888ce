import ChatTemplates
import Foundation
import Grammar
import Hummingbird
import ServingAPI

/// `POST /v1/responses`: OpenAI's Responses API for text and image input and function tools, on the
/// same prompt rendering, engine, grammar masks and tool-call readers as chat completions;
/// non-streaming, or streamed as `response.*` events.
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
        let document = String(decoding: body, as: UTF8.self)
        let functions = try request.functionTools()
        let tools = try ToolPlan(
            tools: functions, choice: request.toolChoice?.value, parallel: request.parallelToolCalls, body: document,
            format: prompts.toolCallFormat, parametersPath: ["parameters"])
        try settings.constrain(tools, format: "text.format")
        let prompt = try prompts.render(try request.messages(), tools: tools == nil ? nil : Self.templateTools(functions ?? [], document: document))
        let decodedImages = try await images.load(prompt.images)
        let tokens = engine.servedModel.tokenizer.encode(prompt.text, addSpecialTokens: false)
        let parameters = try settings.parameters(promptTokens: tokens.count, contextLength: engine.servedModel.contextLength, index: 0)
        let (events, tracker) = try submit([InferenceRequest(prompt: .tokens(tokens), images: decodedImages, parameters: parameters)],
                                           arrival: arrival)
        let response = ResponseObject(
            id: Self.requestID("resp_"), createdAt: Int(Date().timeIntervalSince1970), model: request.model, request: request,
            toolsJSON: JSONMember.text(at: ["tools"], in: document))
        let reader = ResponseOutput.Reader(plan: tools)
        if request.stream == true {
            return tracker.stream { writer in
                try await self.streamResponse(events, writer: writer, tracker: tracker, response: response, reader: reader)
            }
        }
        defer { tracker.close() }
        var text = ""
        try await tracker.collect(events, watch: watch) { _, delta in text += delta.text }
        let finish = tracker.finishes[0]
        let status = ResponseObject.status(finish)
        var output = ResponseOutput(reader: reader)
        _ = output.append(text)
        _ = output.finish(status: status)
        return Self.jsonObject(response.object(status: status, output: output.items(status: status), usage: tracker.usage(choicesPerPrompt: 1)))
    }

    /// The function tools as chat templates list them (`{"type": "function", "function": {…}}`), each
    /// parameters schema as sent.
    static func templateTools(_ tools: [ToolDefinition], document: String) -> TemplateValue {
        .array(tools.indices.map { i in
            let schema = JSONMember.text(at: ["tools", String(i), "parameters"], in: document).flatMap { try? TemplateValue(json: $0) }
            var function: [(String, TemplateValue)] = [("name", .string(tools[i].function.name))]
            if let description = tools[i].function.description { function.append(("description", .string(description))) }
            function.append(("parameters", schema ?? .object([("type", .string("object"))])))
            return .object([("type", .string("function")), ("function", .object(function))])
        })
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

    private func streamResponse(_ events: ChoiceEvents, writer: any ResponseBodyWriter, tracker: ChoiceTracker, response: ResponseObject,
                                reader: ResponseOutput.Reader) async throws {
        var sse = ServerSentEvents(writer: writer)
        var sequence = 0
        func event(_ item: ResponseOutput.Event) -> Data {
            defer { sequence += 1 }
            var object = item.fields
            object["type"] = item.type
            object["sequence_number"] = sequence
            return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        }
        let inProgress = response.object(status: "in_progress", output: [], usage: nil)
        sse.hold(raw: event(.init(type: "response.created", fields: ["response": inProgress])))
        sse.hold(raw: event(.init(type: "response.in_progress", fields: ["response": inProgress])))
        var output = ResponseOutput(reader: reader)
        let completed = try await ServerSentEvents.forEach(events, sse: &sse) { choice, sse in
            tracker.record(choice)
            guard case let .delta(delta) = choice.event, !delta.text.isEmpty else { return }
            for item in output.append(delta.text) { try await sse.send(raw: event(item)) }
        }
        if completed {
            let status = ResponseObject.status(tracker.finishes[0])
            for item in output.finish(status: status) { try await sse.send(raw: event(item)) }
            let final = response.object(status: status, output: output.items(status: status), usage: tracker.usage(choicesPerPrompt: 1))
            try await sse.send(raw: event(.init(type: status == "completed" ? "response.completed" : "response.incomplete", fields: ["response": final])))
        }
        try await sse.finish()
    }
}

/// The `response` object, built as JSON (its many optional members mirror the request).
struct ResponseObject: Sendable {
    let id: String
    let createdAt: Int
    let model: String
    let request: ResponsesRequest
    /// The request's `tools` as sent, echoed in the response.
    let toolsJSON: String?

    /// `incomplete` when the output hit `max_output_tokens`.
    static func status(_ finish: FinishInfo?) -> String { finish?.reason == .length ? "incomplete" : "completed" }

    func object(status: String, output: [[String: Any]], usage: Usage?) -> [String: Any] {
        var format: [String: Any] = ["type": request.text?.format?.type ?? "text"]
        if let name = request.text?.format?.name { format["name"] = name }
        let tools = toolsJSON.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [Any]()
        let toolChoice: Any = switch request.toolChoice?.value ?? (request.tools?.isEmpty == false ? .auto : .none) {
        case .none: "none"
        case .auto: "auto"
        case .required: "required"
        case let .named(name): ["type": "function", "name": name]
        }
        var object: [String: Any] = [
            "id": id, "object": "response", "created_at": createdAt, "status": status, "model": model, "output": output,
            "error": NSNull(), "incomplete_details": status == "incomplete" ? ["reason": "max_output_tokens"] : NSNull(),
            "instructions": request.instructions ?? NSNull(), "max_output_tokens": request.maxOutputTokens ?? NSNull(),
            "temperature": request.temperature ?? 1, "top_p": request.topP ?? 1, "parallel_tool_calls": request.parallelToolCalls ?? true,
            "tool_choice": toolChoice, "tools": tools, "text": ["format": format], "metadata": [String: Any](),
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
