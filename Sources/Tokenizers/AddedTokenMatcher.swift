/// Finds added tokens in text: leftmost-longest matches over a scalar trie, with the
/// `single_word`, `lstrip` and `rstrip` rules of `tokenizers`' added vocabulary.
struct AddedTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [Unicode.Scalar: Int32] = [:]
        /// Index into `tokens` of the token ending here.
        var token: Int32 = -1
    }

    private var nodes = [Node()]
    private let tokens: [AddedToken]

    /// A piece of input after splitting: either an added token or text for the model.
    enum Segment {
        case token(Int)
        case text(TextPiece)
    }

    /// `patterns[i]` is the text that matches `tokens[i]` (its content, normalised if needed).
    init(tokens: [AddedToken], patterns: [[Unicode.Scalar]]) {
        self.tokens = tokens
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node = 0
            for scalar in pattern {
                if let child = nodes[node].children[scalar] {
                    node = Int(child)
                } else {
                    nodes.append(Node())
                    nodes[node].children[scalar] = Int32(nodes.count - 1)
                    node = nodes.count - 1
                }
            }
            // The first token with a given text wins, like a leftmost-first automaton.
            if nodes[node].token < 0 { nodes[node].token = Int32(index) }
        }
    }

    var isEmpty: Bool { nodes.count == 1 }

    /// Splits `piece` around added-token matches; text between matches keeps empty parts out.
    func split(_ piece: TextPiece) -> [Segment] {
        let text = piece.scalars
        guard !isEmpty, !text.isEmpty else { return text.isEmpty ? [] : [.text(piece)] }
        var segments: [Segment] = []
        var consumed = 0
        var position = 0
        func appendText(_ range: Range<Int>) {
            guard !range.isEmpty else { return }
            segments.append(.text(TextPiece(scalars: Array(text[range]), startsInput: piece.startsInput && range.lowerBound == 0)))
        }
        while position < text.count {
            guard let (tokenIndex, matchEnd) = longestMatch(in: text, at: position) else {
                position += 1
                continue
            }
            let token = tokens[tokenIndex]
            var start = position
            var stop = matchEnd
            // The automaton resumes after a match even when the match is then discarded.
            position = matchEnd
            if token.singleWord {
                let wordBefore = start > 0 && UnicodeClasses.isWordCharacter(text[start - 1])
                let wordAfter = stop < text.count && UnicodeClasses.isWordCharacter(text[stop])
                if wordBefore || wordAfter { continue }
            }
            if token.leftStrip {
                while start > consumed, UnicodeClasses.isWhitespace(text[start - 1]) { start -= 1 }
            }
            if token.rightStrip {
                while stop < text.count, UnicodeClasses.isWhitespace(text[stop]) { stop += 1 }
            }
            appendText(consumed..<start)
            segments.append(.token(token.id))
            consumed = stop
            position = max(position, stop)
        }
        appendText(consumed..<text.count)
        return segments
    }

    private func longestMatch(in text: [Unicode.Scalar], at start: Int) -> (token: Int, end: Int)? {
        var node = 0
        var best: (token: Int, end: Int)? = nil
        var position = start
        while position < text.count, let child = nodes[node].children[text[position]] {
            node = Int(child)
            position += 1
            if nodes[node].token >= 0 { best = (Int(nodes[node].token), position) }
        }
        return best
    }
}
