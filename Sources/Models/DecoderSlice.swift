/// The part of a decoder one pipeline stage runs, in placement units: unit 0 is the token
/// embedding, units 1...L the L decoder layers, unit L + 1 the final norm and LM head. Counting the
/// embedding and the head as units of their own lets a placement put them where memory allows
/// (they are the largest tensors of a model with a big vocabulary), and lets a two-layer model
/// run as three stages.
///
/// ```swift
/// let first = DecoderSlice(units: 0 ..< 2)   // embedding + layer 0
/// let last = DecoderSlice(units: 2 ..< 4)    // layer 1 + norm and LM head (L = 2)
/// ```
public struct DecoderSlice: Sendable, Hashable, CustomStringConvertible {
    public var units: Range<Int>

    public init(units: Range<Int>) {
        self.units = units
    }

    /// Every unit of an L-layer decoder.
    public static func whole(numLayers: Int) -> DecoderSlice { DecoderSlice(units: 0 ..< numLayers + 2) }

    public var hasEmbedding: Bool { units.contains(0) }

    public func hasHead(numLayers: Int) -> Bool { units.contains(numLayers + 1) }

    /// The decoder layers among the units.
    public func layers(numLayers: Int) -> Range<Int> {
        let first = max(units.lowerBound, 1) - 1, end = min(units.upperBound, numLayers + 1) - 1
        return first ..< max(first, end)
    }

    /// `a:b`, as the command line takes it.
    public var description: String { "\(units.lowerBound):\(units.upperBound)" }

    /// Parses `a:b` (units a ..< b); nil when it is not that.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, b > a else { return nil }
        units = a ..< b
    }
}
