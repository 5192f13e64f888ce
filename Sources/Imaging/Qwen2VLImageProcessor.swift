import Foundation

/// `Qwen2VLImageProcessor` (also used by Qwen2.5-VL): smart-resize to multiples of
/// `patchSize * mergeSize` within the pixel budget, rescale, normalize, then flatten into
/// patches `[gridH * gridW, 3 * temporalPatchSize * patchSize * patchSize]`, the still image
/// repeated along time, patches ordered so each `mergeSize × mergeSize` block is contiguous.
///
/// ```swift
/// let qwen = try Qwen2VLImageProcessor(configData: json)
/// let input = try qwen.preprocess(image)
/// // input.gridTHW == [1, h, w]; input.numImageTokens == h * w / 4
/// ```
public struct Qwen2VLImageProcessor: ImageProcessor, Equatable {
    public var doResize: Bool
    public var resample: ResampleFilter
    /// Pixel budget of `smart_resize` (`size.shortest_edge` / `min_pixels`).
    public var minPixels: Int
    /// Pixel budget of `smart_resize` (`size.longest_edge` / `max_pixels`).
    public var maxPixels: Int
    public var patchSize: Int
    public var temporalPatchSize: Int
    public var mergeSize: Int
    public var normalization: PixelNormalization

    /// Builds the processor from `preprocessor_config.json` contents. Top-level `min_pixels` /
    /// `max_pixels` (the Hub's Qwen2-VL files) override `size`, as the transformers constructor does.
    public init(configData: Data) throws(ImageProcessorError) {
        try self.init(config: ProcessorConfig(data: configData))
    }

    init(config: ProcessorConfig) throws(ImageProcessorError) {
        let size = try config.sizeDictionary("size", defaultToSquare: false) ?? [:]
        let minimum = try config.int("min_pixels") ?? size["shortest_edge"] ?? size["min_pixels"] ?? 56 * 56
        let maximum = try config.int("max_pixels") ?? size["longest_edge"] ?? size["max_pixels"] ?? 28 * 28 * 1280
        doResize = try config.bool("do_resize", default: true)
        resample = try config.resample(default: .bicubic)
        minPixels = minimum
        maxPixels = maximum
        patchSize = try config.int("patch_size") ?? 14
        temporalPatchSize = try config.int("temporal_patch_size") ?? 2
        mergeSize = try config.int("merge_size") ?? 2
        normalization = PixelNormalization(
            doRescale: try config.bool("do_rescale", default: true),
            rescaleFactor: try config.double("rescale_factor", default: 1.0 / 255.0),
            doNormalize: try config.bool("do_normalize", default: true),
            mean: try config.channelValues("image_mean", default: openAICLIPMean),
            std: try config.channelValues("image_std", default: openAICLIPStd))
        guard patchSize > 0, temporalPatchSize > 0, mergeSize > 0 else {
            throw .invalidConfig("patch_size, temporal_patch_size and merge_size must be positive")
        }
        guard minPixels > 0, maxPixels >= minPixels else {
            throw .invalidConfig("need 0 < min_pixels <= max_pixels, got \(minPixels) and \(maxPixels)")
        }
    }

    /// `smart_resize`: the `(height, width)` an image is resized to.
    public func targetSize(height: Int, width: Int) throws(ImageProcessorError) -> (height: Int, width: Int) {
        let factor = patchSize * mergeSize
        let (h, w) = (Double(height), Double(width))
        guard max(h, w) / min(h, w) <= 200 else {
            throw .invalidImage("absolute aspect ratio must be smaller than 200, got \(max(h, w) / min(h, w))")
        }
        let f = Double(factor)
        // Python's round() rounds halves to even.
        var hBar = Int((h / f).rounded(.toNearestOrEven)) * factor
        var wBar = Int((w / f).rounded(.toNearestOrEven)) * factor
        if hBar * wBar > maxPixels {
            let beta = ((h * w) / Double(maxPixels)).squareRoot()
            hBar = max(factor, Int((h / beta / f).rounded(.down)) * factor)
            wBar = max(factor, Int((w / beta / f).rounded(.down)) * factor)
        } else if hBar * wBar < minPixels {
            let beta = (Double(minPixels) / (h * w)).squareRoot()
            hBar = Int((h * beta / f).rounded(.up)) * factor
            wBar = Int((w * beta / f).rounded(.up)) * factor
        }
        return (hBar, wBar)
    }

    public func checkSize(height: Int, width: Int) throws(ImageProcessorError) {
        _ = try targetSize(height: height, width: width)
    }

    public func preprocess(_ image: RGBImage) throws(ImageProcessorError) -> PreprocessedImage {
        var image = image
        if doResize {
            let target = try targetSize(height: image.height, width: image.width)
            guard target.height > 0, target.width > 0 else {
                throw .invalidImage("\(image.width)x\(image.height) resizes to an empty image")
            }
            image = image.resized(width: target.width, height: target.height, filter: resample)
        }
        let block = patchSize * mergeSize
        guard image.height % block == 0, image.width % block == 0 else {
            throw .invalidImage("\(image.width)x\(image.height) is not a multiple of \(block) (patch_size × merge_size)")
        }
        let planes = normalization.channelsFirst(image)
        let (gridH, gridW) = (image.height / patchSize, image.width / patchSize)
        let patchArea = patchSize * patchSize
        let rowLength = 3 * temporalPatchSize * patchArea
        var out = [Float](repeating: 0, count: gridH * gridW * rowLength)
        let planeSize = image.width * image.height
        planes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var row = 0
                // Patch order (gh/m, gw/m, m, m); within a patch (channel, time, py, px).
                for blockY in 0..<(gridH / mergeSize) {
                    for blockX in 0..<(gridW / mergeSize) {
                        for innerY in 0..<mergeSize {
                            for innerX in 0..<mergeSize {
                                let top = (blockY * mergeSize + innerY) * patchSize
                                let left = (blockX * mergeSize + innerX) * patchSize
                                var d = row * rowLength
                                for channel in 0..<3 {
                                    for _ in 0..<temporalPatchSize {
                                        for py in 0..<patchSize {
                                            let s = channel * planeSize + (top + py) * image.width + left
                                            for px in 0..<patchSize {
                                                dst[d] = src[s + px]
                                                d += 1
                                            }
                                        }
                                    }
                                }
                                row += 1
                            }
                        }
                    }
                }
            }
        }
        return PreprocessedImage(
            pixelValues: out, shape: [gridH * gridW, rowLength], gridTHW: [1, gridH, gridW],
            numImageTokens: gridH * gridW / (mergeSize * mergeSize))
    }

    public var cacheKey: String {
        [
            "Qwen2VLImageProcessor",
            doResize ? "resize=smart(\(minPixels)...\(maxPixels)),\(resample)" : "resize=off",
            "patch=\(patchSize),temporal=\(temporalPatchSize),merge=\(mergeSize)",
            normalization.cacheKey,
        ].joined(separator: ";")
    }
}
