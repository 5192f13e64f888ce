import CoreUtilities

// Parsing of the pipeline components of `tokenizer.json`. Unknown `type`s fail
// loudly rather than being skipped, since skipping would silently change ids.

/// A `tokenizer.json` pipeline component: an object tagged by `type`, or a `Sequence` of
/// components of its kind listed under `sequenceKey`.
protocol PipelineComponent {
    /// The component's kind in errors, e.g. `normalizer`.
    static var kind: String { get }
    /// The member of a `Sequence` that lists its steps, e.g. `normalizers`.
    static var sequenceKey: String { get }
    static func sequence(_ steps: [Self]) -> Self
    /// The component of a `type` other than `Sequence`; nil when Tessera does not implement it.
    init?(type: String, json: JSONValue, at path: String) throws(TokenizerError)
}

extension PipelineComponent {
    init(json: JSONValue, at path: String) throws(TokenizerError) {
        let type = try json.componentType(at: path)
        if type == "Sequence" {
            var steps: [Self] = []
            for (index, element) in try json.requiredArray(Self.sequenceKey, at: path).enumerated() {
                steps.append(try Self(json: element, at: "\(path).\(Self.sequenceKey)[\(index)]"))
            }
            self = .sequence(steps)
        } else if let component = try Self(type: type, json: json, at: path) {
            self = component
        } else {
            throw .unsupportedComponent(kind: Self.kind, type: type)
        }
    }
}

extension Normalizer: PipelineComponent {
    static let kind = "normalizer"
    static let sequenceKey = "normalizers"

    init?(type: String, json: JSONValue, at path: String) throws(TokenizerError) {
        switch type {
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "Prepend":
            self = .prepend(Array(try json.requiredString("prepend", at: path).unicodeScalars))
        case "Replace":
            let content = Array(try json.requiredString("content", at: path).unicodeScalars)
            if json["pattern"]?["Regex"]?.string == #"\s+"# {
                self = .replaceWhitespaceRuns(content: content)
            } else {
                self = .replace(pattern: try literalPattern(json, at: path), content: content)
            }
        case "Strip":
            self = .strip(
                left: try json.optionalBool("strip_left", default: true, at: path),
                right: try json.optionalBool("strip_right", default: true, at: path)
            )
        default: return nil
        }
    }
}

extension PreTokenizer: PipelineComponent {
    static let kind = "pre-tokenizer"
    static let sequenceKey = "pretokenizers"

    init?(type: String, json: JSONValue, at path: String) throws(TokenizerError) {
        switch type {
        case "ByteLevel":
            self = .byteLevel(
                addPrefixSpace: try json.optionalBool("add_prefix_space", default: true, at: path),
                useRegex: try json.optionalBool("use_regex", default: true, at: path)
            )
        case "Split":
            let rawBehavior = try json.requiredString("behavior", at: path)
            guard let behavior = SplitBehavior(rawValue: rawBehavior) else {
                throw .invalidField(path: "\(path).behavior", expected: "a split behavior, not \(rawBehavior)")
            }
            self = .split(
                try splitPattern(json, at: path),
                behavior: behavior,
                invert: try json.optionalBool("invert", default: false, at: path)
            )
        case "Metaspace":
            self = .metaspace(
                replacement: try json.requiredScalar("replacement", at: path),
                prependScheme: try PrependScheme.parse(json, at: path),
                split: try json.optionalBool("split", default: true, at: path)
            )
        case "Whitespace": self = .whitespace
        case "WhitespaceSplit": self = .whitespaceSplit
        case "Digits":
            self = .digits(individual: try json.optionalBool("individual_digits", default: false, at: path))
        default: return nil
        }
    }
}

extension PostProcessor: PipelineComponent {
    static let kind = "post-processor"
    static let sequenceKey = "processors"

    init?(type: String, json: JSONValue, at path: String) throws(TokenizerError) {
        switch type {
        case "TemplateProcessing":
            self = .template(try Self.singleTemplate(json, at: path))
        case "ByteLevel":
            self = .byteLevel
        case "RobertaProcessing", "BertProcessing":
            func special(_ key: String) throws(TokenizerError) -> Int {
                // Serialised as ["<s>", 0]: the token and its id.
                guard let pair = json.optional(key)?.array, pair.count == 2, let id = pair[1].int else {
                    throw .invalidField(path: "\(path).\(key)", expected: "a [token, id] pair")
                }
                return id
            }
            self = .wrap(prefix: try special("cls"), suffix: try special("sep"))
        default: return nil
        }
    }

    /// The `single` template with each `SpecialToken` expanded to the ids listed in `special_tokens`.
    private static func singleTemplate(_ json: JSONValue, at path: String) throws(TokenizerError) -> [Int?] {
        let specials = json.optional("special_tokens")
        var result: [Int?] = []
        for (index, piece) in try json.requiredArray("single", at: path).enumerated() {
            let piecePath = "\(path).single[\(index)]"
            if piece["Sequence"] != nil {
                result.append(nil)
            } else if let special = piece["SpecialToken"] {
                let name = try special.requiredString("id", at: "\(piecePath).SpecialToken")
                guard let entry = specials?[name] else {
                    throw .invalidField(path: "\(path).special_tokens.\(name)", expected: "an entry for template token \(name)")
                }
                for (idIndex, id) in try entry.requiredArray("ids", at: "\(path).special_tokens.\(name)").enumerated() {
                    guard let id = id.int else {
                        throw .invalidField(path: "\(path).special_tokens.\(name).ids[\(idIndex)]", expected: "an integer")
                    }
                    result.append(id)
                }
            } else {
                throw .invalidField(path: piecePath, expected: "a Sequence or SpecialToken piece")
            }
        }
        return result
    }
}

extension TokenDecoder: PipelineComponent {
    static let kind = "decoder"
    static let sequenceKey = "decoders"

    init?(type: String, json: JSONValue, at path: String) throws(TokenizerError) {
        switch type {
        case "ByteLevel": self = .byteLevel
        case "Metaspace":
            self = .metaspace(
                replacement: try json.requiredScalar("replacement", at: path),
                prependScheme: try PrependScheme.parse(json, at: path)
            )
        case "Replace":
            self = .replace(
                pattern: try literalPattern(json, at: path),
                content: Array(try json.requiredString("content", at: path).unicodeScalars)
            )
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            self = .strip(
                content: try json.requiredScalar("content", at: path),
                start: try json.optionalInt("start", default: 0, at: path),
                stop: try json.optionalInt("stop", default: 0, at: path)
            )
        default: return nil
        }
    }
}

/// The `pattern` of a `Split`: `{"String": …}` or `{"Regex": …}`.
private func splitPattern(_ json: JSONValue, at path: String) throws(TokenizerError) -> SplitPattern {
    let pattern = try json.requiredObject("pattern", at: path)
    if let literal = pattern.optional("String")?.string {
        guard !literal.isEmpty else { throw .invalidField(path: "\(path).pattern.String", expected: "a non-empty string") }
        return .literal(Array(literal.unicodeScalars))
    }
    if let regex = pattern.optional("Regex")?.string { return try SplitPattern.regex(regex) }
    throw .invalidField(path: "\(path).pattern", expected: "{\"String\": …} or {\"Regex\": …}")
}

/// The pattern of a `Replace`, which must reduce to a literal.
private func literalPattern(_ json: JSONValue, at path: String) throws(TokenizerError) -> [Unicode.Scalar] {
    guard case .literal(let scalars) = try splitPattern(json, at: path) else {
        throw .unsupportedPattern(json["pattern"]?["Regex"]?.string ?? "?")
    }
    return scalars
}
