/// The fragments ``OpenAPIDocument/text`` is built from, each written once: references, JSON
/// bodies, answers, operations and the object shapes the schemas repeat. Each returns JSON text
/// (arguments are JSON text too, or plain strings that need no escaping where named so).
///
/// ```swift
/// OpenAPIDocument.jsonAnswer("The version.", OpenAPIDocument.closedObject(#""version": {"type": "string"}"#, required: #""version""#))
/// ```
extension OpenAPIDocument {
    /// `{"$ref": "#/components/<section>/<name>"}`.
    static func ref(_ name: String, in section: String = "schemas") -> String {
        ##"{"$ref": "#/components/\##(section)/\##(name)"}"##
    }

    /// `"status": {"$ref": "#/components/responses/Name"}` for each pair, comma-separated.
    static func sharedAnswers(_ answers: [(status: Int, name: String)]) -> String {
        answers.map { #""\#($0.status)": \#(ref($0.name, in: "responses"))"# }.joined(separator: ", ")
    }

    /// The error answers of every operation whose body names the model.
    static let modelRequestErrors = sharedAnswers([
        (400, "InvalidRequest"), (401, "Unauthorized"), (404, "ModelNotFound"), (413, "BodyTooLarge"), (503, "Unavailable"),
    ])

    /// The error answers of a read-only operation.
    static let readErrors = sharedAnswers([(401, "Unauthorized"), (503, "Unavailable")])

    /// An `application/json` content map with `schema` (and `examples`, a JSON object of named examples).
    static func json(_ schema: String, examples: String? = nil) -> String {
        #"{"application/json": {"schema": \#(schema)\#(examples.map { #", "examples": \#($0)"# } ?? "")}}"#
    }

    /// A required JSON request body of the named schema, or of an inline `schema`.
    static func jsonRequest(_ schema: String, examples: String? = nil) -> String {
        #"{"required": true, "content": \#(json(schema, examples: examples))}"#
    }

    /// The `Retry-After` header of the answers that ask the client to come back.
    static let retryAfter = #"{"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait before retrying, when known."}}"#

    /// An error answer: `description` (no quotes or backslashes) with an ``ErrorResponse`` body.
    static func errorAnswer(_ description: String, retryAfter: Bool = false) -> String {
        let headers = retryAfter ? #", "headers": \#(Self.retryAfter)"# : ""
        return #"{"description": "\#(description)"\#(headers), "content": \#(json(ref("ErrorResponse")))}"#
    }

    /// A 200 answer with a JSON body of `schema`.
    static func jsonAnswer(_ description: String, _ schema: String) -> String {
        #""200": {"description": "\#(description)", "content": \#(json(schema))}"#
    }

    /// The 200 answer of a generating operation: one `schema` object, or with `stream: true` the
    /// server-sent events `streamed` describes.
    static func streamedAnswer(_ schema: String, streamed: String) -> String {
        let content = #"{"application/json": {"schema": \#(ref(schema))}, "text/event-stream": {"schema": \#(ref("ServerSentEvent"))}}"#
        return #""200": {"description": "The answer: one JSON object, or with `stream: true` server-sent \#(streamed)", "content": \#(content)}"#
    }

    /// One operation: its id, summary, optional `parameters` and `requestBody`, and its answers.
    static func operation(_ id: String, _ summary: String, parameters: String? = nil, body: String? = nil, answers: String...) -> String {
        let parts = [#""operationId": "\#(id)""#, #""summary": "\#(summary)""#]
            + [parameters.map { #""parameters": \#($0)"# }, body.map { #""requestBody": \#($0)"# }].compactMap { $0 }
            + [#""responses": {\#(answers.joined(separator: ", "))}"#]
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// An object schema of `properties` (JSON members) that admits no others, with the `required` names.
    static func closedObject(_ properties: String, required: String) -> String {
        #"{"type": "object", "properties": {\#(properties)}, "required": [\#(required)], "additionalProperties": false}"#
    }

    /// A list answer (`{"object": "list", "data": [...]}`) of `item`s.
    static func list(of item: String) -> String {
        closedObject(#""object": {"const": "list"}, "data": {"type": "array", "items": \#(item)}"#, required: #""object", "data""#)
    }

    /// `tool_choice`: a mode, the `named` function object, or null.
    static func toolChoice(named: String) -> String {
        #"{"anyOf": [{"enum": ["auto", "none", "required"]}, \#(named), {"type": "null"}]}"#
    }

    /// Content that is a string or a list of `part`s.
    static func textOrParts(_ part: String) -> String {
        #"{"anyOf": [{"type": "string"}, {"type": "array", "items": \#(ref(part))}]}"#
    }

    /// The members of a JSON schema format (`json_schema` in chat, flattened in responses).
    static let jsonSchemaMembers = #""name": {"type": "string"}, "schema": {"type": "object"}, "strict": {"type": ["boolean", "null"]}, "description": {"type": "string"}"#

    /// A generation request: `base`'s parameters, `model`, the request's own `properties` (JSON
    /// members, `required` among them) and `stream`, closed to anything else.
    static func generationRequest(base: String, _ properties: String, required: String) -> String {
        #"""
        {
            "type": "object",
            "allOf": [\#(ref(base))],
            "properties": {"model": \#(ref("ModelName")), \#(properties), "stream": {"type": ["boolean", "null"]}},
            "required": ["model", \#(required)],
            "unevaluatedProperties": false
           }
        """#
    }

    /// A completion answer object (`chat.completion` or `text_completion`) whose choices have
    /// `choice` members (JSON) with the `choiceRequired` names.
    static func completionObject(_ object: String, choice: String, choiceRequired: String) -> String {
        #"""
        {
            "type": "object",
            "properties": {
             "id": {"type": "string"}, "object": {"const": "\#(object)"}, "created": {"type": "integer"}, "model": {"type": "string"},
             "system_fingerprint": {"type": "string"},
             "usage": {"anyOf": [\#(ref("Usage")), {"type": "null"}]},
             "choices": {"type": "array", "items": {"type": "object", "properties": {\#(choice)}, "required": [\#(choiceRequired)]}}
            },
            "required": ["id", "object", "created", "model", "choices"]
           }
        """#
    }
}
