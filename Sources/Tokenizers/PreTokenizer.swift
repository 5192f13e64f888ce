/// Splits normalised text into words before the model sees them (`pre_tokenizer`).
indirect enum PreTokenizer: Sendable {
    /// GPT-2 byte-level: optional leading space, the GPT-2 split, then bytes → alphabet characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    /// SentencePiece style: spaces become `replacement`, optionally split before each one.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    /// `\w+|[^\w\s]+`
    case whitespace
    /// Splits on whitespace, dropping it.
    case whitespaceSplit
    case digits(individual: Bool)
    case sequence([PreTokenizer])

    func apply(_ pieces: [TextPiece]) -> [TextPiece] {
        switch self {
        case .byteLevel(let addPrefixSpace, let useRegex):
            var result: [TextPiece] = []
            for var piece in pieces {
                if addPrefixSpace, piece.scalars.first != " " { piece.scalars.insert(" ", at: 0) }
                let words = useRegex
                    ? SplitBehavior.isolated.split(piece, matches: Self.gpt2.matches(in: piece.scalars, range: 0..<piece.scalars.count))
                    : [piece]
                for word in words {
                    result.append(TextPiece(scalars: ByteLevelAlphabet.encode(word.scalars[...]), startsInput: word.startsInput))
                }
            }
            return result
        case .split(let pattern, let behavior, let invert):
            return pieces.flatMap { piece in
                behavior.split(piece, matches: pattern.matches(in: piece.scalars, range: 0..<piece.scalars.count), invert: invert)
            }
        case .metaspace(let replacement, let prependScheme, let split):
            return pieces.flatMap { piece -> [TextPiece] in
                var piece = piece
                piece.scalars = piece.scalars.map { $0 == " " ? replacement : $0 }
                let prepend = switch prependScheme {
                case .always: true
                case .first: piece.startsInput
                case .never: false
                }
                if prepend, piece.scalars.first != replacement { piece.scalars.insert(replacement, at: 0) }
                guard split else { return piece.scalars.isEmpty ? [] : [piece] }
                return SplitBehavior.mergedWithNext.split(piece, matches: Self.characterMatches(piece) { $0 == replacement })
            }
        case .whitespace:
            return pieces.flatMap { piece in
                SplitBehavior.removed.split(piece, matches: Self.wordRuns(piece.scalars), invert: true)
            }
        case .whitespaceSplit:
            return pieces.flatMap { piece in
                SplitBehavior.removed.split(piece, matches: Self.characterMatches(piece, where: UnicodeClasses.isWhitespace))
            }
        case .digits(let individual):
            return pieces.flatMap { piece in
                (individual ? SplitBehavior.isolated : .contiguous)
                    .split(piece, matches: Self.characterMatches(piece, where: UnicodeClasses.isNumber))
            }
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.apply($0) }
        }
    }

    private static let gpt2 = PatternScanner(style: .gpt2)

    /// The scanner when this pre-tokenizer is exactly "split with a word scanner, then map
    /// each word to the byte-level alphabet" (GPT-2, Llama 3, Qwen2). The tokenizer then
    /// runs that pipeline over ranges of the input, without materialising each piece.
    var byteLevelWordScanner: PatternScanner? {
        switch self {
        case .byteLevel(addPrefixSpace: false, useRegex: true):
            return Self.gpt2
        case .sequence(let steps):
            guard steps.count == 2,
                  case .split(.scanner(let scanner), behavior: .isolated, invert: false) = steps[0],
                  case .byteLevel(addPrefixSpace: false, useRegex: false) = steps[1] else { return nil }
            return scanner
        default:
            return nil
        }
    }

    /// Each character satisfying `predicate` is its own match, as in `tokenizers`' char patterns.
    private static func characterMatches(_ piece: TextPiece, where predicate: (Unicode.Scalar) -> Bool) -> [Range<Int>] {
        piece.scalars.indices.filter { predicate(piece.scalars[$0]) }.map { $0..<$0 + 1 }
    }

    /// Matches of `\w+|[^\w\s]+`.
    private static func wordRuns(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var position = 0
        while position < scalars.count {
            let scalar = scalars[position]
            if UnicodeClasses.isWhitespace(scalar) {
                position += 1
                continue
            }
            let isWord = UnicodeClasses.isWordCharacter(scalar)
            let start = position
            position += 1
            while position < scalars.count {
                let next = scalars[position]
                if UnicodeClasses.isWhitespace(next) || UnicodeClasses.isWordCharacter(next) != isWord { break }
                position += 1
            }
            result.append(start..<position)
        }
        return result
    }
}
