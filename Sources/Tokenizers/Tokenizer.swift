import CoreUtilities
import Foundation

/// A Hugging Face `tokenizer.json` tokenizer: byte-pair encoding with its normaliser,
/// pre-tokeniser, added tokens, post-processor and decoder, producing the same ids
/// and text as the `tokenizers` library.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(directory: modelDirectory)
/// let ids = tokenizer.encode("Hello world")          // with BOS etc. if the template adds them
/// let text = tokenizer.decode(ids, skipSpecialTokens: true)
/// ```
///
/// Instances are immutable apart from an internal, locked word cache, and safe to share across tasks.
public final class Tokenizer: Sendable {
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    /// Set when `preTokenizer` is a plain scanner + byte-level pipeline, enabling the fast path.
    let byteLevelWordScanner: PatternScanner?
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    /// Added tokens by id.
    let addedTokens: [Int: AddedToken]
    /// Added token text (UTF-8) → id.
    let addedTokenIds: [[UInt8]: Int]
    /// Added tokens matched in the raw input, before normalisation.
    let rawMatcher: AddedTokenMatcher
    /// Added tokens matched in normalised text.
    let normalizedMatcher: AddedTokenMatcher
    /// Ids added around the sequence when there is no post-processor (from `add_bos_token`/`add_eos_token`).
    let fallbackPrefix: [Int]
    let fallbackSuffix: [Int]

    /// Highest id + 1, counting model and added tokens.
    public let vocabularySize: Int
    /// The id of the config's `bos_token`, if any.
    public let bosTokenId: Int?
    /// The id of the config's `eos_token`, if any.
    public let eosTokenId: Int?
    /// Ids of added tokens flagged `special`; `decode(_:skipSpecialTokens: true)` drops these.
    public let specialTokenIds: Set<Int>
    /// The Jinja chat template (`chat_template.jinja`, `chat_template.json` or `tokenizer_config.json`).
    public let chatTemplate: String?
    /// UTF-8 length of the longest token text (model and added tokens, at least 4): about the most
    /// input one token covers, so a server can refuse a text far too long for its context by its
    /// size, before tokenizing it.
    public let maxTokenUTF8Length: Int

    /// Assembles the pipeline from a parsed `tokenizer.json` and config.
    init(root: JSONValue, config: TokenizerConfig) throws(TokenizerError) {
        let model = try BPEModel(json: root.requiredObject("model", at: "tokenizer"))
        let normalizer = try root.optional("normalizer").map { json throws(TokenizerError) in
            try Normalizer(json: json, at: "normalizer")
        }

        var addedTokens: [AddedToken] = []
        for (index, entry) in (root.optional("added_tokens")?.array ?? []).enumerated() {
            addedTokens.append(try AddedToken(json: entry, at: "added_tokens[\(index)]"))
        }
        let raw = addedTokens.filter { !$0.normalized }
        let normalized = addedTokens.filter(\.normalized)
        let normalizedPatterns = normalized.map { token in
            let scalars = Array(token.content.unicodeScalars)
            return normalizer?.apply(scalars) ?? scalars
        }

        var addedById: [Int: AddedToken] = [:]
        var addedIds: [[UInt8]: Int] = [:]
        for token in addedTokens {
            addedById[token.id] = token
            addedIds[Array(token.content.utf8)] = token.id
        }
        let tokenId = { (text: String) -> Int? in
            let bytes = Array(text.utf8)
            return addedIds[bytes] ?? model.vocabulary[bytes]
        }

        let postProcessor = try root.optional("post_processor").map { json throws(TokenizerError) in
            try PostProcessor(json: json, at: "post_processor")
        }
        let bosId = config.bosToken.flatMap(tokenId)
        let eosId = config.eosToken.flatMap(tokenId)
        var prefix: [Int] = []
        var suffix: [Int] = []
        if postProcessor == nil {
            if config.addBosToken == true {
                guard let bosId else { throw .tokenNotInVocabulary(config.bosToken ?? "bos_token", context: "add_bos_token") }
                prefix = [bosId]
            }
            if config.addEosToken == true {
                guard let eosId else { throw .tokenNotInVocabulary(config.eosToken ?? "eos_token", context: "add_eos_token") }
                suffix = [eosId]
            }
        }

        self.model = model
        self.normalizer = normalizer
        let preTokenizer = try root.optional("pre_tokenizer").map { json throws(TokenizerError) in
            try PreTokenizer(json: json, at: "pre_tokenizer")
        }
        self.preTokenizer = preTokenizer
        self.byteLevelWordScanner = preTokenizer?.byteLevelWordScanner
        self.postProcessor = postProcessor
        self.decoder = try root.optional("decoder").map { json throws(TokenizerError) in
            try TokenDecoder(json: json, at: "decoder")
        }
        self.addedTokens = addedById
        self.addedTokenIds = addedIds
        self.rawMatcher = AddedTokenMatcher(tokens: raw, patterns: raw.map { Array($0.content.unicodeScalars) })
        self.normalizedMatcher = AddedTokenMatcher(tokens: normalized, patterns: normalizedPatterns)
        self.fallbackPrefix = prefix
        self.fallbackSuffix = suffix
        self.vocabularySize = max(model.tokens.keys.max() ?? -1, addedById.keys.max() ?? -1) + 1
        self.bosTokenId = bosId
        self.eosTokenId = eosId
        self.specialTokenIds = Set(addedTokens.filter(\.special).map(\.id))
        self.chatTemplate = config.chatTemplate
        self.maxTokenUTF8Length = max(
            4, model.tokens.values.lazy.map(\.utf8.count).max() ?? 0, addedTokens.lazy.map(\.content.utf8.count).max() ?? 0)
    }

    /// The id of `token` (added tokens first, then the model vocabulary), or `nil`.
    public func id(forToken token: String) -> Int? {
        let bytes = Array(token.utf8)
        return addedTokenIds[bytes] ?? model.vocabulary[bytes]
    }

    /// The text of token `id` as stored in the vocabulary (e.g. `Ġworld` for byte-level BPE), or `nil`.
    public func token(forId id: Int) -> String? {
        addedTokens[id]?.content ?? model.tokens[id]
    }

    /// Encodes `text` to token ids.
    ///
    /// Added tokens are split out first and never reach the model; `addSpecialTokens`
    /// applies the post-processor (e.g. a BOS token from `TemplateProcessing`). With
    /// `matchAddedTokens` false, added-token text is ordinary text (`"<image>"` becomes `<`,
    /// `image`, `>`), as with the `tokenizers` library's `split_special_tokens=True`.
    public func encode(_ text: String, addSpecialTokens: Bool = true, matchAddedTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3)
        let input = TextPiece(scalars: Array(text.unicodeScalars), startsInput: true)
        let segments = matchAddedTokens ? rawMatcher.split(input) : [.text(input)]
        for segment in segments {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(var piece):
                if let normalizer { piece.scalars = normalizer.apply(piece.scalars) }
                for inner in matchAddedTokens ? normalizedMatcher.split(piece) : [.text(piece)] {
                    switch inner {
                    case .token(let id):
                        ids.append(id)
                    case .text(let piece):
                        appendModelIds(for: piece, to: &ids)
                    }
                }
            }
        }
        guard addSpecialTokens else { return ids }
        if let postProcessor { return postProcessor.process(ids) }
        return fallbackPrefix + ids + fallbackSuffix
    }

    /// Pre-tokenises `piece` and appends the model's ids for each word.
    private func appendModelIds(for piece: TextPiece, to ids: inout [Int]) {
        guard let scanner = byteLevelWordScanner else {
            for word in preTokenizer?.apply([piece]) ?? [piece] {
                ids.append(contentsOf: model.tokenize(word.scalars))
            }
            return
        }
        // Same result as `preTokenizer.apply`, reusing one word buffer instead of allocating per word.
        var word: [Unicode.Scalar] = []
        for range in scanner.matches(in: piece.scalars, range: 0..<piece.scalars.count) {
            word.removeAll(keepingCapacity: true)
            ByteLevelAlphabet.append(piece.scalars[range], to: &word)
            ids.append(contentsOf: model.tokenize(word))
        }
    }

    /// Decodes ids to text. Unknown ids are skipped; `skipSpecialTokens` also drops special added tokens.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [[Unicode.Scalar]] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let added = addedTokens[id] {
                if skipSpecialTokens, added.special { continue }
                tokens.append(Array(added.content.unicodeScalars))
            } else if let token = model.tokens[id] {
                tokens.append(Array(token.unicodeScalars))
            }
        }
        guard let decoder else {
            return tokens.map(\.string).joined(separator: " ")
        }
        return decoder.decodeChain(tokens).joined().string
    }
}
