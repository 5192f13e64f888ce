import CoreUtilities

extension FuzzTarget {
    /// `JSONParser`, the reader of `tokenizer.json` and chat-template values: any bytes are parsed
    /// or refused with an error, and what parses writes out (`serialized`) as JSON that parses
    /// back to the same text.
    public static let json = FuzzTarget(name: "json") { bytes in
        guard let value = try? JSONParser.parse(bytes) else { return }
        let text = value.serialized
        guard let again = try? JSONParser.parse(Array(text.utf8)) else {
            preconditionFailure("serialized JSON does not parse: \(text.prefix(200))")
        }
        precondition(again.serialized == text, "serialized JSON changes when parsed again: \(text.prefix(200))")
    }
}
