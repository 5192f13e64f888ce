import Foundation

/// Typed access to the fields of a `preprocessor_config.json`.
struct ProcessorConfig {
    /// A JSON value, decoded without loss of its kind (booleans stay distinct from numbers).
    enum Value: Decodable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([Value])
        case object([String: Value])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else if let value = try? container.decode([Value].self) { self = .array(value) }
            else { self = .object(try container.decode([String: Value].self)) }
        }
    }

    let fields: [String: Value]

    init(data: Data) throws(ImageProcessorError) {
        do {
            fields = try JSONDecoder().decode([String: Value].self, from: data)
        } catch {
            throw .unreadableConfig("not a JSON object (\(error))")
        }
    }

    /// A present, non-null field.
    func value(_ key: String) -> Value? {
        if case .null = fields[key] ?? .null { return nil }
        return fields[key]
    }

    func string(_ key: String) -> String? {
        if case .string(let text) = value(key) { return text }
        return nil
    }

    func bool(_ key: String, default fallback: Bool) throws(ImageProcessorError) -> Bool {
        guard let value = value(key) else { return fallback }
        guard case .bool(let flag) = value else { throw .invalidConfig("\(key) must be true or false") }
        return flag
    }

    func int(_ key: String) throws(ImageProcessorError) -> Int? {
        guard let value = value(key) else { return nil }
        return try Self.integer(value, name: key)
    }

    func double(_ key: String, default fallback: Double) throws(ImageProcessorError) -> Double {
        guard let value = value(key) else { return fallback }
        guard case .number(let number) = value else { throw .invalidConfig("\(key) must be a number") }
        return number
    }

    /// `image_mean` / `image_std`: three numbers, or one number for every channel.
    func channelValues(_ key: String, default fallback: [Double]) throws(ImageProcessorError) -> [Double] {
        switch value(key) {
        case nil:
            return fallback
        case .number(let number):
            return [number, number, number]
        case .array(let list):
            let numbers = list.compactMap { item -> Double? in
                if case .number(let number) = item { return number }
                return nil
            }
            guard numbers.count == 3, list.count == 3 else { throw .invalidConfig("\(key) must hold 3 numbers") }
            return numbers
        default:
            throw .invalidConfig("\(key) must be a number or a list of 3 numbers")
        }
    }

    func resample(default fallback: ResampleFilter) throws(ImageProcessorError) -> ResampleFilter {
        guard let raw = try int("resample") else { return fallback }
        guard let filter = ResampleFilter(rawValue: raw) else { throw .unsupportedResample(raw) }
        return filter
    }

    /// A size field as transformers' `get_size_dict` reads it: an integer is a square when
    /// `defaultToSquare`, else the shortest edge; a list is `[height, width]`; an object keeps its keys.
    func sizeDictionary(_ key: String, defaultToSquare: Bool) throws(ImageProcessorError) -> [String: Int]? {
        switch value(key) {
        case nil:
            return nil
        case .number?:
            let size = try int(key) ?? 0
            return defaultToSquare ? ["height": size, "width": size] : ["shortest_edge": size]
        case .array(let list)?:
            guard list.count == 2 else { throw .invalidConfig("\(key) list must be [height, width]") }
            return ["height": try Self.integer(list[0], name: key), "width": try Self.integer(list[1], name: key)]
        case .object(let entries)?:
            var sizes: [String: Int] = [:]
            for (name, entry) in entries {
                if case .null = entry { continue }
                sizes[name] = try Self.integer(entry, name: "\(key).\(name)")
            }
            return sizes
        default:
            throw .invalidConfig("\(key) must be an integer, a list or an object")
        }
    }

    private static func integer(_ value: Value, name: String) throws(ImageProcessorError) -> Int {
        guard case .number(let number) = value, let exact = Int(exactly: number), exact >= 0 else {
            throw .invalidConfig("\(name) must be a non-negative integer")
        }
        return exact
    }
}
