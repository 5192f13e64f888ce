/// A span of text on its way through normalisation and pre-tokenisation.
struct TextPiece: Sendable {
    var scalars: [Unicode.Scalar]
    /// Whether the piece begins at offset 0 of the original input; Metaspace's
    /// `prepend_scheme: "first"` only adds its prefix there.
    var startsInput: Bool
}

/// How a split keeps or discards the delimiters it finds (the `behavior` field).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// Splits `piece` around `matches` (sorted, non-overlapping), dropping empty parts.
    func split(_ piece: TextPiece, matches: [Range<Int>], invert: Bool = false) -> [TextPiece] {
        // Segments covering the whole piece, flagged as delimiter or not.
        var segments: [(range: Range<Int>, isMatch: Bool)] = []
        segments.reserveCapacity(matches.count * 2 + 1)
        var position = 0
        for match in matches {
            if position < match.lowerBound { segments.append((position..<match.lowerBound, invert)) }
            segments.append((match, !invert))
            position = match.upperBound
        }
        if position < piece.scalars.count { segments.append((position..<piece.scalars.count, invert)) }

        let kept: [Range<Int>] = switch self {
        case .isolated: segments.map(\.range)
        case .removed: segments.filter { !$0.isMatch }.map(\.range)
        case .contiguous: Self.joining(segments, backwards: false) { previous, current in current == previous }
        case .mergedWithPrevious: Self.joining(segments, backwards: false) { previous, current in current && previous != true }
        case .mergedWithNext: Self.joining(segments, backwards: true) { previous, current in current && previous != true }
        }
        return kept.compactMap { range in
            range.isEmpty ? nil : TextPiece(
                scalars: Array(piece.scalars[range]),
                startsInput: piece.startsInput && range.lowerBound == 0
            )
        }
    }

    /// The segments' ranges, each joined to the range kept before it (walking `backwards` for
    /// MergedWithNext) where `joins(previous segment's isMatch, its own)` holds; `previous` is
    /// nil for the first segment.
    private static func joining(
        _ segments: [(range: Range<Int>, isMatch: Bool)], backwards: Bool, joins: (Bool?, Bool) -> Bool
    ) -> [Range<Int>] {
        var kept: [Range<Int>] = []
        kept.reserveCapacity(segments.count)
        var previousIsMatch: Bool? = nil
        for segment in backwards ? Array(segments.reversed()) : segments {
            if joins(previousIsMatch, segment.isMatch), let last = kept.popLast() {
                kept.append(backwards ? segment.range.lowerBound..<last.upperBound : last.lowerBound..<segment.range.upperBound)
            } else {
                kept.append(segment.range)
            }
            previousIsMatch = segment.isMatch
        }
        return backwards ? kept.reversed() : kept
    }
}
