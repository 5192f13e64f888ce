import CoreUtilities
import Foundation

/// CLIP's byte-level BPE tokenizer as `transformers`' `CLIPTokenizer` builds it, from either form a
/// model folder ships: `tokenizer.json`, or `vocab.json` + `merges.txt` alone (Stable Diffusion
/// repositories). NFC, whitespace runs collapsed to one space, lower-casing; CLIP's split pattern
/// (letter runs, single digits, other runs; whitespace dropped); BPE with `</w>` ending each word;
/// `<|startoftext|>` … `<|endoftext|>` around the ids; padding to `model_max_length` with the config's
/// `pad_token` (`<|endoftext|>` in SD 1.x, `!` in SD 2.x and SDXL's second tokenizer).
///
/// ```swift
/// let tokenizer = try CLIPTokenizer.load(directory: folder.appendingPathComponent("tokenizer"))
/// let ids = tokenizer.encodePadded("a photograph of an astronaut")   // 77 ids
/// ```
public struct CLIPTokenizer: Sendable {
    /// The underlying tokenizer (`encode` adds BOS and EOS, no padding).
    public let tokenizer: Tokenizer
    /// Sequence length of the text encoder (`model_max_length`, 77 for CLIP).
    public let maxLength: Int
    public let padTokenId: Int
    public let bosTokenId: Int
    public let eosTokenId: Int

    /// `<|startoftext|>`, `<|endoftext|>` and their defaults when the config omits them.
    static let defaultBos = "<|startoftext|>"
    static let defaultEos = "<|endoftext|>"

    /// Loads `tokenizer.json` when present, otherwise `vocab.json` + `merges.txt`, with
    /// `tokenizer_config.json` (and `special_tokens_map.json`) for the special tokens and length.
    public static func load(directory: URL) throws(TokenizerError) -> CLIPTokenizer {
        var config = TokenizerConfig()
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: configURL.path) {
            config = try TokenizerConfig(json: try parse(configURL))
        }
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if FileManager.default.fileExists(atPath: mapURL.path) {
            let map = try parse(mapURL)
            if config.bosToken == nil { config.bosToken = try TokenizerConfig.tokenContent(map, key: "bos_token") }
            if config.eosToken == nil { config.eosToken = try TokenizerConfig.tokenContent(map, key: "eos_token") }
            if config.padToken == nil { config.padToken = try TokenizerConfig.tokenContent(map, key: "pad_token") }
            if config.unknownToken == nil { config.unknownToken = try TokenizerConfig.tokenContent(map, key: "unk_token") }
        }
        let bos = config.bosToken ?? defaultBos
        let eos = config.eosToken ?? defaultEos
        config.bosToken = bos
        config.eosToken = eos
        let pad = config.padToken ?? eos
        let unknown = config.unknownToken ?? eos

        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        var root: JSONValue
        if FileManager.default.fileExists(atPath: jsonURL.path) {
            root = try parse(jsonURL)
        } else {
            root = try pipeline(directory: directory, bos: bos, eos: eos, unknown: unknown)
        }
        // As transformers does on loading: the named special tokens become special added tokens.
        root = try withSpecialTokens(root, [bos, eos, unknown, pad])
        let tokenizer = try Tokenizer(root: root, config: config)
        func id(_ token: String, _ role: String) throws(TokenizerError) -> Int {
            guard let id = tokenizer.id(forToken: token) else { throw .tokenNotInVocabulary(token, context: role) }
            return id
        }
        return CLIPTokenizer(tokenizer: tokenizer, maxLength: config.modelMaxLength ?? 77,
                             padTokenId: try id(pad, "pad_token"), bosTokenId: try id(bos, "bos_token"),
                             eosTokenId: try id(eos, "eos_token"))
    }

    /// Ids with BOS and EOS, truncated to `maxLength` (the EOS kept) and padded to it, as the
    /// pipelines call the tokenizer (`padding="max_length", truncation=True`).
    public func encodePadded(_ text: String) -> [Int] {
        var ids = tokenizer.encode(text)
        if ids.count > maxLength {
            ids = Array(ids.prefix(maxLength - 1)) + [eosTokenId]
        }
        return ids + Array(repeating: padTokenId, count: maxLength - ids.count)
    }

    /// The `tokenizer.json` equivalent of `CLIPTokenizer(vocab, merges)` in transformers 5.
    private static func pipeline(directory: URL, bos: String, eos: String, unknown: String) throws(TokenizerError) -> JSONValue {
        let vocab = try parse(directory.appendingPathComponent("vocab.json"))
        guard vocab.members != nil else { throw .invalidField(path: "vocab.json", expected: "an object of token → id") }
        let mergesURL = directory.appendingPathComponent("merges.txt")
        let mergesText = try read(mergesURL)
        guard let text = String(validating: mergesText, as: UTF8.self) else {
            throw .unreadableFile(mergesURL, underlying: "not valid UTF-8")
        }
        // The first line is a `#version` header; blank lines are skipped.
        let merges = text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
            .filter { !$0.isEmpty && !$0.hasPrefix("#version") }
            .map { JSONValue.string(String($0)) }
        func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(members.map { (key: $0.0, value: $0.1) }) }
        let vocabulary = vocab.members!
        func special(_ token: String) throws(TokenizerError) -> JSONValue {
            guard let id = vocabulary.first(where: { $0.key.utf8.elementsEqual(token.utf8) })?.value else {
                throw .tokenNotInVocabulary(token, context: "vocab.json")
            }
            return .array([.string(token), id])
        }
        return object([
            ("model", object([
                ("type", .string("BPE")), ("vocab", vocab), ("merges", .array(merges)), ("unk_token", .string(unknown)),
                ("continuing_subword_prefix", .string("")), ("end_of_word_suffix", .string("</w>")), ("fuse_unk", .bool(false)),
            ])),
            ("normalizer", object([("type", .string("Sequence")), ("normalizers", .array([
                object([("type", .string("NFC"))]),
                object([("type", .string("Replace")), ("pattern", object([("Regex", .string(#"\s+"#))])), ("content", .string(" "))]),
                object([("type", .string("Lowercase"))]),
            ]))])),
            ("pre_tokenizer", object([("type", .string("Sequence")), ("pretokenizers", .array([
                object([("type", .string("Split")), ("pattern", object([("Regex", .string(SplitPattern.clipRegex))])),
                        ("behavior", .string("Removed")), ("invert", .bool(true))]),
                object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("use_regex", .bool(true))]),
            ]))])),
            ("post_processor", object([("type", .string("RobertaProcessing")), ("sep", try special(eos)), ("cls", try special(bos))])),
            ("decoder", object([("type", .string("ByteLevel"))])),
        ])
    }

    /// `root` with each of `tokens` that is in the vocabulary but not yet an added token appended to
    /// `added_tokens` as a special, unnormalised token.
    private static func withSpecialTokens(_ root: JSONValue, _ tokens: [String]) throws(TokenizerError) -> JSONValue {
        guard case .object(var members) = root else { throw .invalidField(path: "tokenizer.json", expected: "a JSON object") }
        var added = root["added_tokens"]?.array ?? []
        let vocabulary = root["model"]?["vocab"]?.members ?? []
        for token in tokens where !added.contains(where: { $0["content"]?.string == token }) {
            guard let id = vocabulary.first(where: { $0.key.utf8.elementsEqual(token.utf8) })?.value else {
                throw .tokenNotInVocabulary(token, context: "tokenizer_config.json special tokens")
            }
            added.append(.object([(key: "id", value: id), (key: "content", value: .string(token)),
                                  (key: "special", value: .bool(true)), (key: "normalized", value: .bool(false))]))
        }
        members.removeAll { $0.key == "added_tokens" }
        members.append((key: "added_tokens", value: .array(added)))
        return .object(members)
    }

    private static func read(_ url: URL) throws(TokenizerError) -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .fileNotFound(url) }
        do { return try Data(contentsOf: url) } catch { throw .unreadableFile(url, underlying: error.localizedDescription) }
    }

    private static func parse(_ url: URL) throws(TokenizerError) -> JSONValue {
        let bytes = [UInt8](try read(url))
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw .malformedJSON(file: url.lastPathComponent, offset: error.offset, message: error.message)
        }
    }
}
