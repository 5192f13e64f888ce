/// Turns a decoded image into the pixel values a vision encoder consumes, as a Hugging Face
/// image processor does (the PIL/numpy backend of transformers 5 is the reference).
///
/// ```swift
/// let processor = try ImageProcessorLoader.load(directory: modelFolder)
/// let input = try processor.preprocess(try ImageDecoder.decode(data))
/// // input.pixelValues, input.shape == [3, 224, 224] for CLIP
/// ```
public protocol ImageProcessor: Sendable {
    func preprocess(_ image: RGBImage) throws(ImageProcessorError) -> PreprocessedImage

    /// Throws `invalidImage` for an image of this size that ``preprocess(_:)`` refuses, from the
    /// size alone: a caller checks before admitting the image, and no pixel is resized first (a
    /// 1×10000 image would resize to 224×2,240,000 before a crop).
    func checkSize(height: Int, width: Int) throws(ImageProcessorError)

    /// A canonical description of every parameter that affects the output (two processors with
    /// equal keys preprocess alike).
    var cacheKey: String { get }
}

/// Encoder input for one image.
public struct PreprocessedImage: Sendable, Equatable {
    /// Row-major float32 values in the layout given by `shape`.
    public let pixelValues: [Float]
    /// `[channels, height, width]` for CLIP/SigLIP, `[patches, channels * temporal * patch * patch]`
    /// for Qwen2-VL.
    public let shape: [Int]
    /// Qwen2-VL's `image_grid_thw` row `[t, h, w]` in patches; `nil` for fixed-size encoders.
    public let gridTHW: [Int]?
    /// Placeholder tokens the language model needs for this image when the processor alone
    /// determines it (Qwen2-VL: patches / merge²); `nil` when it depends on the vision tower.
    public let numImageTokens: Int?

    public init(pixelValues: [Float], shape: [Int], gridTHW: [Int]? = nil, numImageTokens: Int? = nil) {
        self.pixelValues = pixelValues
        self.shape = shape
        self.gridTHW = gridTHW
        self.numImageTokens = numImageTokens
    }
}

/// Why an image processor could not be built or could not process an image.
public enum ImageProcessorError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `preprocessor_config.json` is missing or not readable JSON.
    case unreadableConfig(String)
    /// A field has the wrong type or an invalid value.
    case invalidConfig(String)
    /// `image_processor_type` names a processor Tessera does not implement.
    case unsupportedProcessor(String)
    /// `resample` is not one of Pillow's filters 0...5.
    case unsupportedResample(Int)
    /// The image cannot be processed with this configuration (e.g. extreme aspect ratio).
    case invalidImage(String)

    public var description: String {
        switch self {
        case .unreadableConfig(let reason): "cannot read preprocessor_config.json: \(reason)"
        case .invalidConfig(let reason): "invalid image processor configuration: \(reason)"
        case .unsupportedProcessor(let name): "unsupported image processor type '\(name)'"
        case .unsupportedResample(let value): "unsupported resample filter \(value) (expected 0...5)"
        case .invalidImage(let reason): "image cannot be preprocessed: \(reason)"
        }
    }
}
