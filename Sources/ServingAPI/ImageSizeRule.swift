import Imaging

/// How a model sizes its images, as pure arithmetic on three numbers, so the pipeline, its engine
/// and a front end whose diffusion workers hold the model compute the same output size.
///
/// ```swift
/// let rule = ImageSizeRule(defaultSize: 512, vaeScaleFactor: 8, sizeMultiple: 8)
/// try rule.outputSize(width: nil, height: 768, initImage: nil)   // (height: 768, width: 512)
/// ```
public struct ImageSizeRule: Sendable, Hashable {
    /// The side of an image that gives no size.
    public var defaultSize: Int
    /// Pixels per latent position (an init image's size is rounded down to it).
    public var vaeScaleFactor: Int
    /// Image sides must be multiples of this (the VAE's scale factor times the UNet's down-sampling).
    public var sizeMultiple: Int

    public init(defaultSize: Int, vaeScaleFactor: Int, sizeMultiple: Int) {
        self.defaultSize = defaultSize
        self.vaeScaleFactor = vaeScaleFactor
        self.sizeMultiple = sizeMultiple
    }

    /// The output size in pixels: `width` and `height`, else the init image's (rounded down to the
    /// VAE's factor, as diffusers' `VaeImageProcessor.get_default_height_width`), else the default.
    public func outputSize(width: Int?, height: Int?, initImage: RGBImage?) throws(ImageGenerationError) -> (height: Int, width: Int) {
        var outHeight = height ?? defaultSize, outWidth = width ?? defaultSize
        if let initImage {
            outHeight = height ?? initImage.height
            outWidth = width ?? initImage.width
            (outHeight, outWidth) = (outHeight - outHeight % vaeScaleFactor, outWidth - outWidth % vaeScaleFactor)
        }
        guard outHeight > 0, outWidth > 0, outHeight % sizeMultiple == 0, outWidth % sizeMultiple == 0 else {
            throw .invalidRequest("width and height must be positive multiples of \(sizeMultiple), got \(outWidth)×\(outHeight)", param: "size")
        }
        return (outHeight, outWidth)
    }

    /// ``outputSize(width:height:initImage:)`` as a server checks a request before queueing it:
    /// also refused when it has more than `maxPixels` pixels.
    public func checkedOutputSize(width: Int?, height: Int?, initImage: RGBImage?, maxPixels: Int) throws(ImageGenerationError) -> (height: Int, width: Int) {
        let size: (height: Int, width: Int)
        do { size = try outputSize(width: width, height: height, initImage: initImage) } catch {
            throw .invalidRequest("size: \(error)", param: "size")
        }
        guard size.width * size.height <= maxPixels else {
            throw .invalidRequest("size \(size.width)x\(size.height) has more than the \(maxPixels) pixels this server generates", param: "size")
        }
        return size
    }
}
