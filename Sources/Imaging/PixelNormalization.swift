/// The rescale and normalize steps of the HF processors, in their exact arithmetic:
/// `rescale` multiplies in float64 and rounds to float32, `normalize` computes
/// `(x - mean) / std` in float32 with mean and std rounded to float32.
public struct PixelNormalization: Sendable, Equatable {
    public var doRescale: Bool
    public var rescaleFactor: Double
    public var doNormalize: Bool
    public var mean: [Double]
    public var std: [Double]

    public init(doRescale: Bool, rescaleFactor: Double, doNormalize: Bool, mean: [Double], std: [Double]) {
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.mean = mean
        self.std = std
    }

    /// `[3, height, width]` float32 values of `image`.
    func channelsFirst(_ image: RGBImage) -> [Float] {
        let planeSize = image.width * image.height
        var out = [Float](repeating: 0, count: planeSize * 3)
        let levels = (0..<256).map { level in
            doRescale ? Float(Double(level) * rescaleFactor) : Float(level)
        }
        for channel in 0..<3 {
            let table = levels.map { value in
                doNormalize ? (value - Float(mean[channel])) / Float(std[channel]) : value
            }
            image.pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<planeSize {
                        dst[channel * planeSize + i] = table[Int(src[i * 3 + channel])]
                    }
                }
            }
        }
        return out
    }

    var cacheKey: String {
        "rescale=\(doRescale ? String(rescaleFactor) : "off"),normalize=\(doNormalize ? "\(mean)/\(std)" : "off")"
    }
}
