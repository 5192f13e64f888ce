extension Tokenizer {
    /// The bytes token `id` adds to the decoded text when it follows other tokens (a SentencePiece
    /// `▁` is a space, `<0x0A>` is byte 0x0A, a byte-level `Ġ` is a space); nil for special
    /// tokens and unknown ids. Constrained decoding matches these bytes against a grammar.
    public func tokenBytes(forId id: Int) -> [UInt8]? {
        if let added = addedTokens[id] {
            return added.special ? nil : Array(added.content.utf8)
        }
        guard let piece = model.tokens[id] else { return nil }
        let scalars = Array(piece.unicodeScalars)
        guard let decoder else { return Array(piece.utf8) }
        return decoder.tokenBytes(scalars)
    }

    /// `tokenBytes(forId:)` for every id below `vocabularySize`.
    public func allTokenBytes() -> [[UInt8]?] {
        (0 ..< vocabularySize).map { tokenBytes(forId: $0) }
    }
}

extension TokenDecoder {
    /// One token's bytes in the middle of a text: the stages that map characters, without the
    /// ones that only trim the start of the whole text.
    func tokenBytes(_ token: [Unicode.Scalar]) -> [UInt8] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for scalar in token {
                guard let b = ByteLevelAlphabet.byte(for: scalar) else { return token.utf8Bytes }
                bytes.append(b)
            }
            return bytes
        case .byteFallback:
            return Self.fallbackByte(token).map { [$0] } ?? token.utf8Bytes
        case .sequence(let steps):
            if steps.contains(where: { if case .byteLevel = $0 { true } else { false } }) {
                return TokenDecoder.byteLevel.tokenBytes(token)
            }
            if usesByteFallback, let b = Self.fallbackByte(token) { return [b] }
            var scalars = token
            for step in steps {
                switch step {
                case .replace, .metaspace: scalars = step.mapped(scalars)
                default: break
                }
            }
            return scalars.utf8Bytes
        case .replace, .metaspace:
            return mapped(token).utf8Bytes
        case .fuse, .strip:
            return token.utf8Bytes
        }
    }

    /// A character-mapping stage applied to a token that is not the first.
    private func mapped(_ token: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case let .metaspace(replacement, _): token.map { $0 == replacement ? " " : $0 }
        case .replace: decodeChain([token]).first ?? token
        default: token
        }
    }
}
