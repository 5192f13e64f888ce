import Foundation

/// Builds the image processor a Hugging Face model folder declares.
///
/// ```swift
/// let processor = try ImageProcessorLoader.load(directory: URL(fileURLWithPath: "llava-1.5-7b-hf"))
/// ```
public enum ImageProcessorLoader {
    /// Reads `preprocessor_config.json` in `directory` and dispatches on `image_processor_type`
    /// (or the older `feature_extractor_type`); `Fast` / `Pil` suffixes name the same processor.
    public static func load(directory: URL) throws(ImageProcessorError) -> any ImageProcessor {
        let url = directory.appendingPathComponent("preprocessor_config.json")
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .unreadableConfig("\(url.path): \(error.localizedDescription)")
        }
        return try load(configData: data)
    }

    /// Same as ``load(directory:)`` for config contents already in memory.
    public static func load(configData: Data) throws(ImageProcessorError) -> any ImageProcessor {
        let config = try ProcessorConfig(data: configData)
        guard let declared = config.string("image_processor_type") ?? config.string("feature_extractor_type") else {
            throw .invalidConfig("image_processor_type is missing")
        }
        var name = declared
        for suffix in ["Fast", "Pil"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
        }
        switch name {
        case "CLIPImageProcessor", "CLIPFeatureExtractor":
            return try ResizeCropImageProcessor(kind: .clip, config: config)
        case "SiglipImageProcessor":
            return try ResizeCropImageProcessor(kind: .siglip, config: config)
        case "Qwen2VLImageProcessor":
            return try Qwen2VLImageProcessor(config: config)
        default:
            throw .unsupportedProcessor(declared)
        }
    }
}
