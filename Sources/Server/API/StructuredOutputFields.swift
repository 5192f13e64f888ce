import CoreUtilities
import ServingAPI
import Foundation
import Grammar

/// The request fields that constrain the output: OpenAI's `response_format` and `logit_bias`, and
/// vLLM's `guided_json`, `guided_regex`, `guided_choice` and `guided_grammar`.
struct StructuredOutputFields: Decodable, Sendable {
    struct ResponseFormat: Decodable, Sendable {
        struct JSONSchemaFormat: Decodable, Sendable {
            var name: String?
            var strict: Bool?
            var schema: JSONValue?
        }

        var type: String
        var jsonSchema: JSONSchemaFormat?

        enum CodingKeys: String, CodingKey {
            case type
            case jsonSchema = "json_schema"
        }
    }

    var responseFormat: ResponseFormat?
    var logitBias: [String: Double]?
    var guidedJSON: JSONValue?
    var guidedRegex: String?
    var guidedChoice: [String]?
    var guidedGrammar: String?

    static var names: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case responseFormat = "response_format"
        case logitBias = "logit_bias"
        case guidedJSON = "guided_json"
        case guidedRegex = "guided_regex"
        case guidedChoice = "guided_choice"
        case guidedGrammar = "guided_grammar"
    }

    /// The grammar these fields ask for, checked (an unsupported schema keyword is a 400 naming it).
    /// `body` is the request as sent, from which a schema's text is taken with its property order.
    func grammar(body: Data) throws(APIError) -> GrammarSpec? {
        var specs: [(field: String, spec: GrammarSpec)] = []
        let document = String(decoding: body, as: UTF8.self)
        if let format = responseFormat {
            switch format.type {
            case "text": break
            case "json_object": specs.append(("response_format", .jsonObject))
            case "json_schema":
                guard format.jsonSchema?.schema != nil,
                      let text = JSONMember.text(at: ["response_format", "json_schema", "schema"], in: document) else {
                    throw .invalidRequest("response_format of type 'json_schema' needs json_schema.schema", param: "response_format.json_schema")
                }
                specs.append(("response_format", .jsonSchema(text)))
            default:
                throw .invalidRequest(
                    "response_format.type must be 'text', 'json_object' or 'json_schema', got '\(format.type)'",
                    param: "response_format.type", code: "invalid_value")
            }
        }
        if guidedJSON != nil, let text = JSONMember.string(at: ["guided_json"], in: document) ?? JSONMember.text(at: ["guided_json"], in: document) {
            specs.append(("guided_json", .jsonSchema(text)))
        }
        if let guidedRegex { specs.append(("guided_regex", .regex(guidedRegex))) }
        if let guidedChoice { specs.append(("guided_choice", .choice(guidedChoice))) }
        if let guidedGrammar { specs.append(("guided_grammar", .ebnf(guidedGrammar))) }
        guard let (field, spec) = specs.first else { return nil }
        if specs.count > 1 {
            throw .invalidRequest(
                "only one of \(specs.map(\.field).joined(separator: ", ")) may be given", param: specs[1].field)
        }
        do { _ = try spec.grammar() } catch {
            throw .invalidRequest(error.message, param: field, code: "unsupported_schema")
        }
        return spec
    }

    /// `logit_bias` with its token ids checked against the vocabulary.
    func bias(vocabularySize: Int) throws(APIError) -> [Int: Float] {
        var out: [Int: Float] = [:]
        for (key, value) in logitBias ?? [:] {
            guard let id = Int(key), id >= 0, id < vocabularySize else {
                throw .invalidRequest(
                    "logit_bias keys must be token ids in [0, \(vocabularySize)), got '\(key)'", param: "logit_bias", code: "invalid_value")
            }
            guard value.isFinite, abs(value) <= 100 else {
                throw .invalidRequest("logit_bias values must be in [-100, 100], got \(value)", param: "logit_bias", code: "invalid_value")
            }
            out[id] = Float(value)
        }
        return out
    }
}
