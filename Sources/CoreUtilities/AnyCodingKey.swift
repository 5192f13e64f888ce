/// A coding key for any member name, to read the keys a type does not declare.
public struct AnyCodingKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

extension Decoder {
    /// Rejects an object with a member outside `known` (the alphabetically first, with `hints[key]`
    /// appended to the message): a misspelt or retired key would otherwise leave its setting
    /// silently at the default.
    ///
    /// ```swift
    /// try decoder.rejectUnknownKeys(["name", "groups"], hints: ["routing": " (now `router`)"])
    /// ```
    public func rejectUnknownKeys(_ known: Set<String>, hints: [String: String] = [:]) throws {
        guard let unknown = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) else {
            return
        }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [AnyCodingKey(stringValue: unknown)],
                                                debugDescription: "unknown key '\(unknown)'\(hints[unknown] ?? "")"))
    }
}
