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

        var kept: [Range<Int>] = []
        kept.reserveCapacity(segments.count)
        switch self {
        case .isolated:
            kept = segments.map(\.range)
        case .removed:
            kept = segments.filter { !$0.isMatch }.map(\.range)
        case .contiguous:
            var previousIsMatch: Bool? = nil
            for segment in segments {
                if segment.isMatch == previousIsMatch, let last = kept.popLast() {
                    kept.append(last.lowerBound..<segment.range.upperBound)
                } else {
                    kept.append(segment.range)
                }
                previousIsMatch = segment.isMatch
            }
        case .mergedWithPrevious:
            var previousIsMatch = false
            for segment in segments {
                if segment.isMatch, !previousIsMatch, let last = kept.popLast() {
                    kept.append(last.lowerBound..<segment.range.upperBound)
                } else {
                    kept.append(segment.range)
                }
                previousIsMatch = segment.isMatch
            }
        case .mergedWithNext:
            var previousIsMatch = false
            for segment in segments.reversed() {
                if segment.isMatch, !previousIsMatch, let last = kept.popLast() {
                    kept.append(segment.range.lowerBound..<last.upperBound)
                } else {
                    kept.append(segment.range)
                }
                previousIsMatch = segment.isMatch
            }
            kept.reverse()
        }
        return kept.compactMap { range in
            range.isEmpty ? nil : TextPiece(
                scalars: Array(piece.scalars[range]),
                startsInput: piece.startsInput && range.lowerBound == 0
            )
        }
    }
}
