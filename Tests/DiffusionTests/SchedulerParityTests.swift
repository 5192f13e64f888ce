import Foundation
import ServingAPI
import Testing
@testable import Diffusion

/// One recorded `diffusers` run: a folder's scheduler config, the scheduler chosen for it, and every step.
struct SchedulerCase: @unchecked Sendable, CustomTestStringConvertible {
    let name: String
    let raw: [String: Any]
    var testDescription: String { name }

    static func all() throws -> [SchedulerCase] {
        let cases = try #require(try Fixtures.json("schedulers.json")["cases"] as? [[String: Any]])
        return cases.map { SchedulerCase(name: $0["name"] as! String, raw: $0) }
    }
}


@Suite("Scheduler parity with diffusers")
struct SchedulerParityTests {
    static let cases = (try? SchedulerCase.all()) ?? []

    @Test func fixtureCoversEveryScheduler() {
        #expect(Self.cases.count >= 30)
        for kind in SchedulerKind.allCases {
            #expect(Self.cases.contains { $0.raw["kind"] as? String == kind.rawValue })
        }
    }

    func scheduler(_ c: SchedulerCase) throws -> any DiffusionScheduler {
        var folder = try #require(c.raw["folder_config"] as? [String: Any])
        for (key, value) in try #require(c.raw["overrides"] as? [String: Any]) { folder[key] = value }
        let kind = try #require(SchedulerKind(rawValue: c.raw["kind"] as! String))
        let config = try SchedulerConfig(json: folder, kind: kind)
        return try makeScheduler(config, steps: c.raw["steps"] as! Int)
    }

    /// Timesteps exactly; sigmas and the initial noise scale to float32 rounding.
    @Test(arguments: cases)
    func tables(_ c: SchedulerCase) throws {
        let scheduler = try scheduler(c)
        let expected = try #require(c.raw["timesteps"] as? [Double])
        let karras = (c.raw["overrides"] as? [String: Any])?["use_karras_sigmas"] as? Bool == true
        if karras, c.raw["kind"] as? String == "euler" {
            // Fractional timesteps from log-σ interpolation: numpy's float32 log may differ by an ulp.
            #expect(scheduler.timesteps.count == expected.count)
            for (a, b) in zip(scheduler.timesteps, expected) { #expect(abs(a - b) <= 1e-3, "\(c.name): \(a) vs \(b)") }
        } else {
            #expect(scheduler.timesteps == expected, "\(c.name)")
        }
        let expectedSigma = Float((c.raw["init_noise_sigma"] as! NSNumber).doubleValue)
        #expect(abs(scheduler.initNoiseSigma - expectedSigma) <= 1e-6 * max(1, expectedSigma), "\(c.name)")
        let alphas = try #require(c.raw["alphas_cumprod"] as? [Any]).floats
        #expect(NoiseSchedule(scheduler.config).alphasCumprod == alphas, "\(c.name): ᾱ table")
        if let sigmas = (c.raw["sigmas"] as? [Any])?.floats {
            let ours = (scheduler as? EulerScheduler)?.sigmas ?? (scheduler as? DPMSolverMultistepScheduler)?.sigmas ?? []
            #expect(maxRelativeDifference(ours, sigmas) <= 1e-6, "\(c.name): sigmas \(ours) vs \(sigmas)")
        }
    }

    /// Each step on the recorded model outputs, chained through our own samples.
    @Test(arguments: cases)
    func steps(_ c: SchedulerCase) throws {
        var scheduler = try scheduler(c)
        var generator = TorchGenerator(seed: (c.raw["seed"] as! NSNumber).uint64Value)
        var sample = try #require(c.raw["initial"] as? [Any]).floats
        var first = 0
        if let img2img = c.raw["img2img"] as? [String: Any] {
            let timesteps = try #require(img2img["timesteps"] as? [Double])
            first = scheduler.timesteps.count - timesteps.count
            #expect(Array(scheduler.timesteps[first...]) == timesteps)
            let noised = scheduler.addNoise((img2img["image_latents"] as! [Any]).floats, noise: (img2img["noise"] as! [Any]).floats,
                                            step: first)
            #expect(maxAbsDifference(noised, (img2img["noised"] as! [Any]).floats) <= 1e-6, "\(c.name): add_noise")
        }
        let records = try #require(c.raw["records"] as? [[String: Any]])
        #expect(records.count == scheduler.timesteps.count - first)
        var worst: Float = 0
        for (offset, record) in records.enumerated() {
            let index = first + offset
            let scaled = scheduler.scaleModelInput(sample, step: index)
            #expect(maxRelativeDifference(scaled, (record["scaled"] as! [Any]).floats) <= 1e-5, "\(c.name) step \(index): scaled input")
            let output = (record["model_output"] as! [Any]).floats
            sample = scheduler.step(modelOutput: output, step: index, sample: sample, generator: &generator)
            let difference = maxRelativeDifference(sample, (record["prev_sample"] as! [Any]).floats)
            worst = max(worst, difference)
            #expect(difference <= 1e-5, "\(c.name) step \(index): \(difference)")
        }
        print("\(c.name): max relative step difference \(worst)")
    }

    @Test func fromConfigTakesTheChosenSchedulersDefaults() throws {
        let sd15: [String: Any] = ["_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                                   "beta_end": 0.012, "skip_prk_steps": true, "steps_offset": 1, "set_alpha_to_one": false]
        #expect(try SchedulerConfig(json: sd15, kind: .euler).timestepSpacing == .linspace)
        #expect(try SchedulerConfig(json: sd15, kind: .ddim).timestepSpacing == .leading)
        #expect(try SchedulerConfig(json: sd15).kind == .pndm)
        var defaulted = sd15
        defaulted["timestep_spacing"] = "leading"
        defaulted["_use_default_values"] = ["timestep_spacing"]
        #expect(try SchedulerConfig(json: defaulted, kind: .euler).timestepSpacing == .linspace)
    }

    @Test func unsupportedConfigsFailByName() {
        #expect(throws: DiffusionError.self) { try SchedulerConfig(json: ["_class_name": "LMSDiscreteScheduler"]) }
        #expect(throws: DiffusionError.self) { try SchedulerConfig(json: ["_class_name": "PNDMScheduler"]) }
        #expect(throws: DiffusionError.self) {
            try SchedulerConfig(json: ["_class_name": "DDIMScheduler", "prediction_type": "sample"])
        }
        #expect(throws: DiffusionError.self) {
            try makeScheduler(SchedulerConfig(kind: .ddim), steps: 0)
        }
    }
}
