/// Turns token strings back into text (`decoder`), stage by stage like `tokenizers`' `decode_chain`.
indirect enum TokenDecoder: Sendable {
    /// Alphabet characters → bytes → UTF-8 (invalid sequences become U+FFFD); yields one string.
    case byteLevel
    /// `replacement` → space, dropping the first token's leading space unless the scheme is `never`.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    /// Runs of `<0xNN>` tokens → UTF-8, or one U+FFFD per byte if invalid.
    case byteFallback
    /// Joins everything into one string.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case sequence([TokenDecoder])

    func decodeChain(_ tokens: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                let start = bytes.count
                for scalar in token {
                    guard let byte = ByteLevelAlphabet.byte(for: scalar) else {
                        // A token outside the alphabet (e.g. an added token) is kept as its own UTF-8.
                        bytes.removeSubrange(start...)
                        bytes.append(contentsOf: token.utf8Bytes)
                        break
                    }
                    bytes.append(byte)
                }
            }
            return [Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)]
        case .metaspace(let replacement, let prependScheme):
            return tokens.enumerated().map { index, token in
                var text = token.map { $0 == replacement ? " " : $0 }
                if index == 0, prependScheme != .never, text.first == " " { text.removeFirst() }
                return text
            }
        case .replace(let pattern, let content):
            return tokens.map { Normalizer.replace(pattern: pattern, content: content).apply($0) }
        case .byteFallback:
            var result: [[Unicode.Scalar]] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = String(validating: pending, as: UTF8.self) {
                    result.append(Array(text.unicodeScalars))
                } else {
                    result.append(contentsOf: repeatElement(["\u{FFFD}"], count: pending.count))
                }
                pending.removeAll()
            }
            for token in tokens {
                if let byte = Self.fallbackByte(token) {
                    pending.append(byte)
                } else {
                    flush()
                    result.append(token)
                }
            }
            flush()
            return result
        case .fuse:
            return [tokens.flatMap { $0 }]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                var lower = 0
                while lower < min(start, token.count), token[lower] == content { lower += 1 }
                var upper = token.count
                while token.count - upper < stop, upper > lower, token[upper - 1] == content { upper -= 1 }
                return Array(token[lower..<upper])
            }
        case .sequence(let steps):
            return steps.reduce(tokens) { $1.decodeChain($0) }
        }
    }

    /// The byte of a `<0xNN>` token, or `nil` for any other token.
    static func fallbackByte(_ token: [Unicode.Scalar]) -> UInt8? {
        guard token.count == 6, token[0] == "<", token[1] == "0", token[2] == "x", token[5] == ">" else { return nil }
        return UInt8(token[3...4].string, radix: 16)
    }

    /// Whether this decoder (or a stage of it) groups `<0xNN>` tokens.
    var usesByteFallback: Bool {
        switch self {
        case .byteFallback: true
        case .sequence(let steps): steps.contains { $0.usesByteFallback }
        default: false
        }
    }
}
