/// How the `size` of a PIL-backend processor chooses the resized dimensions
/// (`PilBackend.resize` in transformers).
public enum ResizeRule: Sendable, Equatable {
    /// Exactly `height` × `width`.
    case exact(height: Int, width: Int)
    /// Shorter side to `shortestEdge`, the other side scaled and truncated.
    case shortestEdge(Int)
    /// Shorter side to `shortestEdge` unless the longer side would exceed `longestEdge`.
    case shortestAndLongestEdge(shortest: Int, longest: Int)
    /// Largest size that fits in `maxHeight` × `maxWidth`, keeping the aspect ratio.
    case fitWithin(maxHeight: Int, maxWidth: Int)

    /// Reads a size dictionary with the key sets transformers accepts for resizing.
    init(dictionary size: [String: Int]) throws(ImageProcessorError) {
        let keys = Set(size.keys)
        switch keys {
        case ["height", "width"]:
            self = .exact(height: size["height"] ?? 0, width: size["width"] ?? 0)
        case ["shortest_edge"]:
            self = .shortestEdge(size["shortest_edge"] ?? 0)
        case ["shortest_edge", "longest_edge"]:
            self = .shortestAndLongestEdge(shortest: size["shortest_edge"] ?? 0, longest: size["longest_edge"] ?? 0)
        case ["max_height", "max_width"]:
            self = .fitWithin(maxHeight: size["max_height"] ?? 0, maxWidth: size["max_width"] ?? 0)
        default:
            throw .invalidConfig("size must have keys height+width, shortest_edge, shortest_edge+longest_edge or max_height+max_width; got \(keys.sorted())")
        }
    }

    /// `(height, width)` for an input of `height` × `width`, with transformers' integer arithmetic.
    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        switch self {
        case .exact(let h, let w):
            return (h, w)
        case .shortestEdge(let size):
            // get_resize_output_image_size(default_to_square=False)
            let (short, long) = width <= height ? (width, height) : (height, width)
            let newLong = Int(Double(size * long) / Double(short))
            return width <= height ? (newLong, size) : (size, newLong)
        case .shortestAndLongestEdge(let shortest, let longest):
            // get_size_with_aspect_ratio
            var size = shortest
            var rawSize: Double?
            let minSide = Double(min(height, width)), maxSide = Double(max(height, width))
            if maxSide / minSide * Double(size) > Double(longest) {
                let raw = Double(longest) * minSide / maxSide
                rawSize = raw
                size = Int(raw.rounded(.toNearestOrEven))
            }
            if (height <= width && height == size) || (width <= height && width == size) {
                return (height, width)
            }
            if width < height {
                let scaled = rawSize.map { $0 * Double(height) / Double(width) } ?? Double(size * height) / Double(width)
                return (Int(scaled), size)
            }
            let scaled = rawSize.map { $0 * Double(width) / Double(height) } ?? Double(size * width) / Double(height)
            return (size, Int(scaled))
        case .fitWithin(let maxHeight, let maxWidth):
            let scale = min(Double(maxHeight) / Double(height), Double(maxWidth) / Double(width))
            return (Int(Double(height) * scale), Int(Double(width) * scale))
        }
    }

    var cacheKey: String {
        switch self {
        case .exact(let h, let w): "exact(\(h)x\(w))"
        case .shortestEdge(let s): "shortest(\(s))"
        case .shortestAndLongestEdge(let s, let l): "shortest(\(s))longest(\(l))"
        case .fitWithin(let h, let w): "fit(\(h)x\(w))"
        }
    }
}
