import Foundation
import Testing
import Tensor
@testable import Models

/// `AutoencoderKL` encode (posterior mean, std, a sample) and decode against diffusers.
struct VAEParityTests {
    /// Measured: at most 2.3e-6 (float32 against diffusers in float32, outputs of scale ~0.5).
    static let tolerance: Float = 2e-5

    @Test(arguments: ["sd1-tiny", "sdxl-tiny"])
    func encodeAndDecodeMatchDiffusers(fixture: String) throws {
        let vae = try AutoencoderKL(directory: DiffusionFixtures.folder(fixture).appendingPathComponent("vae"))
        let reference = try DiffusionFixtures.reference("\(fixture)-vae")
        let posterior = vae.encode(try reference.map("image"))
        let mean = try maxDifference(posterior.mean, reference, "latent_mean")
        #expect(mean < Self.tolerance, "mean max |Δ| \(mean)")
        let std = try maxDifference(posterior.std, reference, "latent_std")
        #expect(std < Self.tolerance, "std max |Δ| \(std)")
        #expect(try maxDifference(posterior.sample(noise: try reference.map("noise")), reference, "latent_sample") < Self.tolerance)
        let decoded = vae.decode(try reference.map("latents"))
        let difference = try maxDifference(decoded, reference, "decoded")
        #expect(difference < Self.tolerance, "decode max |Δ| \(difference)")
        #expect(vae.scaleFactor == 2)
    }

    @Test func scalingFactorsComeFromTheConfig() throws {
        #expect(try AutoencoderKL(directory: DiffusionFixtures.folder("sd1-tiny").appendingPathComponent("vae")).scalingFactor == 0.18215)
        #expect(try AutoencoderKL(directory: DiffusionFixtures.folder("sdxl-tiny").appendingPathComponent("vae")).scalingFactor == 0.13025)
    }
}
