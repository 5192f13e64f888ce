/// The schedulers Tessera implements, by their command-line names.
public enum SchedulerKind: String, CaseIterable, Sendable {
    case ddim
    case euler
    case eulerAncestral = "euler-a"
    case dpmSolverMultistep = "dpmpp-2m"
    case pndm

    /// The `diffusers` class a `scheduler_config.json` names for this scheduler.
    public var className: String {
        switch self {
        case .ddim: "DDIMScheduler"
        case .euler: "EulerDiscreteScheduler"
        case .eulerAncestral: "EulerAncestralDiscreteScheduler"
        case .dpmSolverMultistep: "DPMSolverMultistepScheduler"
        case .pndm: "PNDMScheduler"
        }
    }

    public init?(className: String) {
        guard let kind = Self.allCases.first(where: { $0.className == className }) else { return nil }
        self = kind
    }

    /// Whether diffusers' class takes `use_karras_sigmas` (DDIM, Euler ancestral and PNDM have no
    /// such setting: their `from_config` drops the key).
    public var offersKarrasSigmas: Bool { self == .euler || self == .dpmSolverMultistep }
}

/// How inference timesteps are spread over the training timesteps (`timestep_spacing`).
public enum TimestepSpacing: String, CaseIterable, Sendable {
    case leading, trailing, linspace
}

/// Settings a request puts over the folder's `scheduler_config.json`, as keyword arguments of
/// diffusers' `from_config` do; `nil` keeps the resolved value (the folder's key, else the chosen
/// scheduler's default).
///
/// ```swift
/// // Scheduler.from_config(cfg, use_karras_sigmas=True, timestep_spacing="trailing")
/// let overrides = SchedulerOverrides(useKarrasSigmas: true, timestepSpacing: .trailing)
/// let config = try SchedulerConfig(json: folderConfig, kind: .dpmSolverMultistep, overrides: overrides)
/// ```
public struct SchedulerOverrides: Sendable, Hashable {
    /// `use_karras_sigmas`.
    public var useKarrasSigmas: Bool?
    /// `timestep_spacing`.
    public var timestepSpacing: TimestepSpacing?

    public init(useKarrasSigmas: Bool? = nil, timestepSpacing: TimestepSpacing? = nil) {
        self.useKarrasSigmas = useKarrasSigmas
        self.timestepSpacing = timestepSpacing
    }

    /// Refuses Karras sigmas for a scheduler diffusers gives none: its `from_config` would drop
    /// `use_karras_sigmas` without a word, and a setting is never silently ignored.
    public func check(for kind: SchedulerKind) throws(ImageGenerationError) {
        guard useKarrasSigmas == true, !kind.offersKarrasSigmas else { return }
        throw .invalidRequest("the \(kind.rawValue) scheduler (diffusers' \(kind.className)) has no Karras sigmas (use_karras_sigmas); "
            + SchedulerKind.allCases.filter(\.offersKarrasSigmas).map(\.rawValue).joined(separator: " and ") + " have them",
                              param: "use_karras_sigmas")
    }
}

