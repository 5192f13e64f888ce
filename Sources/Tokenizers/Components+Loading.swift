import CoreUtilities

// Parsing of the pipeline components of `tokenizer.json`. Unknown `type`s fail
// loudly rather than being skipped, since skipping would silently change ids.

extension Normalizer {
    init(json: JSONValue, at path: String) throws(TokenizerError) {
        let type = try json.componentType(at: path)
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
        case "Sequence":
            self = .sequence(try componentList(json, key: "normalizers", at: path, Normalizer.init))
        default:
            throw .unsupportedComponent(kind: "normalizer", type: type)
        }
    }
}

extension PreTokenizer {
    init(json: JSONValue, at path: String) throws(TokenizerError) {
        let type = try json.componentType(at: path)
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
        case "Sequence":
            self = .sequence(try componentList(json, key: "pretokenizers", at: path, PreTokenizer.init))
        default:
            throw .unsupportedComponent(kind: "pre-tokenizer", type: type)
        }
    }
}

extension PostProcessor {
    init(json: JSONValue, at path: String) throws(TokenizerError) {
        let type = try json.componentType(at: path)
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
        case "Sequence":
            let steps = try json.requiredArray("processors", at: path)
            var processors: [PostProcessor] = []
            for (index, step) in steps.enumerated() {
                processors.append(try PostProcessor(json: step, at: "\(path).processors[\(index)]"))
            }
            self = .sequence(processors)
        default:
            throw .unsupportedComponent(kind: "post-processor", type: type)
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

extension TokenDecoder {
    init(json: JSONValue, at path: String) throws(TokenizerError) {
        let type = try json.componentType(at: path)
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
        case "Sequence":
            self = .sequence(try componentList(json, key: "decoders", at: path, TokenDecoder.init))
        default:
            throw .unsupportedComponent(kind: "decoder", type: type)
        }
    }
}

/// Parses `json[key]` as a list of components.
private func componentList<Component>(
    _ json: JSONValue, key: String, at path: String,
    _ parse: (JSONValue, String) throws(TokenizerError) -> Component
) throws(TokenizerError) -> [Component] {
    var result: [Component] = []
    for (index, element) in try json.requiredArray(key, at: path).enumerated() {
        result.append(try parse(element, "\(path).\(key)[\(index)]"))
    }
    return result
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
