import Foundation
import Testing
import Tensor
@testable import Models

/// `ControlNetModel` residuals against diffusers, and the UNet's up pass with them added.
struct ControlNetParityTests {
    /// Measured: at most 2.3e-6 (float32 against diffusers in float32, outputs of scale ~0.5).
    static let tolerance: Float = 2e-5

    @Test func residualsAndControlledNoiseMatchDiffusers() throws {
        let controlNet = try ControlNetModel(directory: DiffusionFixtures.folder("controlnet-sd1-tiny"))
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sd1-tiny").appendingPathComponent("unet"))
        let reference = try DiffusionFixtures.reference("controlnet-sd1-tiny")
        let scale = try reference.values("conditioning_scale")[0]
        for (i, row) in try reference.denoiserRows().enumerated() {
            let residuals = try controlNet.residuals(row, condition: try reference.map("controlnet_cond", row: i), scale: scale)
            #expect(residuals.down.count == unet.skipChannels.count)
            for (k, residual) in residuals.down.enumerated() {
                #expect(try maxDifference(residual, reference, "down_residual_\(k)", row: i) < Self.tolerance, "row \(i) residual \(k)")
            }
            #expect(try maxDifference(residuals.mid, reference, "mid_residual", row: i) < Self.tolerance)
            let noise = try unet.upPass(try unet.downPass(row), residuals: residuals)
            let difference = try maxDifference(noise, reference, "noise_pred", row: i)
            #expect(difference < Self.tolerance, "row \(i): max |Δ| \(difference)")
        }
    }

    /// diffusers' MultiControlNet sums residuals: two halves equal the whole.
    @Test func summedResidualsOfTwoHalvesEqualOneAtFullScale() throws {
        let controlNet = try ControlNetModel(directory: DiffusionFixtures.folder("controlnet-sd1-tiny"))
        let reference = try DiffusionFixtures.reference("controlnet-sd1-tiny")
        let row = try reference.denoiserRows()[0]
        let image = try reference.map("controlnet_cond", row: 0)
        let half = try controlNet.residuals(row, condition: image, scale: 0.5)
        let whole = try controlNet.residuals(row, condition: image, scale: 1)
        let sum = half + half
        for (a, b) in zip(sum.down + [sum.mid], whole.down + [whole.mid]) {
            #expect(zip(a.pixels.toArray(), b.pixels.toArray()).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        }
    }

    @Test func mismatchedResidualsAndControlImagesAreTypedErrors() throws {
        let controlNet = try ControlNetModel(directory: DiffusionFixtures.folder("controlnet-sd1-tiny"))
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sd1-tiny").appendingPathComponent("unet"))
        let reference = try DiffusionFixtures.reference("controlnet-sd1-tiny")
        let row = try reference.denoiserRows()[0]
        #expect(throws: DenoiserInputError.conditionSize(expected: [3, 16, 16], actual: [3, 8, 8])) {
            try controlNet.residuals(row, condition: FeatureMap(height: 8, width: 8, channels: 3), scale: 1)
        }
        let residuals = try controlNet.residuals(row, condition: try reference.map("controlnet_cond", row: 0), scale: 1)
        let short = ControlResiduals(down: Array(residuals.down.dropLast()), mid: residuals.mid)
        #expect(throws: DenoiserInputError.self) { try unet.upPass(try unet.downPass(row), residuals: short) }
    }
}
