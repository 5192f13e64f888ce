import Diffusion
import Foundation
import ServingAPI
import Testing

/// Karras sigmas and timestep spacing set over a folder's `scheduler_config.json`, as diffusers'
/// `Scheduler.from_config(config, use_karras_sigmas=…, timestep_spacing=…)`: whole pipelines on sd1-tiny
/// and sdxl-tiny, text-to-image and image-to-image, against diffusers (fixtures/diffusion/pipelines/override-cases.json, written by
/// scripts/fixtures/diffusion_references.py pipelines-overrides), and the settings' resolution.
@Suite struct SchedulerOverrideTests {
    static let cases = PipelineCase.load("pipelines/override-cases.json")

    @Test func casesCoverKarrasAndSpacing() {
        #expect(Self.cases.count >= 9)
        #expect(Self.cases.contains { $0.folder == "sdxl-tiny" && $0.overrides.useKarrasSigmas == true })
        #expect(Self.cases.filter { $0.image != nil && $0.overrides.useKarrasSigmas == true }.count >= 2)
        for (kind, karras) in [("euler", true), ("dpmpp-2m", true), ("ddim", false)] {
            #expect(Self.cases.contains { $0.scheduler == kind && $0.overrides.useKarrasSigmas == (karras ? true : nil) })
        }
        #expect(Self.cases.contains { $0.scheduler == nil && $0.overrides.timestepSpacing == .trailing })
    }

    /// The recorded timesteps (Karras Euler's fractional ones within 1e-3: numpy's float32 log may
    /// differ by an ulp), then the final latents and image as every pipeline case (image ≤ 1e-3).
    @Test(arguments: cases)
    func matchesDiffusers(_ c: PipelineCase) throws {
        let pipeline = try c.pipeline()
        let request = try c.request()
        let expected = try #require(c.timesteps)
        let timesteps = try pipeline.scheduler(request.scheduler, overrides: request.schedulerOverrides, steps: c.steps).timesteps
        #expect(timesteps.count == expected.count)
        for (ours, theirs) in zip(timesteps, expected) { #expect(abs(ours - theirs) <= 1e-3, "\(c.name): \(timesteps) vs \(expected)") }
        // Without the overrides the folder's settings give other timesteps: the case tests the override.
        #expect(try pipeline.scheduler(request.scheduler, steps: c.steps).timesteps != timesteps)
        try c.expectMatchesReference(try pipeline.generate(request))
    }

    static var sd15: [String: Any] { ["_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                                      "beta_end": 0.012, "skip_prk_steps": true, "steps_offset": 1, "set_alpha_to_one": false,
                                      "timestep_spacing": "leading"] }

    @Test func overridesWinOverTheFolderAndTheDefaults() throws {
        let trailing = SchedulerOverrides(timestepSpacing: .trailing)
        #expect(try SchedulerConfig(json: Self.sd15, kind: .ddim, overrides: trailing).timestepSpacing == .trailing)
        #expect(try SchedulerConfig(json: Self.sd15, kind: .euler).timestepSpacing == .leading)
        #expect(try SchedulerConfig(json: Self.sd15, kind: .euler, overrides: SchedulerOverrides(timestepSpacing: .linspace)).timestepSpacing == .linspace)
        var karrasFolder = Self.sd15
        karrasFolder["_class_name"] = "EulerDiscreteScheduler"
        karrasFolder["use_karras_sigmas"] = true
        #expect(try SchedulerConfig(json: karrasFolder).useKarrasSigmas)
        #expect(try !SchedulerConfig(json: karrasFolder, overrides: SchedulerOverrides(useKarrasSigmas: false)).useKarrasSigmas)
        #expect(try SchedulerConfig(json: Self.sd15, kind: .dpmSolverMultistep, overrides: SchedulerOverrides(useKarrasSigmas: true)).useKarrasSigmas)
        // Turning Karras sigmas off is what every scheduler does already.
        #expect(try !SchedulerConfig(json: Self.sd15, overrides: SchedulerOverrides(useKarrasSigmas: false)).useKarrasSigmas)
    }

    /// diffusers' DDIM, Euler ancestral and PNDM classes take no use_karras_sigmas (from_config drops
    /// it silently); asking for them is an error that names the setting and the schedulers that have it.
    @Test(arguments: [SchedulerKind.ddim, .eulerAncestral, .pndm])
    func karrasOnASchedulerWithoutThemIsRefused(_ kind: SchedulerKind) {
        #expect(!kind.offersKarrasSigmas)
        let karras = SchedulerOverrides(useKarrasSigmas: true)
        #expect(throws: DiffusionError.invalidArgument(
            "the \(kind.rawValue) scheduler (diffusers' \(kind.className)) has no Karras sigmas (use_karras_sigmas); euler and dpmpp-2m have them")) {
            try SchedulerConfig(json: Self.sd15, kind: kind, overrides: karras)
        }
    }
}
