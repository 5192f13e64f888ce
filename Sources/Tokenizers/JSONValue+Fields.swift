import CoreUtilities

/// Typed field access that turns a missing or mistyped field into a `TokenizerError`
/// naming the field's path, e.g. `pre_tokenizer.pretokenizers[1].behavior`.
extension JSONValue {
    /// The member `key`, treating JSON `null` as absent.
    func optional(_ key: String) -> JSONValue? {
        guard let value = self[key], !value.isNull else { return nil }
        return value
    }

    func requiredString(_ key: String, at path: String) throws(TokenizerError) -> String {
        guard let value = optional(key)?.string else { throw .invalidField(path: "\(path).\(key)", expected: "a string") }
        return value
    }

    func optionalString(_ key: String, at path: String) throws(TokenizerError) -> String? {
        guard let value = optional(key) else { return nil }
        guard let string = value.string else { throw .invalidField(path: "\(path).\(key)", expected: "a string") }
        return string
    }

    func optionalBool(_ key: String, default defaultValue: Bool, at path: String) throws(TokenizerError) -> Bool {
        guard let value = optional(key) else { return defaultValue }
        guard let bool = value.bool else { throw .invalidField(path: "\(path).\(key)", expected: "a boolean") }
        return bool
    }

    func requiredInt(_ key: String, at path: String) throws(TokenizerError) -> Int {
        guard let value = optional(key)?.int else { throw .invalidField(path: "\(path).\(key)", expected: "an integer") }
        return value
    }

    func optionalInt(_ key: String, default defaultValue: Int, at path: String) throws(TokenizerError) -> Int {
        guard let value = optional(key) else { return defaultValue }
        guard let int = value.int else { throw .invalidField(path: "\(path).\(key)", expected: "an integer") }
        return int
    }

    func requiredArray(_ key: String, at path: String) throws(TokenizerError) -> [JSONValue] {
        guard let value = optional(key)?.array else { throw .invalidField(path: "\(path).\(key)", expected: "an array") }
        return value
    }

    func requiredObject(_ key: String, at path: String) throws(TokenizerError) -> JSONValue {
        guard let value = optional(key), value.members != nil else {
            throw .invalidField(path: "\(path).\(key)", expected: "an object")
        }
        return value
    }

    /// The component's `type` discriminator.
    func componentType(at path: String) throws(TokenizerError) -> String {
        try requiredString("type", at: path)
    }

    /// A string field holding exactly one Unicode scalar (a Rust `char`).
    func requiredScalar(_ key: String, at path: String) throws(TokenizerError) -> Unicode.Scalar {
        let string = try requiredString(key, at: path)
        var scalars = string.unicodeScalars.makeIterator()
        guard let scalar = scalars.next(), scalars.next() == nil else {
            throw .invalidField(path: "\(path).\(key)", expected: "a single character")
        }
        return scalar
    }
}
