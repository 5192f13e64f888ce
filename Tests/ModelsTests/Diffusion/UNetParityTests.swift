import Foundation
import Testing
import Tensor
@testable import Models

/// One UNet call per fixture against diffusers' `UNet2DConditionModel` (two rows at timesteps 981
/// and 421 with their own encoder states; SDXL with text_embeds and time_ids).
struct UNetParityTests {
    /// Measured: at most 2.3e-6 (float32 against diffusers in float32, outputs of scale ~0.5).
    static let tolerance: Float = 2e-5

    @Test(arguments: ["sd1-tiny", "sd2-tiny", "sdxl-tiny"])
    func noisePredictionMatchesDiffusers(fixture: String) throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder(fixture).appendingPathComponent("unet"))
        let reference = try DiffusionFixtures.reference("\(fixture)-unet")
        let outputs = try unet.predictNoise(try reference.denoiserRows())
        #expect(outputs.count == 2)
        for (i, output) in outputs.enumerated() {
            let difference = try maxDifference(output, reference, "noise_pred", row: i)
            #expect(difference < Self.tolerance, "\(fixture) row \(i): max |Δ| \(difference)")
        }
    }

    @Test func rowsAreIndependentOfTheirBatch() throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sd1-tiny").appendingPathComponent("unet"))
        let rows = try DiffusionFixtures.reference("sd1-tiny-unet").denoiserRows()
        let together = try unet.predictNoise(rows)
        let alone = try unet.predictNoise([rows[1]])
        #expect(together[1].pixels.toArray() == alone[0].pixels.toArray())
    }

    @Test func sdxlWithoutAddedConditionsIsATypedError() throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sdxl-tiny").appendingPathComponent("unet"))
        var row = try DiffusionFixtures.reference("sdxl-tiny-unet").denoiserRows()[0]
        row.timeIds = nil
        #expect(throws: DenoiserInputError.missingAddedConditions) { try unet.downPass(row) }
        row.timeIds = [1, 2, 3]
        #expect(throws: DenoiserInputError.addedConditionsSize(textEmbeds: 32, timeIds: 3, expected: 80)) { try unet.downPass(row) }
    }

    @Test func wrongLatentShapesAreTypedErrors() throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sd1-tiny").appendingPathComponent("unet"))
        let row = try DiffusionFixtures.reference("sd1-tiny-unet").denoiserRows()[0]
        var odd = row
        odd.sample = FeatureMap(height: 6, width: 8, channels: 4)
        #expect(throws: DenoiserInputError.sampleSize(height: 6, width: 8, multiple: 4)) { try unet.downPass(odd) }
        var channels = row
        channels.sample = FeatureMap(height: 8, width: 8, channels: 3)
        #expect(throws: DenoiserInputError.sampleChannels(expected: 4, actual: 3)) { try unet.downPass(channels) }
        var context = row
        context.encoderHiddenStates = Matrix(rows: 77, cols: 16)
        #expect(throws: DenoiserInputError.contextWidth(expected: 32, actual: 16)) { try unet.downPass(context) }
    }
}
