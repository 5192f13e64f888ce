import Foundation
import Testing
@testable import Models

/// Broken diffusers folders fail with errors naming the file and the tensor or setting at fault.
struct BrokenDiffusionFolderTests {
    func loadError(_ load: () throws -> Void) -> ModelLoadingError? {
        do { try load() } catch let error as ModelLoadingError { return error } catch { return nil }
        return nil
    }

    @Test func unknownClassIsNamed() throws {
        let folder = try DiffusionFixtures.scratchCopy("sd1-tiny/unet")
        try DiffusionFixtures.editConfig(folder) { $0["_class_name"] = "UNet3DConditionModel" }
        let error = loadError { _ = try UNet2DConditionModel(directory: folder) }
        #expect(error == .unsupportedClass(name: "UNet3DConditionModel", path: folder.appendingPathComponent("config.json").path,
                                           supported: ["UNet2DConditionModel"]))
        // A VAE folder is not a UNet.
        let vae = DiffusionFixtures.folder("sd1-tiny/vae")
        #expect(loadError { _ = try UNet2DConditionModel(directory: vae) } == .unsupportedClass(
            name: "AutoencoderKL", path: vae.appendingPathComponent("config.json").path, supported: ["UNet2DConditionModel"]))
    }

    @Test func misShapedTensorNamesFileAndTensor() throws {
        let folder = try DiffusionFixtures.scratchCopy("sd1-tiny/unet")
        try DiffusionFixtures.editConfig(folder) { $0["cross_attention_dim"] = 48 }
        let error = loadError { _ = try UNet2DConditionModel(directory: folder) }
        #expect(error == .shapeMismatch(tensor: "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                                        path: folder.appendingPathComponent("diffusion_pytorch_model.safetensors").path,
                                        expected: [16, 48], actual: [16, 32]))
    }

    @Test func missingTensorNamesFileAndTensor() throws {
        let folder = try DiffusionFixtures.scratchCopy("sd1-tiny/unet")
        try DiffusionFixtures.editConfig(folder) { $0["layers_per_block"] = 3 }
        let error = loadError { _ = try UNet2DConditionModel(directory: folder) }
        #expect(error == .missingTensor(name: "down_blocks.0.resnets.2.norm1.weight",
                                        path: folder.appendingPathComponent("diffusion_pytorch_model.safetensors").path))
    }

    @Test func missingShardIsNamed() throws {
        let folder = try DiffusionFixtures.scratchCopy("sdxl-tiny/unet")
        let shard = folder.appendingPathComponent("diffusion_pytorch_model-00003-of-00007.safetensors")
        try FileManager.default.removeItem(at: shard)
        guard case let .missingShard(path, _)? = loadError({ _ = try UNet2DConditionModel(directory: folder) }) else {
            Issue.record("expected a missing-shard error")
            return
        }
        #expect(path == shard.path)
    }

    @Test func missingWeightsAndConfigAreNamed() throws {
        let folder = try DiffusionFixtures.scratchCopy("sd1-tiny/vae")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        #expect(loadError { _ = try AutoencoderKL(directory: folder) } == .missingWeights(directory: folder.path, fileStem: "diffusion_pytorch_model"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("config.json"))
        #expect(loadError { _ = try AutoencoderKL(directory: folder) } == .missingConfig(path: folder.appendingPathComponent("config.json").path))
    }

    @Test func unsupportedSettingsAreRefusedNotIgnored() throws {
        let folder = try DiffusionFixtures.scratchCopy("sdxl-tiny/unet")
        try DiffusionFixtures.editConfig(folder) { $0["addition_embed_type"] = "text_image" }
        guard case let .unsupportedConfiguration(_, detail)? = loadError({ _ = try UNet2DConditionModel(directory: folder) }) else {
            Issue.record("expected an unsupported-configuration error")
            return
        }
        #expect(detail.contains("text_image"))
        let sd1 = try DiffusionFixtures.scratchCopy("sd1-tiny/unet")
        try DiffusionFixtures.editConfig(sd1) { $0["class_embed_type"] = "timestep" }
        guard case let .unsupportedConfiguration(_, classDetail)? = loadError({ _ = try UNet2DConditionModel(directory: sd1) }) else {
            Issue.record("expected an unsupported-configuration error")
            return
        }
        #expect(classDetail.contains("class_embed_type"))
    }
}
