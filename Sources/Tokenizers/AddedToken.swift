import CoreUtilities

/// An entry of `added_tokens`: text matched verbatim in the input and never passed through the model.
struct AddedToken: Sendable {
    let id: Int
    let content: String
    /// Special tokens are dropped by `decode(_:skipSpecialTokens: true)`.
    let special: Bool
    /// Absorb whitespace on the left / right of the match.
    let leftStrip: Bool
    let rightStrip: Bool
    /// Only match when not adjacent to word characters.
    let singleWord: Bool
    /// Match against normalised text (otherwise against the raw input).
    let normalized: Bool

    init(json: JSONValue, at path: String) throws(TokenizerError) {
        id = try json.requiredInt("id", at: path)
        guard id >= 0, id <= Int(Int32.max) else { throw .invalidField(path: "\(path).id", expected: "a non-negative id") }
        content = try json.requiredString("content", at: path)
        special = try json.optionalBool("special", default: false, at: path)
        leftStrip = try json.optionalBool("lstrip", default: false, at: path)
        rightStrip = try json.optionalBool("rstrip", default: false, at: path)
        singleWord = try json.optionalBool("single_word", default: false, at: path)
        normalized = try json.optionalBool("normalized", default: !special, at: path)
    }
}
