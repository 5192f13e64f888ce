import CoreUtilities
import Foundation

extension TemplateValue {
    /// Parses JSON text, keeping object keys in document order (which `JSONSerialization` would lose).
    ///
    /// Integers without a fraction or exponent become `.int`, like Python's `json.loads`;
    /// integers too large for `Int` become `.double`.
    ///
    /// ```swift
    /// let tools = try TemplateValue(json: #"[{"type": "function", "function": {"name": "f"}}]"#)
    /// ```
    public init(json: String) throws {
        try self.init(jsonData: Data(json.utf8))
    }

    /// Parses UTF-8 JSON bytes; see ``init(json:)``.
    public init(jsonData: Data) throws {
        do {
            self.init(try JSONParser.parse([UInt8](jsonData)))
        } catch {
            throw ChatTemplateError.invalidJSON(message: error.description)
        }
    }

    /// A parsed document as a template value. Like Python's `json.loads`, a repeated key keeps its
    /// first position and takes the last value.
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case let .bool(value): self = .bool(value)
        case let .int(value): self = .int(value)
        case let .double(value): self = .double(value)
        case let .string(value): self = .string(value)
        case let .array(items): self = .array(items.map(TemplateValue.init))
        case let .object(members):
            var pairs: [(String, TemplateValue)] = []
            var position: [String: Int] = [:]
            for (key, value) in members {
                if let existing = position[key] {
                    pairs[existing].1 = TemplateValue(value)
                } else {
                    position[key] = pairs.count
                    pairs.append((key, TemplateValue(value)))
                }
            }
            self = .object(pairs)
        }
    }

    /// Converts the output of `JSONSerialization` (or any tree of `NSNull`, `Bool`, numbers, `String`,
    /// arrays and `[String: Any]`). Swift dictionaries are unordered, so object keys are sorted;
    /// use ``init(jsonData:)`` when the key order matters.
    public init(any value: Any) throws {
        switch value {
        case is NSNull: self = .none
        case let value as TemplateValue: self = value
        case let value as String: self = .string(value)
        case let value as NSNumber:
            // Booleans from JSONSerialization are char-typed NSNumbers on every platform.
            switch String(cString: value.objCType) {
            case "c", "B": self = .bool(value.boolValue)
            case "f", "d": self = .double(value.doubleValue)
            default: self = .int(value.intValue)
            }
        case let value as Bool: self = .bool(value)
        case let value as Int: self = .int(value)
        case let value as Double: self = .double(value)
        case let value as [Any]: self = .array(try value.map { try TemplateValue(any: $0) })
        case let value as [String: Any]:
            self = .object(try value.keys.sorted().map { ($0, try TemplateValue(any: value[$0] as Any)) })
        default:
            throw ChatTemplateError.invalidJSON(message: "unsupported value of type \(type(of: value))")
        }
    }
}
