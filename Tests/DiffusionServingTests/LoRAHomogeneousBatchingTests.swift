import Cluster
import Diffusion
import ServingAPI
import Testing
@testable import DiffusionServing

/// The engine under the `lora-homogeneous` step batcher: a UNet call takes only the images whose
/// LoRA set is the oldest image's, always on merged weights, and each image comes out exactly as
/// alone (merged, as `tessera generate-image`); the weights are pristine afterwards.
@Suite struct LoRAHomogeneousBatchingTests {
    @Test func oneLoRASetPerCallOnMergedWeightsGivesEachImageAsAlone() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let pristine = AddonServingTests.weights(pipeline)
        let images = [
            PipelineImageRequest(AddonServingTests.request("a red cube", seed: 21), loras: [LoRAUse(name: "peft", scale: 0.9)]),
            PipelineImageRequest(AddonServingTests.request("a blue sphere", seed: 22), loras: [LoRAUse(name: "kohya", scale: 1)]),
            PipelineImageRequest(AddonServingTests.request("a green cone", seed: 23), loras: [LoRAUse(name: "peft", scale: 0.9)]),
            PipelineImageRequest(AddonServingTests.request("a tree", seed: 24)),
        ]
        let config = DiffusionEngineConfig(maxBatchSize: 4, stepBatcher: try PolicyCatalog.imageBatcher("lora-homogeneous"))
        let engine = DiffusionEngine(pipeline: pipeline, config: config, registry: try AddonServingTests.registry())
        let served = try await StepBatchingTests.images(try engine.submit(images)).images
        #expect(AddonServingTests.weights(pipeline) == pristine)
        // peft@0.9's two images share four merged calls, then kohya's image has four, then the base image four.
        let statistics = engine.statistics()
        #expect(statistics.batchedCalls == 12 && statistics.batchedSteps == 16)
        #expect(statistics.mergedLoRACalls == 8 && statistics.unmergedLoRACalls == 0)
        for (i, image) in images.enumerated() {
            let expected = try AddonServingTests.alone(pipeline, image)
            let result = try #require(served[i])
            #expect(result.latents == expected.latents && result.rgb8 == expected.rgb8, "image \(i)")
        }
    }
}
