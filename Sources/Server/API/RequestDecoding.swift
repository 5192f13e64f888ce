import Foundation

/// A request body whose integer fields are named, so that a number there which is not a 64-bit
/// integer (`1.5`, `1e30`, `2^64`) gets a 400 naming the field: Foundation's decoder reports those
/// as the whole body being invalid.
protocol IntegerFields: Decodable {
    /// Top-level keys holding an integer or (nested) arrays of integers.
    static var integerFields: [String] { get }
}

/// A completion request body (`/v1/chat/completions`, `/v1/completions`): its own members, named by
/// `CodingKeys`, beside the sampling and structured-output members they share at the top level.
protocol CompletionBody: IntegerFields {
    associatedtype CodingKeys: CodingKey & CaseIterable

    var model: String { get }
    /// `response_format`, `logit_bias` and vLLM's `guided_*` fields.
    var structured: StructuredOutputFields { get }
    /// The request's settings before its structured-output fields are applied.
    func settings() throws(APIError) -> GenerationSettings
}

extension CompletionBody {
    /// Every top-level member the endpoint reads.
    static var fields: Set<String> {
        Set(CodingKeys.allCases.map(\.stringValue)).union(SamplingFields.names).union(StructuredOutputFields.names)
    }
}

/// Decodes a JSON body into a request type, turning decoder failures into 400s that name the field.
enum RequestDecoding {
    /// Accepted by every endpoint for compatibility with OpenAI clients, with no effect: Tessera
    /// keeps no per-user data (`user`), stores nothing (`store`) and has no use for `metadata`.
    static let compatibilityFields: Set<String> = ["user", "metadata", "store"]

    /// Decodes `data`; with `fields`, a top-level member outside them (and outside
    /// `compatibilityFields`) is a 400 that names it, so that no field is silently ignored.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, fields: Set<String>? = nil) throws(APIError) -> T {
        if let fields, let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            let unknown = object.keys.filter { !fields.contains($0) && !compatibilityFields.contains($0) }.sorted()
            if let first = unknown.first {
                throw .invalidRequest(
                    "unsupported parameter\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")): "
                        + "Tessera does not implement \(unknown.count > 1 ? "them" : "it")",
                    param: first, code: "unsupported_parameter")
            }
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            // Foundation reports such a number as the body (or the enclosing field) being corrupt.
            if case .dataCorrupted = error, let integers = (T.self as? any IntegerFields.Type)?.integerFields,
               let field = nonInteger(in: data, fields: integers) {
                throw field
            }
            throw apiError(error)
        } catch {
            throw .invalidRequest("cannot read the request: \(error)")
        }
    }

    /// The first named integer field (or element of one) holding a number that is not an `Int`.
    static func nonInteger(in data: Data, fields: [String]) -> APIError? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return beyondDoubles(in: data, fields: fields) }
        func check(_ value: Any, _ path: String) -> APIError? {
            if let array = value as? [Any] {
                for (i, element) in array.enumerated() {
                    if let error = check(element, "\(path)[\(i)]") { return error }
                }
                return nil
            }
            guard !(value is Bool), let number = value as? NSNumber else { return nil }
            // Out-of-range integers come back as decimals or unsigned; fractions as doubles.
            if !(number is NSDecimalNumber), Int(exactly: number.doubleValue) != nil { return nil }
            let double = number.doubleValue
            let shown = String(number.stringValue.prefix(40))
            if double.rounded() == double {
                return .invalidRequest(
                    "invalid value for '\(path)': expected an integer between \(Int.min) and \(Int.max), got \(shown)",
                    param: path, code: "invalid_value")
            }
            return .invalidRequest("invalid type for '\(path)': expected an integer, got \(shown)", param: path, code: "invalid_type")
        }
        for field in fields {
            if let value = object[field], let error = check(value, field) { return error }
        }
        return nil
    }

    /// Foundation's JSON reader refuses a whole body holding a number beyond Double's range
    /// (`1e309`); such a number in a named integer field is named instead.
    private static func beyondDoubles(in data: Data, fields: [String]) -> APIError? {
        let text = String(decoding: data, as: UTF8.self)
        for field in fields {
            guard let pattern = try? Regex(#""\#(field)"\s*:\s*[\[\s]*(-?[0-9][0-9.eE+-]*)"#),
                  let match = text.firstMatch(of: pattern), let number = match.output[1].substring,
                  Double(number).map({ !$0.isFinite }) ?? false else { continue }
            return .invalidRequest(
                "invalid value for '\(field)': expected an integer between \(Int.min) and \(Int.max), got \(number.prefix(40))",
                param: field, code: "invalid_value")
        }
        return nil
    }

    private static func apiError(_ error: DecodingError) -> APIError {
        // A failure at the top level (no coding path) means the body itself is not a JSON object;
        // the request types' own checks always fail at a field.
        switch error {
        case let .typeMismatch(_, context) where context.codingPath.isEmpty,
             let .valueNotFound(_, context) where context.codingPath.isEmpty,
             let .dataCorrupted(context) where context.codingPath.isEmpty:
            return .invalidRequest("the request body is not a valid JSON object", code: "invalid_json")
        default: break
        }
        switch error {
        case let .keyNotFound(key, context):
            let param = path(context.codingPath + [key])
            return .invalidRequest("missing required parameter '\(param)'", param: param, code: "missing_required_parameter")
        case let .typeMismatch(type, context):
            let param = path(context.codingPath)
            return .invalidRequest("invalid type for '\(param)': expected \(describe(type))", param: param, code: "invalid_type")
        case let .valueNotFound(type, context):
            let param = path(context.codingPath)
            return .invalidRequest("'\(param)' must not be null (expected \(describe(type)))", param: param, code: "invalid_type")
        case let .dataCorrupted(context):
            let param = path(context.codingPath)
            return .invalidRequest("invalid value for '\(param)': \(context.debugDescription)", param: param, code: "invalid_value")
        @unknown default:
            return .invalidRequest("cannot read the request: \(error)")
        }
    }

    /// `messages[0].content[1].image_url`, as OpenAI names parameters.
    private static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return out
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)".lowercased()
        }
    }
}
