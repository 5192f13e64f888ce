import CoreUtilities

/// The tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*`), as plain values.
///
/// `model` is `gpt2` (byte-level BPE with `merges` and a pre-tokenizer named by `pre`) or `llama`
/// (SentencePiece with `scores`); token types follow llama.cpp (1 normal, 2 unknown, 3 control,
/// 4 user-defined, 5 unused, 6 byte).
public struct GGUFVocabulary: Sendable {
    public var model: String
    public var pre: String?
    public var tokens: [String]
    public var scores: [Float]?
    public var tokenTypes: [Int]?
    public var merges: [String]?
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var unknownTokenId: Int?
    public var addBosToken: Bool?
    public var addEosToken: Bool?
    public var addSpacePrefix: Bool?
    public var chatTemplate: String?

    public init(model: String, tokens: [String]) {
        self.model = model
        self.tokens = tokens
    }
}

extension Tokenizer {
    /// Builds the tokenizer a GGUF file describes, the way llama.cpp reads it: `gpt2` files as
    /// byte-level BPE with the pre-tokenizer of their `pre` name, `llama` files as SentencePiece
    /// BPE whose merges follow the piece scores (the highest-scoring pair first), with byte
    /// fallback. Control and user-defined tokens are matched in the raw text before the model.
    ///
    /// ```swift
    /// let tokenizer = try Tokenizer(gguf: vocabulary)   // from ModelLoader.loadTokenizer(at:)
    /// ```
    ///
    /// - Throws: `TokenizerError.unsupportedComponent` for other tokenizer models or pre-tokenizers.
    public convenience init(gguf v: GGUFVocabulary) throws(TokenizerError) {
        let types = v.tokenTypes ?? []
        var added: [JSONValue] = []
        for (id, type) in types.enumerated() where type == 3 || type == 4 {
            added.append(.object([("id", .int(id)), ("content", .string(v.tokens[id])), ("special", .bool(type == 3)),
                                  ("normalized", .bool(false))]))
        }
        let vocab = JSONValue.object(v.tokens.enumerated().map { ($1, .int($0)) })
        var root: [(key: String, value: JSONValue)] = [("added_tokens", .array(added))]
        var addBos = v.addBosToken
        switch v.model {
        case "gpt2":
            let (preTokenizer, ignoreMerges) = try Self.ggufPreTokenizer(v.pre ?? "default")
            root += [
                ("model", .object([("type", .string("BPE")), ("vocab", vocab), ("merges", .array((v.merges ?? []).map(JSONValue.string))),
                                   ("ignore_merges", .bool(ignoreMerges))])),
                ("pre_tokenizer", preTokenizer),
                ("decoder", .object([("type", .string("ByteLevel"))])),
            ]
            if v.pre == "qwen2" { root.append(("normalizer", .object([("type", .string("NFC"))]))) }
            addBos = addBos ?? false
        case "llama":
            guard let scores = v.scores, scores.count == v.tokens.count else {
                throw .invalidField(path: "tokenizer.ggml.scores", expected: "one score per token for a SentencePiece vocabulary")
            }
            let spacePrefix = v.addSpacePrefix ?? true
            var normalizers: [JSONValue] = []
            if spacePrefix { normalizers.append(.object([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))])) }
            normalizers.append(.object([("type", .string("Replace")), ("pattern", .object([("String", .string(" "))])),
                                        ("content", .string("\u{2581}"))]))
            var decoders: [JSONValue] = [
                .object([("type", .string("Replace")), ("pattern", .object([("String", .string("\u{2581}"))])), ("content", .string(" "))]),
                .object([("type", .string("ByteFallback"))]),
                .object([("type", .string("Fuse"))]),
            ]
            if spacePrefix {
                decoders.append(.object([("type", .string("Strip")), ("content", .string(" ")), ("start", .int(1)), ("stop", .int(0))]))
            }
            var model: [(key: String, value: JSONValue)] = [
                ("type", .string("BPE")), ("vocab", vocab),
                ("merges", .array(Self.sentencePieceMerges(tokens: v.tokens, scores: scores, types: types))),
                ("byte_fallback", .bool(true)), ("fuse_unk", .bool(true)),
            ]
            if let unk = v.unknownTokenId, v.tokens.indices.contains(unk) { model.append(("unk_token", .string(v.tokens[unk]))) }
            root += [
                ("model", .object(model)),
                ("normalizer", .object([("type", .string("Sequence")), ("normalizers", .array(normalizers))])),
                ("decoder", .object([("type", .string("Sequence")), ("decoders", .array(decoders))])),
            ]
            addBos = addBos ?? true
        default:
            throw .unsupportedComponent(kind: "GGUF tokenizer model", type: v.model)
        }
        var config = TokenizerConfig()
        let name = { (id: Int?) in id.flatMap { v.tokens.indices.contains($0) ? v.tokens[$0] : nil } }
        config.bosToken = name(v.bosTokenId)
        config.eosToken = name(v.eosTokenId)
        config.addBosToken = addBos
        config.addEosToken = v.addEosToken ?? false
        config.chatTemplate = v.chatTemplate
        try self.init(root: .object(root), config: config)
    }

    /// llama.cpp's pre-tokenizer of each `tokenizer.ggml.pre` name as `tokenizers` components, and
    /// whether whole words found in the vocabulary skip the merges (llama.cpp does for Llama 3).
    private static func ggufPreTokenizer(_ pre: String) throws(TokenizerError) -> (JSONValue, ignoreMerges: Bool) {
        let byteLevel = { (useRegex: Bool) in
            JSONValue.object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(false)),
                              ("use_regex", .bool(useRegex))])
        }
        let split = { (digits: String) in
            JSONValue.object([
                ("type", .string("Split")),
                ("pattern", .object([("Regex", .string(#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"# + digits
                    + #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#))])),
                ("behavior", .string("Isolated")), ("invert", .bool(false)),
            ])
        }
        let sequence = { (parts: [JSONValue]) in JSONValue.object([("type", .string("Sequence")), ("pretokenizers", .array(parts))]) }
        switch pre {
        case "llama-bpe", "llama3", "llama-v3":
            return (sequence([split("{1,3}"), byteLevel(false)]), true)
        case "qwen2", "deepseek-r1-qwen":
            return (sequence([split(""), byteLevel(false)]), false)
        case "smollm", "starcoder", "refact", "codeshell", "command-r":
            let digits = JSONValue.object([("type", .string("Digits")), ("individual_digits", .bool(true))])
            return (sequence([digits, byteLevel(true)]), false)
        case "default", "gpt-2", "gpt2", "phi-2":
            return (byteLevel(true), false)
        default:
            throw .unsupportedComponent(kind: "GGUF pre-tokenizer", type: pre)
        }
    }

    /// Merges that reproduce SentencePiece's BPE from piece scores: every split of a piece into two
    /// pieces of the vocabulary, ordered by the merged piece's score (highest first), as
    /// transformers' GGUF converter does. Control, unused and byte tokens are never merge results.
    static func sentencePieceMerges(tokens: [String], scores: [Float], types: [Int]) -> [JSONValue] {
        var ids: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = id }
        var merges: [(left: Int, right: Int, score: Float)] = []
        for (id, token) in tokens.enumerated() {
            let type = id < types.count ? types[id] : 1
            guard type == 1 || type == 4 else { continue }
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(Int, Int)] = []
            for cut in 1 ..< scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<cut])
                right.append(contentsOf: scalars[cut...])
                if let l = ids[String(left)], let r = ids[String(right)] { local.append((l, r)) }
            }
            local.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            merges += local.map { ($0.0, $0.1, scores[id]) }
        }
        // A stable sort keeps the vocabulary order among equal scores.
        let ordered = merges.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
        return ordered.map { .array([.string(tokens[$0.element.left]), .string(tokens[$0.element.right])]) }
    }
}
