import Foundation

extension JSONEncoder {
    /// The encoder of every API response and stream chunk. Keys are sorted: Foundation's encoder on
    /// Linux otherwise writes them in a different order from one response to the next.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
