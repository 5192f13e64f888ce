import Foundation
import Testing
@testable import Imaging

@Suite struct ProcessorConfigTests {
    static func load(_ json: String) throws(ImageProcessorError) -> any ImageProcessor {
        try ImageProcessorLoader.load(configData: Data(json.utf8))
    }

    @Test func classDefaultsFillMissingFields() throws {
        let clip = try #require(try Self.load(#"{"image_processor_type": "CLIPImageProcessorFast"}"#) as? ResizeCropImageProcessor)
        #expect(clip.resize == .shortestEdge(224))
        #expect(clip.doCenterCrop && clip.cropHeight == 224 && clip.cropWidth == 224)
        #expect(clip.resample == .bicubic)
        #expect(clip.normalization.mean == [0.48145466, 0.4578275, 0.40821073])

        let siglip = try #require(try Self.load(#"{"image_processor_type": "SiglipImageProcessor", "size": 64}"#) as? ResizeCropImageProcessor)
        // SigLIP does not default to square sizes, so a bare integer is the shortest edge.
        #expect(siglip.resize == .shortestEdge(64))
        #expect(!siglip.doCenterCrop)
        #expect(siglip.normalization.std == [0.5, 0.5, 0.5])

        let qwen = try #require(try Self.load(#"{"image_processor_type": "Qwen2VLImageProcessor", "size": {"shortest_edge": 100, "longest_edge": 5000}, "max_pixels": 9000}"#) as? Qwen2VLImageProcessor)
        #expect(qwen.minPixels == 100 && qwen.maxPixels == 9000)
    }

    @Test func badConfigsGiveTypedErrors() {
        #expect(throws: ImageProcessorError.unsupportedProcessor("ViTImageProcessor")) {
            try Self.load(#"{"image_processor_type": "ViTImageProcessor"}"#)
        }
        #expect(throws: ImageProcessorError.unsupportedResample(7)) {
            try Self.load(#"{"image_processor_type": "CLIPImageProcessor", "resample": 7}"#)
        }
        #expect(throws: ImageProcessorError.self) { try Self.load(#"{"image_processor_type": "CLIPImageProcessor", "size": {"longest_edge": 3}}"#) }
        #expect(throws: ImageProcessorError.self) { try Self.load(#"{"image_processor_type": "CLIPImageProcessor", "do_resize": 1}"#) }
        #expect(throws: ImageProcessorError.self) { try Self.load(#"{"image_processor_type": "CLIPImageProcessor", "image_mean": [0.5]}"#) }
        #expect(throws: ImageProcessorError.self) { try Self.load(#"{"image_processor_type": "Qwen2VLImageProcessor", "patch_size": 0}"#) }
        #expect(throws: ImageProcessorError.self) { try Self.load(#"{"size": 3}"#) }
        #expect(throws: ImageProcessorError.self) { try Self.load("[1, 2]") }
        #expect(throws: ImageProcessorError.self) { try Self.load("not json") }
        #expect(throws: ImageProcessorError.self) {
            try ImageProcessorLoader.load(directory: Fixtures.root.appendingPathComponent("no-such-model"))
        }
    }

    @Test func extremeAspectRatioIsRejectedLikeSmartResize() throws {
        let qwen = try #require(try Self.load(#"{"image_processor_type": "Qwen2VLImageProcessor"}"#) as? Qwen2VLImageProcessor)
        let strip = try RGBImage(width: 402, height: 2, pixels: [UInt8](repeating: 9, count: 402 * 2 * 3))
        #expect(throws: ImageProcessorError.self) { try qwen.preprocess(strip) }
        // Exact halves round to even, as Python's round() does: 42 / 28 = 1.5 -> 2, 70 / 28 = 2.5 -> 2.
        let size = try qwen.targetSize(height: 42, width: 70)
        #expect(size.height == 56 && size.width == 56)
    }

    @Test func cacheKeyChangesWithEveryOutputParameter() throws {
        let base = try #require(try Self.load(#"{"image_processor_type": "CLIPImageProcessor"}"#) as? ResizeCropImageProcessor)
        var variants = [base.cacheKey]
        var other = base; other.resample = .bilinear; variants.append(other.cacheKey)
        other = base; other.cropWidth = 200; variants.append(other.cacheKey)
        other = base; other.normalization.std[1] = 0.3; variants.append(other.cacheKey)
        other = base; other.resize = .shortestEdge(336); variants.append(other.cacheKey)
        #expect(Set(variants).count == variants.count)
        let siglip = try Self.load(#"{"image_processor_type": "SiglipImageProcessor"}"#)
        #expect(siglip.cacheKey != base.cacheKey)
    }
}
