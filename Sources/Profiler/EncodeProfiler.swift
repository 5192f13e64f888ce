import Cluster
import CoreUtilities
import Engine
import Imaging
import Models
import Simulator

/// Times the vision side of a vision-language model as the engine's image pipeline runs it:
/// every image of a request preprocessed by the model's image processor and encoded by
/// `VisionLanguageModel.encodeImage`, one image after another.
///
/// ```swift
/// let profiler = EncodeProfiler(model: vlm, processor: try ImageProcessorLoader.load(directory: url), settings: settings)
/// let points = try profiler.encodePoints()   // one per (image size, image count)
/// let rule = try profiler.imageTokenRule()   // what the simulator turns image sizes into
/// ```
public struct EncodeProfiler {
    public let model: VisionLanguageModel
    public let processor: any ImageProcessor
    public let settings: ProfileSettings

    public init(model: VisionLanguageModel, processor: any ImageProcessor, settings: ProfileSettings) {
        self.model = model
        self.processor = processor
        self.settings = settings
    }

    /// One point per (image size, images per request): random pixels, untimed warm-up, then the
    /// median of `settings.runs`.
    public func encodePoints() throws(ProfileError) -> [CostModel.Measurements.Encode] {
        try settings.validate()
        var random = SeededRandom(seed: 4)
        var points: [CostModel.Measurements.Encode] = []
        for size in settings.imageSizes {
            let widest = settings.imagesPerRequest.max() ?? 1
            let images = try (0 ..< widest).map { _ throws(ProfileError) in try randomImage(size, &random) }
            let tokens = try tokenCount(images[0])
            for count in Set(settings.imagesPerRequest).sorted() {
                let request = Array(images.prefix(count))
                let ms = try ProfileStatistics.medianMilliseconds(runs: settings.runs) { () throws(ProfileError) in try encode(request) }
                points.append(.init(images: count, width: size.width, height: size.height, tokens: count * tokens, ms: ms))
            }
        }
        guard points.count >= 3 else { throw .tooFewPoints(stage: "encode", points: points.count, needed: 3) }
        return points
    }

    /// How the simulator should turn an image's size into tokens for this model: Qwen2-VL's
    /// resize rule with the processor's own bounds, or the fixed count of a resize-and-crop tower.
    public func imageTokenRule() throws(ProfileError) -> ImageTokenRule {
        var random = SeededRandom(seed: 5)
        return try ImageTokenRule(processor: processor) { () throws(ProfileError) in try tokenCount(randomImage((width: 8, height: 8), &random)) }
    }

    private func tokenCount(_ image: RGBImage) throws(ProfileError) -> Int {
        do { return try model.imageTokenCount(for: processor.preprocess(image)) } catch {
            throw .modelFailed("the image processor or vision encoder failed: \(error)")
        }
    }

    private func encode(_ images: [RGBImage]) throws(ProfileError) {
        do {
            for image in images { _ = try model.encodeImage(processor.preprocess(image)) }
        } catch {
            throw .modelFailed("the image processor or vision encoder failed: \(error)")
        }
    }

    private func randomImage(_ size: (width: Int, height: Int), _ random: inout SeededRandom) throws(ProfileError) -> RGBImage {
        let bytes = (0 ..< size.width * size.height * 3).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        do { return try RGBImage(width: size.width, height: size.height, pixels: bytes) } catch {
            throw .invalidSettings("image size \(size.width)x\(size.height): \(error)")
        }
    }
}
