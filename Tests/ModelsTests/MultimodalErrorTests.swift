import Foundation
import Imaging
import Testing
@testable import Models
import Tensor

/// Typed errors for inputs a vision-language model cannot take.
struct MultimodalErrorTests {
    @Test func placeholderCountMustMatchImages() throws {
        let reference = try VisionReference("llava-tiny")
        let model = try ModelLoader.loadVisionLanguageModel(directory: reference.directory)
        let pixels = try reference.preprocessed("gradient.png")
        let token = model.imageTokenId
        #expect(throws: MultimodalError.placeholderMismatch(placeholders: 2, images: 1)) { try model.expandPrompt([1, token, 5, token], images: [pixels]) }
        #expect(throws: MultimodalError.placeholderMismatch(placeholders: 0, images: 1)) { try model.expandPrompt([1, 5], images: [pixels]) }
        let prompt = try model.expandPrompt([1, token, 5], images: [pixels])
        #expect(throws: MultimodalError.self) { try prompt.place([]) }
        #expect(throws: MultimodalError.self) { try prompt.place([Matrix(rows: 3, cols: model.config.hiddenSize)]) }
    }

    @Test func pixelsForAnotherProcessorAreRejected() throws {
        let llava = try ModelLoader.loadVisionLanguageModel(directory: Fixtures.directory("llava-tiny"))
        let qwen = try ModelLoader.loadVisionLanguageModel(directory: Fixtures.directory("qwen2-vl-tiny"))
        let clipPixels = try VisionReference("llava-tiny").preprocessed("noisy.jpg")
        let qwenPixels = try VisionReference("qwen2-vl-tiny").preprocessed("noisy.jpg")
        #expect(throws: MultimodalError.self) { try llava.encodeImage(qwenPixels) }
        #expect(throws: MultimodalError.self) { try qwen.encodeImage(clipPixels) }
        #expect(throws: MultimodalError.self) { try qwen.imageTokenCount(for: PreprocessedImage(pixelValues: qwenPixels.pixelValues, shape: qwenPixels.shape)) }
        let oddGrid = PreprocessedImage(pixelValues: [Float](repeating: 0, count: 3 * 1176), shape: [3, 1176], gridTHW: [1, 1, 3])
        #expect(throws: MultimodalError.self) { try qwen.encodeImage(oddGrid) }
    }

    @Test func misshapenFeaturesAndPositionsAreRejected() throws {
        let llava = try ModelLoader.loadVisionLanguageModel(directory: Fixtures.directory("llava-tiny"))
        let language = llava.languageModel
        let cache = language.makeCache(capacity: 8)
        let narrow = ImageFeatures(features: Matrix(rows: 2, cols: 3), offset: 1)
        #expect(throws: ForwardError.self) { try language.forward([1, 2, 3], images: [narrow], mrope: nil, cache: cache, allLogits: false) }
        let positions = MRoPEPositions(axes: [[0, 1, 2], [0, 1, 2], [0, 1, 2]], delta: 0)
        #expect(throws: ForwardError.self) { try language.forward([1, 2, 3], images: [], mrope: positions, cache: cache, allLogits: false) }
        #expect(cache.count == 0)
    }

    @Test func loadersRefuseTheOtherKindOfFolder() throws {
        #expect(throws: ModelLoadingError.self) { try ModelLoader.load(directory: Fixtures.directory("llava-tiny")) }
        #expect(throws: ModelLoadingError.self) { try ModelLoader.loadVisionLanguageModel(directory: Fixtures.directory("llama-gqa")) }
        #expect(throws: ModelLoadingError.self) { try ModelLoader.loadVisionTower(directory: Fixtures.directory("qwen2-vl-tiny")) }
        #expect(try ModelLoader.architecture(directory: Fixtures.directory("qwen2-vl-tiny")) == "Qwen2VLForConditionalGeneration")
    }

    @Test func missingVisionWeightsNameTheTensor() throws {
        let folder = try Fixtures.scratchCopy("qwen2-vl-tiny")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var vision = try #require(json["vision_config"] as? [String: Any])
        vision["depth"] = 3
        json["vision_config"] = vision
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        #expect(throws: ModelLoadingError.missingTensor(name: "visual.blocks.2.norm1.weight", path: folder.appendingPathComponent("model.safetensors").path)) {
            try ModelLoader.loadVisionLanguageModel(directory: folder)
        }
    }

    @Test func mropePositionsFollowGetRopeIndex() throws {
        // text(2) image(grid 1×4×6 → 2×3 merged) text(2): transformers' get_rope_index by hand.
        let positions = MRoPEPositions(promptLength: 10, images: [(ImageTokenSpan(offset: 2, length: 6), [1, 4, 6])], spatialMergeSize: 2)
        #expect(positions.axes[0] == [0, 1, 2, 2, 2, 2, 2, 2, 5, 6])
        #expect(positions.axes[1] == [0, 1, 2, 2, 2, 3, 3, 3, 5, 6])
        #expect(positions.axes[2] == [0, 1, 2, 3, 4, 2, 3, 4, 5, 6])
        #expect(positions.delta == 7 - 10)
        #expect(positions.position(axis: 1, token: 12) == 9)
        let decoded = try JSONDecoder().decode(MRoPEPositions.self, from: JSONEncoder().encode(positions))
        #expect(decoded == positions)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MRoPEPositions.self, from: Data(#"{"axes": [[0, 1], [0]], "delta": 0}"#.utf8))
        }
    }
}
