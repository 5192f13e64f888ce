/// The activations of one image, or of a batch of same-sized images, in a convolutional network,
/// channels-last: `pixels` is an (images·height·width) × channels matrix whose row
/// i·height·width + y·width + x holds pixel (y, x) of image i. Channels-last makes a 1×1
/// convolution, a linear layer and a transformer's token matrix the same thing, and a batch's
/// images share every such product (one GEMM over all their pixels).
///
/// ```swift
/// let map = FeatureMap(height: 8, width: 8, channels: 4)
/// let nchw = map.channelsFirst()          // [4 × 64], PyTorch's layout for one image
/// let batch = FeatureMap.stacking([map, map])   // 2 images, 128 pixel rows
/// ```
public struct FeatureMap: @unchecked Sendable {
    public let height: Int
    public let width: Int
    public let images: Int
    public let pixels: Matrix

    public var channels: Int { pixels.cols }
    /// Pixel rows per image.
    public var imagePixelCount: Int { height * width }

    /// A zero-filled map.
    public init(height: Int, width: Int, channels: Int, images: Int = 1) {
        self.init(height: height, width: width, pixels: Matrix(rows: images * height * width, cols: channels), images: images)
    }

    public init(height: Int, width: Int, pixels: Matrix, images: Int = 1) {
        precondition(pixels.rows == images * height * width, "a feature map needs images·height·width rows")
        self.height = height
        self.width = width
        self.images = images
        self.pixels = pixels
    }

    /// A map from one image in PyTorch's layout: `values` is channels × height × width.
    public init(channelsFirst values: UnsafePointer<Float>, channels: Int, height: Int, width: Int) {
        self.init(height: height, width: width, channels: channels)
        Transpose.copy(values, rows: channels, cols: height * width, into: pixels.data)
    }

    /// The first pixel row of image `i`.
    public func imagePixels(_ i: Int) -> UnsafeMutablePointer<Float> { pixels.data + i * imagePixelCount * channels }

    /// A copy of image `i`.
    public func image(_ i: Int) -> FeatureMap {
        let out = FeatureMap(height: height, width: width, channels: channels)
        out.pixels.data.update(from: imagePixels(i), count: out.pixels.count)
        return out
    }

    /// The images of `maps` (same size and channels) as one batch, in order.
    public static func stacking(_ maps: [FeatureMap]) -> FeatureMap {
        guard let first = maps.first else { preconditionFailure("stacking no maps") }
        if maps.count == 1 { return first }
        precondition(maps.allSatisfy { $0.height == first.height && $0.width == first.width && $0.channels == first.channels },
                     "stacked maps differ in size")
        let out = FeatureMap(height: first.height, width: first.width, channels: first.channels, images: maps.reduce(0) { $0 + $1.images })
        var next = out.pixels.data
        for map in maps {
            next.update(from: map.pixels.data, count: map.pixels.count)
            next += map.pixels.count
        }
        return out
    }

    /// A copy in PyTorch's layout: channels × height × width, row-major.
    public func channelsFirst() -> [Float] {
        precondition(images == 1, "channelsFirst is one image's layout")
        return [Float](unsafeUninitializedCapacity: pixels.count) { buffer, initialized in
            if let out = buffer.baseAddress { Transpose.copy(pixels.data, rows: pixels.rows, cols: channels, into: out) }
            initialized = pixels.count
        }
    }

    /// A new map with `self`'s channels followed by `other`'s (torch.cat along dim 1).
    public func concatenatingChannels(_ other: FeatureMap) -> FeatureMap {
        precondition(other.height == height && other.width == width, "concatenated maps differ in size")
        precondition(other.images == images, "concatenated maps differ in images")
        let out = FeatureMap(height: height, width: width, channels: channels + other.channels, images: images)
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
