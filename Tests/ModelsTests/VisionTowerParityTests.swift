import Foundation
import Testing
@testable import Models

/// Standalone CLIP and SigLIP towers against transformers' CLIPVisionModel / SiglipVisionModel.
struct VisionTowerParityTests {
    static let tolerance: Float = 1e-4

    @Test(arguments: ["clip-vision-tiny", "siglip-vision-tiny"])
    func outputsMatchTransformers(fixture: String) throws {
        let reference = try VisionReference(fixture)
        let tower = try ModelLoader.loadVisionTower(directory: reference.directory)
        let images = try #require(reference.json["images"] as? [String: Any])
        #expect(images.count == VisionReference.images.count)
        for (name, entry) in images {
            let expected = try #require(entry as? [String: Any])
            let output = try tower.forward(try reference.preprocessed(name))
            #expect(output.hiddenStates.count == tower.config.numLayers + 1)
            #expect(maxScaledDifference(output.lastHiddenState.rowArrays, try reference.rows(expected["last_hidden_state"])) < Self.tolerance, "\(name)")
            #expect(maxScaledDifference(output.poolerOutput.rowArrays, try reference.rows(expected["pooler_output"])) < Self.tolerance, "\(name)")
            let penultimate = output.hiddenStates[output.hiddenStates.count - 2]
            #expect(maxScaledDifference(penultimate.rowArrays, try reference.rows(expected["penultimate_hidden_state"])) < Self.tolerance, "\(name)")
        }
    }

    @Test func wrongPixelLayoutIsATypedError() throws {
        let clip = try VisionReference("clip-vision-tiny")
        let tower = try ModelLoader.loadVisionTower(directory: clip.directory)
        // SigLIP's processor gives a 3 × 32 × 32 image too, so take Qwen2-VL's patch rows instead.
        let patches = try VisionReference("qwen2-vl-tiny").preprocessed("gradient.png")
        #expect(throws: MultimodalError.self) { try tower.forward(patches) }
    }
}
