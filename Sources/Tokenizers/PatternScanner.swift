/// Hand-written scanners for the word-splitting regexes of GPT-2, Llama 3 and Qwen2.
///
/// Each scanner returns exactly the matches the `fancy-regex` crate finds for the
/// corresponding pattern (leftmost-first alternation, greedy quantifiers, the
/// `\s+(?!\S)` lookahead), without a regex engine.
///
/// GPT-2:   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
///
/// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// (Qwen2 is the same with `\p{N}` for single digits.)
///
/// CLIP:    `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (matches no whitespace, so its matches leave gaps).
struct PatternScanner: Sendable {
    enum Style: Sendable {
        /// The GPT-2 pattern (case-sensitive contractions, ` ?` prefixes).
        case gpt2
        /// The Llama 3 family, splitting digit runs into groups of at most `maxDigits`.
        case llama3(maxDigits: Int)
        /// CLIP's pattern: letter runs, single digits, runs of other characters; whitespace unmatched.
        case clip
    }

    let style: Style

    /// Non-overlapping match ranges in `scalars[range]`; for GPT-2 and Llama 3 they cover the whole
    /// range because every character is matched by some alternative.
    func matches(in scalars: [Unicode.Scalar], range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        scalars.withUnsafeBufferPointer { buffer in
            var position = range.lowerBound
            while position < range.upperBound {
                guard let end = matchEnd(buffer, at: position, end: range.upperBound) else {
                    position += 1
                    continue
                }
                result.append(position..<end)
                position = end
            }
        }
        return result
    }

    @inline(__always)
    private static func isOther(_ scalar: Unicode.Scalar) -> Bool {
        !UnicodeClasses.isWhitespace(scalar) && !UnicodeClasses.isLetter(scalar) && !UnicodeClasses.isNumber(scalar)
    }

    private static let clipSpecialTokens = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }

    @inline(__always)
    private static func isNewline(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\n" || scalar == "\r"
    }

    /// End of the match starting at `start` (greater than `start`), or `nil` when none starts there.
    private func matchEnd(_ text: UnsafeBufferPointer<Unicode.Scalar>, at start: Int, end: Int) -> Int? {
        let first = text[start]
        switch style {
        case .clip:
            for special in Self.clipSpecialTokens where text[start...].starts(with: special) {
                return start + special.count
            }
            if let contraction = contractionEnd(text, at: start, end: end, caseInsensitive: false) { return contraction }
            if UnicodeClasses.isNumber(first) { return start + 1 }
            let predicate: (Unicode.Scalar) -> Bool
            if UnicodeClasses.isLetter(first) {
                predicate = UnicodeClasses.isLetter
            } else if Self.isOther(first) {
                predicate = Self.isOther
            } else {
                return nil
            }
            var position = start + 1
            while position < end, predicate(text[position]) { position += 1 }
            return position
        case .gpt2:
            if let contraction = contractionEnd(text, at: start, end: end, caseInsensitive: false) { return contraction }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            let body = first == " " && start + 1 < end ? start + 1 : start
            let lead = text[body]
            let predicate: ((Unicode.Scalar) -> Bool)?
            if UnicodeClasses.isLetter(lead) {
                predicate = UnicodeClasses.isLetter
            } else if UnicodeClasses.isNumber(lead) {
                predicate = UnicodeClasses.isNumber
            } else if Self.isOther(lead) {
                predicate = Self.isOther
            } else {
                predicate = nil
            }
            if let predicate {
                var position = body + 1
                while position < end, predicate(text[position]) { position += 1 }
                return position
            }
            return whitespaceEnd(text, at: start, end: end)
        case .llama3(let maxDigits):
            if let contraction = contractionEnd(text, at: start, end: end, caseInsensitive: true) { return contraction }
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            var letters: Int? = nil
            if UnicodeClasses.isLetter(first) {
                letters = start + 1
            } else if !Self.isNewline(first), !UnicodeClasses.isNumber(first),
                      start + 1 < end, UnicodeClasses.isLetter(text[start + 1]) {
                letters = start + 2
            }
            if var position = letters {
                while position < end, UnicodeClasses.isLetter(text[position]) { position += 1 }
                return position
            }
            // `\p{N}{1,maxDigits}`
            if UnicodeClasses.isNumber(first) {
                var position = start + 1
                while position < end, position - start < maxDigits, UnicodeClasses.isNumber(text[position]) {
                    position += 1
                }
                return position
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let body = first == " " && start + 1 < end ? start + 1 : start
            if Self.isOther(text[body]) {
                var position = body + 1
                while position < end, Self.isOther(text[position]) { position += 1 }
                while position < end, Self.isNewline(text[position]) { position += 1 }
                return position
            }
            // `\s*[\r\n]+`: whitespace up to and including the run's last newline.
            var position = start
            var lastNewline = -1
            while position < end, UnicodeClasses.isWhitespace(text[position]) {
                if Self.isNewline(text[position]) { lastNewline = position }
                position += 1
            }
            if lastNewline >= 0 { return lastNewline + 1 }
            return whitespaceEnd(text, at: start, end: end)
        }
    }

    /// `\s+(?!\S)|\s+`: a whitespace run, leaving its last character to prefix the following word.
    /// Reached only on whitespace, since every other character matches an earlier alternative.
    private func whitespaceEnd(_ text: UnsafeBufferPointer<Unicode.Scalar>, at start: Int, end: Int) -> Int {
        var position = start + 1
        while position < end, UnicodeClasses.isWhitespace(text[position]) { position += 1 }
        if position == end || position - start == 1 { return position }
        return position - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally under `(?i)` (which also lets `s` match `ſ`, U+017F).
    private func contractionEnd(
        _ text: UnsafeBufferPointer<Unicode.Scalar>, at start: Int, end: Int, caseInsensitive: Bool
    ) -> Int? {
        guard text[start] == "'", start + 1 < end else { return nil }
        func folded(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
            guard caseInsensitive else { return scalar }
            if scalar == "\u{17F}" { return "s" }
            if ("A"..."Z").contains(scalar) { return Unicode.Scalar(scalar.value + 32) ?? scalar }
            return scalar
        }
        let second = folded(text[start + 1])
        switch second {
        case "s", "t", "m", "d":
            return start + 2
        case "r", "v", "l":
            guard start + 2 < end else { return nil }
            let third = folded(text[start + 2])
            if (second == "l" && third == "l") || (second != "l" && third == "e") { return start + 3 }
            return nil
        default:
            return nil
        }
    }
}
