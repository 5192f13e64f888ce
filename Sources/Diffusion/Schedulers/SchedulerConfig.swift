import Foundation
import ServingAPI

/// What the model predicts.
public enum PredictionType: String, Sendable {
    case epsilon
    case vPrediction = "v_prediction"
}

/// A scheduler configuration resolved as `diffusers`' `from_config` does: the keys present in a
/// folder's `scheduler_config.json` (less `_`-prefixed ones and those listed in `_use_default_values`)
/// override the chosen scheduler's own defaults; keys that scheduler does not take are ignored.
///
/// ```swift
/// // An SD 1.5 folder (PNDM, no timestep_spacing key) run with Euler: linspace spacing, Euler's default.
/// let config = try SchedulerConfig(json: folderConfig, kind: .euler)
/// ```
public struct SchedulerConfig: Sendable {
    public var kind: SchedulerKind
    public var numTrainTimesteps = 1000
    public var betaStart = 0.0001
    public var betaEnd = 0.02
    public var betaSchedule = "linear"
    public var trainedBetas: [Double]?
    public var predictionType = PredictionType.epsilon
    public var timestepSpacing: TimestepSpacing
    public var stepsOffset = 0
    /// DDIM: clamp the predicted original sample to ±`clipSampleRange`.
    public var clipSample: Bool
    public var clipSampleRange = 1.0
    /// DDIM / PNDM: the final ᾱ is 1 instead of ᾱ₀.
    public var setAlphaToOne: Bool
    /// Euler / DPM-Solver: Karras et al. sigmas.
    public var useKarrasSigmas = false
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    /// Euler / DPM-Solver: the last sigma is 0 (`zero`) or σ at t = 0 (`sigma_min`).
    public var finalSigmaIsZero = true
    /// DPM-Solver.
    public var solverOrder = 2
    public var solverTypeHeun = false
    public var lowerOrderFinal = true
    public var eulerAtFinal = false
    public var lambdaMinClipped = -Double.infinity

    /// The chosen scheduler's defaults.
    public init(kind: SchedulerKind) {
        self.kind = kind
        switch kind {
        case .ddim:
            timestepSpacing = .leading
            clipSample = true
            setAlphaToOne = true
        case .pndm:
            timestepSpacing = .leading
            clipSample = false
            setAlphaToOne = false
        case .euler, .eulerAncestral, .dpmSolverMultistep:
            timestepSpacing = .linspace
            clipSample = false
            setAlphaToOne = false
        }
    }

    /// Reads `scheduler_config.json` from `directory` and resolves it for `kind` (the file's own
    /// class when `nil`).
    public static func load(directory: URL, kind: SchedulerKind? = nil, overrides: SchedulerOverrides = SchedulerOverrides())
        throws(DiffusionError) -> SchedulerConfig {
        let url = directory.appendingPathComponent("scheduler_config.json")
        return try SchedulerConfig(json: readConfigObject(url), kind: kind, overrides: overrides, file: url.path)
    }

    /// Resolves a parsed `scheduler_config.json` for `kind` (the file's own `_class_name` when `nil`),
    /// then applies `overrides`.
    public init(json: [String: Any], kind: SchedulerKind? = nil, overrides: SchedulerOverrides = SchedulerOverrides(),
                file: String = "scheduler_config.json") throws(DiffusionError) {
        let className = json["_class_name"] as? String
        guard let kind = kind ?? className.flatMap(SchedulerKind.init(className:)) else {
            throw .unsupported(file: file, detail: "scheduler class \(className ?? "(none)"); supported: "
                + SchedulerKind.allCases.map(\.className).joined(separator: ", "))
        }
        self.init(kind: kind)
        let defaulted = Set(json["_use_default_values"] as? [String] ?? [])
        let keys = json.filter { !$0.key.hasPrefix("_") && !defaulted.contains($0.key) && !($0.value is NSNull) }
        let reader = ConfigReader(values: keys, file: file)

        numTrainTimesteps = try reader.int("num_train_timesteps") ?? numTrainTimesteps
        betaStart = try reader.double("beta_start") ?? betaStart
        betaEnd = try reader.double("beta_end") ?? betaEnd
        betaSchedule = try reader.string("beta_schedule") ?? betaSchedule
        trainedBetas = try reader.doubles("trained_betas")
        if let prediction = try reader.string("prediction_type") {
            guard let type = PredictionType(rawValue: prediction) else {
                throw .unsupported(file: file, detail: "prediction_type \(prediction) (epsilon and v_prediction are supported)")
            }
            predictionType = type
        }
        if let spacing = try reader.string("timestep_spacing") {
            guard let value = TimestepSpacing(rawValue: spacing) else {
                throw .invalidConfig(file: file, detail: "timestep_spacing \(spacing) is not leading, trailing or linspace")
            }
            timestepSpacing = value
        }
        stepsOffset = try reader.int("steps_offset") ?? stepsOffset
        guard betaSchedule == "linear" || betaSchedule == "scaled_linear" || trainedBetas != nil else {
            throw .unsupported(file: file, detail: "beta_schedule \(betaSchedule) (linear and scaled_linear are supported)")
        }
        if try reader.bool("rescale_betas_zero_snr") == true { throw .unsupported(file: file, detail: "rescale_betas_zero_snr") }

        switch kind {
        case .ddim:
            clipSample = try reader.bool("clip_sample") ?? clipSample
            clipSampleRange = try reader.double("clip_sample_range") ?? clipSampleRange
            setAlphaToOne = try reader.bool("set_alpha_to_one") ?? setAlphaToOne
            if try reader.bool("thresholding") == true { throw .unsupported(file: file, detail: "thresholding") }
        case .pndm:
            setAlphaToOne = try reader.bool("set_alpha_to_one") ?? setAlphaToOne
            if try reader.bool("skip_prk_steps") != true {
                throw .unsupported(file: file, detail: "PNDM without skip_prk_steps (its Runge-Kutta warm-up steps)")
            }
        case .euler, .eulerAncestral, .dpmSolverMultistep:
            break
        }
        if kind == .euler || kind == .dpmSolverMultistep {
            useKarrasSigmas = try reader.bool("use_karras_sigmas") ?? false
            if let type = try reader.string("final_sigmas_type") {
                guard type == "zero" || type == "sigma_min" else {
                    throw .invalidConfig(file: file, detail: "final_sigmas_type \(type) is not zero or sigma_min")
                }
                finalSigmaIsZero = type == "zero"
            }
            for key in ["use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas"]
                where try reader.bool(key) == true {
                throw .unsupported(file: file, detail: key)
            }
        }
        if kind == .euler {
            sigmaMin = try reader.double("sigma_min")
            sigmaMax = try reader.double("sigma_max")
            if let interpolation = try reader.string("interpolation_type"), interpolation != "linear" {
                throw .unsupported(file: file, detail: "interpolation_type \(interpolation)")
            }
            if let type = try reader.string("timestep_type"), type != "discrete" {
                throw .unsupported(file: file, detail: "timestep_type \(type)")
            }
        }
        if kind == .dpmSolverMultistep {
            solverOrder = try reader.int("solver_order") ?? solverOrder
            guard solverOrder == 1 || solverOrder == 2 else {
                throw .unsupported(file: file, detail: "solver_order \(solverOrder) (1 and 2 are supported)")
            }
            if let algorithm = try reader.string("algorithm_type"), algorithm != "dpmsolver++", algorithm != "deis" {
                throw .unsupported(file: file, detail: "algorithm_type \(algorithm) (dpmsolver++ is supported)")
            }
            if let solver = try reader.string("solver_type") { solverTypeHeun = solver == "heun" }
            lowerOrderFinal = try reader.bool("lower_order_final") ?? lowerOrderFinal
            eulerAtFinal = try reader.bool("euler_at_final") ?? eulerAtFinal
            lambdaMinClipped = try reader.double("lambda_min_clipped") ?? lambdaMinClipped
            if try reader.bool("thresholding") == true { throw .unsupported(file: file, detail: "thresholding") }
            if keys["variance_type"] != nil { throw .unsupported(file: file, detail: "variance_type") }
            if try reader.bool("use_dynamic_shifting") == true { throw .unsupported(file: file, detail: "use_dynamic_shifting") }
        }
        do { try overrides.check(for: kind) } catch { throw .invalidArgument(error.description) }
        timestepSpacing = overrides.timestepSpacing ?? timestepSpacing
        useKarrasSigmas = overrides.useKarrasSigmas ?? useKarrasSigmas
    }
}

/// Typed access to a JSON object's members, with errors naming the file and key.
struct ConfigReader {
    let values: [String: Any]
    let file: String

    func string(_ key: String) throws(DiffusionError) -> String? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw .invalidConfig(file: file, detail: "\(key) is not a string") }
        return string
    }

    func double(_ key: String) throws(DiffusionError) -> Double? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber else {
            throw .invalidConfig(file: file, detail: "\(key) is not a number")
        }
        return number.doubleValue
    }

    func int(_ key: String) throws(DiffusionError) -> Int? {
        guard let value = try double(key) else { return nil }
        guard value == value.rounded(), abs(value) < 1e15 else { throw .invalidConfig(file: file, detail: "\(key) is not an integer") }
        return Int(value)
    }

    func bool(_ key: String) throws(DiffusionError) -> Bool? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let flag = value as? Bool else { throw .invalidConfig(file: file, detail: "\(key) is not true or false") }
        return flag
    }

    func doubles(_ key: String) throws(DiffusionError) -> [Double]? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let list = value as? [NSNumber] else { throw .invalidConfig(file: file, detail: "\(key) is not a list of numbers") }
        return list.map(\.doubleValue)
    }
}
