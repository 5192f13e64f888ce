/// What a `Split` pre-tokenizer or `Replace` component searches for.
enum SplitPattern: Sendable {
    /// A plain string, matched literally.
    case literal([Unicode.Scalar])
    /// One of the known word-splitting regexes, run by a hand-written scanner.
    case scanner(PatternScanner)

    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let clipRegex = #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#

    /// Recognises a regex from `tokenizer.json`.
    ///
    /// Only the GPT-2 pattern, CLIP's, the Llama 3 family (`\p{N}{1,k}` or `\p{N}` digit groups)
    /// and metacharacter-free literals are implemented; anything else is rejected by name.
    static func regex(_ pattern: String) throws(TokenizerError) -> SplitPattern {
        if pattern == gpt2Regex { return .scanner(PatternScanner(style: .gpt2)) }
        if pattern == clipRegex { return .scanner(PatternScanner(style: .clip)) }
        if let maxDigits = llama3MaxDigits(pattern) { return .scanner(PatternScanner(style: .llama3(maxDigits: maxDigits))) }
        let metacharacters = Set(#"\^$.|?*+()[]{}"#.unicodeScalars)
        if !pattern.isEmpty, !pattern.unicodeScalars.contains(where: metacharacters.contains) {
            return .literal(Array(pattern.unicodeScalars))
        }
        throw .unsupportedPattern(pattern)
    }

    private static func llama3MaxDigits(_ pattern: String) -> Int? {
        let prefix = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"#
        let suffix = #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        guard pattern.utf8.count >= prefix.utf8.count + suffix.utf8.count,
              pattern.utf8.starts(with: prefix.utf8), pattern.utf8.reversed().starts(with: suffix.utf8.reversed())
        else { return nil }
        let middle = pattern.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        if middle.isEmpty { return 1 }
        guard middle.starts(with: "{1,".utf8), middle.last == UInt8(ascii: "}"),
              let digits = Int(String(decoding: middle.dropFirst(3).dropLast(), as: UTF8.self)), digits >= 1
        else { return nil }
        return digits
    }

    /// Non-overlapping, leftmost match ranges within `scalars[range]`.
    func matches(in scalars: [Unicode.Scalar], range: Range<Int>) -> [Range<Int>] {
        switch self {
        case .scanner(let scanner):
            return scanner.matches(in: scalars, range: range)
        case .literal(let needle):
            guard !needle.isEmpty else { return [] }
            var result: [Range<Int>] = []
            var position = range.lowerBound
            while position + needle.count <= range.upperBound {
                if scalars[position] == needle[0],
                   scalars[position..<position + needle.count].elementsEqual(needle) {
                    result.append(position..<position + needle.count)
                    position += needle.count
                } else {
                    position += 1
                }
            }
            return result
        }
    }
}
