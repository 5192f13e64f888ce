import CoreUtilities

extension BPEModel {
    /// Builds the model from the `model` object of `tokenizer.json`.
    init(json: JSONValue) throws(TokenizerError) {
        let path = "model"
        // Older files omit `type`; only BPE models carry `merges`.
        let type = try json.optionalString("type", at: path) ?? (json.optional("merges") != nil ? "BPE" : "untyped")
        guard type == "BPE" else { throw .unsupportedComponent(kind: "model", type: type) }
        if let dropout = json.optional("dropout"), dropout.int != 0 {
            throw .unsupportedComponent(kind: "BPE option", type: "dropout")
        }
        guard let entries = json.optional("vocab")?.members else {
            throw .invalidField(path: "\(path).vocab", expected: "an object of token → id")
        }
        var vocabulary: [[UInt8]: Int] = [:]
        var tokens: [Int: String] = [:]
        var characterIds: [Unicode.Scalar: Int] = [:]
        vocabulary.reserveCapacity(entries.count)
        tokens.reserveCapacity(entries.count)
        for (token, value) in entries {
            guard let id = value.int, id >= 0, id <= Int(Int32.max) else {
                throw .invalidField(path: "\(path).vocab[\(token)]", expected: "a non-negative integer id")
            }
            vocabulary[Array(token.utf8)] = id
            tokens[id] = token
            var scalars = token.unicodeScalars.makeIterator()
            if let scalar = scalars.next(), scalars.next() == nil { characterIds[scalar] = id }
        }

        let prefix = try json.optionalString("continuing_subword_prefix", at: path).map { Array($0.utf8) }
        let suffix = try json.optionalString("end_of_word_suffix", at: path).map { Array($0.utf8) }
        let merges = try Self.parseMerges(json, vocabulary: vocabulary, prefixLength: prefix?.count ?? 0)

        var unknownId: Int? = nil
        if let unknown = try json.optionalString("unk_token", at: path) {
            // `tokenizers` only fails when an unknown character actually needs it; a
            // missing token simply means unknown characters are dropped.
            unknownId = vocabulary[Array(unknown.utf8)]
        }
        var byteFallbackIds: [Int?]? = nil
        if try json.optionalBool("byte_fallback", default: false, at: path) {
            byteFallbackIds = (0..<256).map { byte in
                let hex = String(byte, radix: 16, uppercase: true)
                return vocabulary[Array("<0x\(hex.count == 1 ? "0" + hex : hex)>".utf8)]
            }
        }
        self.init(
            vocabulary: vocabulary,
            tokens: tokens,
            merges: merges,
            characterIds: characterIds,
            unknownId: unknownId,
            fuseUnknown: try json.optionalBool("fuse_unk", default: false, at: path),
            byteFallbackIds: byteFallbackIds,
            ignoreMerges: try json.optionalBool("ignore_merges", default: false, at: path),
            continuingSubwordPrefix: prefix,
            endOfWordSuffix: suffix
        )
    }

    /// Reads merges in either form: legacy `"a b"` strings or `["a", "b"]` pairs.
    /// A later duplicate of a pair overrides the earlier one, as in `tokenizers`.
    private static func parseMerges(
        _ json: JSONValue, vocabulary: [[UInt8]: Int], prefixLength: Int
    ) throws(TokenizerError) -> [UInt64: Merge] {
        let entries = json.optional("merges")?.array ?? []
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(entries.count)
        for (rank, entry) in entries.enumerated() {
            let left: String
            let right: String
            if let line = entry.string {
                let parts = line.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw .invalidField(path: "model.merges[\(rank)]", expected: "\"left right\" with exactly one space")
                }
                left = String(decoding: parts[0], as: UTF8.self)
                right = String(decoding: parts[1], as: UTF8.self)
            } else if let pair = entry.array, pair.count == 2, let first = pair[0].string, let second = pair[1].string {
                left = first
                right = second
            } else {
                throw .invalidField(path: "model.merges[\(rank)]", expected: "a \"left right\" string or a [left, right] pair")
            }
            let leftBytes = Array(left.utf8)
            let rightBytes = Array(right.utf8)
            guard let leftId = vocabulary[leftBytes] else { throw .tokenNotInVocabulary(left, context: "model.merges") }
            guard let rightId = vocabulary[rightBytes] else { throw .tokenNotInVocabulary(right, context: "model.merges") }
            let mergedBytes = leftBytes + rightBytes.dropFirst(prefixLength)
            guard let mergedId = vocabulary[mergedBytes] else {
                throw .tokenNotInVocabulary(String(decoding: mergedBytes, as: UTF8.self), context: "model.merges")
            }
            merges[pairKey(leftId, rightId)] = Merge(rank: Int32(rank), id: Int32(truncatingIfNeeded: mergedId))
        }
        return merges
    }
}
