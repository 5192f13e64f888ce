import Foundation

/// Rewrites text before pre-tokenisation (`normalizer`).
indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    /// Per-character full lowercase mapping, without context (as Rust's `char::to_lowercase`).
    case lowercase
    /// Adds a prefix to non-empty text.
    case prepend([Unicode.Scalar])
    /// Replaces every non-overlapping occurrence of a literal.
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    /// Replaces every run of whitespace (the regex `\s+`) with `content`, as CLIP's normaliser does.
    case replaceWhitespaceRuns(content: [Unicode.Scalar])
    /// Trims whitespace at either end.
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    func apply(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .nfc:
            // Below U+0300 nothing composes, so the common case needs no round trip.
            if scalars.allSatisfy({ $0.value < 0x300 }) { return scalars }
            return Array(scalars.string.precomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfd:
            if scalars.allSatisfy({ $0.value < 0xC0 }) { return scalars }
            return Array(scalars.string.decomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfkc:
            if scalars.allSatisfy({ $0.value < 0x80 }) { return scalars }
            return Array(scalars.string.precomposedStringWithCompatibilityMapping.unicodeScalars)
        case .nfkd:
            if scalars.allSatisfy({ $0.value < 0x80 }) { return scalars }
            return Array(scalars.string.decomposedStringWithCompatibilityMapping.unicodeScalars)
        case .lowercase:
            var result: [Unicode.Scalar] = []
            result.reserveCapacity(scalars.count)
            for scalar in scalars {
                if scalar.value < 128 {
                    result.append(("A"..."Z").contains(scalar) ? Unicode.Scalar(UInt8(scalar.value + 32)) : scalar)
                } else {
                    result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
                }
            }
            return result
        case .prepend(let prefix):
            return scalars.isEmpty ? scalars : prefix + scalars
        case .replace(let pattern, let content):
            let matches = SplitPattern.literal(pattern).matches(in: scalars, range: 0..<scalars.count)
            guard !matches.isEmpty else { return scalars }
            var result: [Unicode.Scalar] = []
            var position = 0
            for match in matches {
                result.append(contentsOf: scalars[position..<match.lowerBound])
                result.append(contentsOf: content)
                position = match.upperBound
            }
            result.append(contentsOf: scalars[position...])
            return result
        case .replaceWhitespaceRuns(let content):
            var result: [Unicode.Scalar] = []
            result.reserveCapacity(scalars.count)
            var inRun = false
            for scalar in scalars {
                if UnicodeClasses.isWhitespace(scalar) {
                    if !inRun { result.append(contentsOf: content) }
                    inRun = true
                } else {
                    result.append(scalar)
                    inRun = false
                }
            }
            return result
        case .strip(let left, let right):
            var lower = 0
            var upper = scalars.count
            if left { while lower < upper, UnicodeClasses.isWhitespace(scalars[lower]) { lower += 1 } }
            if right { while upper > lower, UnicodeClasses.isWhitespace(scalars[upper - 1]) { upper -= 1 } }
            return Array(scalars[lower..<upper])
        case .sequence(let steps):
            return steps.reduce(scalars) { $1.apply($0) }
        }
    }
}
