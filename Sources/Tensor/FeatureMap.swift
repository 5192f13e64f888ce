/// One image's activations in a convolutional network, channels-last: `pixels` is a
/// (height·width) × channels matrix whose row y·width + x holds pixel (y, x). Channels-last makes a
/// 1×1 convolution, a linear layer and a transformer's token matrix the same thing.
///
/// ```swift
/// let map = FeatureMap(height: 8, width: 8, channels: 4)
/// let nchw = map.channelsFirst()          // [4 × 64], PyTorch's layout for one image
/// ```
public struct FeatureMap: @unchecked Sendable {
    public let height: Int
    public let width: Int
    public let pixels: Matrix

    public var channels: Int { pixels.cols }

    /// A zero-filled map.
    public init(height: Int, width: Int, channels: Int) {
        self.init(height: height, width: width, pixels: Matrix(rows: height * width, cols: channels))
    }

    public init(height: Int, width: Int, pixels: Matrix) {
        precondition(pixels.rows == height * width, "a feature map needs height·width rows")
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// A map from one image in PyTorch's layout: `values` is channels × height × width.
    public init(channelsFirst values: UnsafePointer<Float>, channels: Int, height: Int, width: Int) {
        self.init(height: height, width: width, channels: channels)
        Transpose.copy(values, rows: channels, cols: height * width, into: pixels.data)
    }

    /// A copy in PyTorch's layout: channels × height × width, row-major.
    public func channelsFirst() -> [Float] {
        [Float](unsafeUninitializedCapacity: pixels.count) { buffer, initialized in
            if let out = buffer.baseAddress { Transpose.copy(pixels.data, rows: pixels.rows, cols: channels, into: out) }
            initialized = pixels.count
        }
    }

    /// A new map with `self`'s channels followed by `other`'s (torch.cat along dim 1).
    public func concatenatingChannels(_ other: FeatureMap) -> FeatureMap {
        precondition(other.height == height && other.width == width, "concatenated maps differ in size")
        let out = FeatureMap(height: height, width: width, channels: channels + other.channels)
        let (a, b) = (channels, other.channels)
        for p in 0 ..< pixels.rows {
            (out.pixels.row(p)).update(from: pixels.row(p), count: a)
            (out.pixels.row(p) + a).update(from: other.pixels.row(p), count: b)
        }
        return out
    }
}

/// Out-of-place matrix transposition.
public enum Transpose {
    /// Writes the cols × rows transpose of the rows × cols matrix `source` into `destination`.
    public static func copy(_ source: UnsafePointer<Float>, rows: Int, cols: Int, into destination: UnsafeMutablePointer<Float>) {
        let tile = 32
        for r0 in stride(from: 0, to: rows, by: tile) {
            for c0 in stride(from: 0, to: cols, by: tile) {
                for r in r0 ..< min(rows, r0 + tile) {
                    for c in c0 ..< min(cols, c0 + tile) { destination[c * rows + r] = source[r * cols + c] }
                }
            }
        }
    }
}
