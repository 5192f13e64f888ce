/// The policies one serving system runs, by their ``PolicyCatalog`` names: how requests are routed
/// to instances, how images to generate are routed to diffusion workers, how a request's images are spread over encoders, how waiting prefills are ordered,
/// which running images share a UNet step, how long a step that decodes may take, and which fleet
/// planners adapt the fleet, each on its own schedule.
///
/// Topology files (`tessera serve --topology`) and simulation configs (`tessera simulate`) decode
/// these same fields with the same defaults, so a system simulated is the system served:
///
/// ```yaml
/// router: modality
/// encodeDispatcher: least-pending-image-tokens
/// imageRouter: adapter-affinity
/// imageBatcher: mixed-lora
/// stepTimeTargetMs: 30
/// planners:
///   - elastic-partition                                   # the paper's defaults
///   - {name: stage-autoscaler, interval: 30, maximumInstances: 8}
/// ```
public struct PolicySpec: Sendable, Hashable, Codable {
    public var router = "least-loaded"
    public var encodeDispatcher = "least-loaded"
    public var imageRouter = "least-queued-images"
    public var batcher = "fcfs"
    /// One LoRA set per UNet call by default: on CPU it beat mixing LoRAs in every measured run
    /// (docs/benchmarks.md, images (c)), as the unmerged low-rank products cost more than merges.
    public var imageBatcher = "lora-homogeneous"
    /// Milliseconds a step that decodes should take at most: its prompt tokens are cut by
    /// ``StepTimeBudget``, live with the engine's measured step times (the workers'
    /// `--step-time-target-ms`), simulated with the cost model's. 0: the token budget alone.
    public var stepTimeTargetMs: Double = 50
    public var planners: [PlannerSpec] = []

    public init(router: String = "least-loaded", encodeDispatcher: String = "least-loaded", imageRouter: String = "least-queued-images",
                batcher: String = "fcfs", imageBatcher: String = "lora-homogeneous", stepTimeTargetMs: Double = 50, planners: [PlannerSpec] = []) {
        self.router = router
        self.encodeDispatcher = encodeDispatcher
        self.imageRouter = imageRouter
        self.batcher = batcher
        self.imageBatcher = imageBatcher
        self.stepTimeTargetMs = stepTimeTargetMs
        self.planners = planners
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case router, encodeDispatcher, imageRouter, batcher, imageBatcher, stepTimeTargetMs, planners
    }

    /// The keys these fields take in a config, beside the config's own.
    public static let keys = CodingKeys.allCases.map(\.stringValue)

    /// Reads the fields present (the rest keep their defaults) and checks every name against the
    /// catalog, so a misspelt policy is an error, not a silent default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        router = try c.decodeIfPresent(String.self, forKey: .router) ?? router
        encodeDispatcher = try c.decodeIfPresent(String.self, forKey: .encodeDispatcher) ?? encodeDispatcher
        imageRouter = try c.decodeIfPresent(String.self, forKey: .imageRouter) ?? imageRouter
        batcher = try c.decodeIfPresent(String.self, forKey: .batcher) ?? batcher
        imageBatcher = try c.decodeIfPresent(String.self, forKey: .imageBatcher) ?? imageBatcher
        stepTimeTargetMs = try c.decodeIfPresent(Double.self, forKey: .stepTimeTargetMs) ?? stepTimeTargetMs
        guard stepTimeTargetMs >= 0, stepTimeTargetMs.isFinite else {
            throw DecodingError.dataCorruptedError(forKey: .stepTimeTargetMs, in: c, debugDescription: "stepTimeTargetMs must be 0 or more")
        }
        planners = try c.decodeIfPresent([PlannerSpec].self, forKey: .planners) ?? planners
        do {
            try PolicyCatalog.validate(self)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .router, in: c, debugDescription: error.description)
        }
    }
}

/// One fleet planner by name, with options overriding the catalog's defaults (``PolicyCatalog/plannerOptions``).
/// Written as the bare name, or as an object with `name` and the options:
///
/// ```yaml
/// planners: [burst-tolerance, {name: role-switcher, interval: 1, cooldownRounds: 2}]
/// ```
public struct PlannerSpec: Sendable, Hashable, Codable, ExpressibleByStringLiteral {
    public var name: String
    public var options: [String: Double]

    public init(_ name: String, options: [String: Double] = [:]) {
        self.name = name
        self.options = options
    }

    public init(stringLiteral name: String) {
        self.init(name)
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            self.init(name)
            return
        }
        let c = try decoder.container(keyedBy: Key.self)
        var options: [String: Double] = [:]
        for key in c.allKeys where key.stringValue != "name" {
            options[key.stringValue] = try c.decode(Double.self, forKey: key)
        }
        self.init(try c.decode(String.self, forKey: Key(stringValue: "name")), options: options)
    }

    public func encode(to encoder: any Encoder) throws {
        guard !options.isEmpty else {
            var c = encoder.singleValueContainer()
            try c.encode(name)
            return
        }
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(name, forKey: Key(stringValue: "name"))
        for (key, value) in options.sorted(by: { $0.key < $1.key }) { try c.encode(value, forKey: Key(stringValue: key)) }
    }
}
