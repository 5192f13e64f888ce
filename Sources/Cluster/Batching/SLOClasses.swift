/// Named latency objectives a request picks by class (its `slo_class`): what a request is held to
/// for SLO attainment (the planners' and the benchmarks'), and what the SLO-aware batch policies
/// order by: UELLM's SLO-ODBS (arXiv 2409.14961, §4.2) by the TTFT objective, ModServe's
/// short-first scheduling (arXiv 2502.00937, §5.3) by a virtual deadline from it. The one SLO
/// concept of both executors: `tessera serve` (`--slo-class`) and its workers take it live, a
/// simulation config's `slo` decodes into it.
///
/// ```swift
/// let classes = try SLOClasses(definitions: ["tight=0.5:0.05", "relaxed=20"])
/// let slo = try classes.objective(for: "tight")   // LatencySLO(ttft: 0.5, tpot: 0.05)
/// let fallback = try classes.objective(for: nil)  // the first definition's (tight)
/// ```
///
/// As JSON: `{"classes": {"tight": {"ttft": 0.5, "tpot": 0.05}, "relaxed": {"ttft": 20, "tpot": 2}},
/// "defaultClass": "tight"}` (`defaultClass` may be left out when there is one class).
public struct SLOClasses: Sendable, Hashable, Codable {
    /// Objectives by class name.
    public private(set) var objectives: [String: LatencySLO]
    /// The class of a request that names none.
    public private(set) var defaultClass: String

    /// Three classes for a server started without its own: `interactive` (TTFT 1 s, TPOT 0.1 s),
    /// `standard` (10 s, 1 s, the default) and `batch` (60 s, 5 s).
    public static let standard = SLOClasses(
        objectives: ["interactive": LatencySLO(ttft: 1, tpot: 0.1), "standard": LatencySLO(ttft: 10, tpot: 1),
                     "batch": LatencySLO(ttft: 60, tpot: 5)],
        defaultClass: "standard")

    /// Classes from `objectives`; `defaultClass` must be one of them.
    public init(objectives: [String: LatencySLO], defaultClass: String) {
        precondition(objectives[defaultClass] != nil, "the default SLO class must be defined")
        self.objectives = objectives
        self.defaultClass = defaultClass
    }

    /// Classes from `NAME=TTFT[:TPOT]` definitions (seconds; TPOT defaults to a tenth of TTFT), the
    /// default being `defaultClass` or, when nil, the first definition.
    public init(definitions: [String], defaultClass: String? = nil) throws(ClusterError) {
        guard let first = definitions.first else { throw .invalidArgument("no SLO classes defined") }
        var objectives: [String: LatencySLO] = [:]
        for definition in definitions {
            let (name, slo) = try Self.parse(definition)
            guard objectives[name] == nil else { throw .invalidArgument("SLO class '\(name)' is defined twice") }
            objectives[name] = slo
        }
        var fallback = try Self.parse(first).name
        if let defaultClass { fallback = defaultClass }
        guard objectives[fallback] != nil else {
            throw .invalidArgument("the default SLO class '\(fallback)' is not among the defined ones (\(objectives.keys.sorted().joined(separator: ", ")))")
        }
        self.init(objectives: objectives, defaultClass: fallback)
    }

    /// The objective of class `name`, or of the default class when nil; an unknown name is an error
    /// whose message lists the known ones.
    public func objective(for name: String?) throws(ClusterError) -> LatencySLO {
        guard let slo = objectives[name ?? defaultClass] else {
            throw .invalidArgument("unknown slo_class '\(name ?? "")'; this server knows \(objectives.keys.sorted().joined(separator: ", "))")
        }
        return slo
    }

    /// One class, `name`, the default.
    public init(_ objective: LatencySLO, name: String = "standard") {
        self.init(objectives: [name: objective], defaultClass: name)
    }

    /// Every objective multiplied: TTFTs by `ttft`, TPOTs by `tpot` (objectives written in units
    /// of a reference latency, made seconds).
    public func scaled(ttft: Double, tpot: Double) -> SLOClasses {
        SLOClasses(objectives: objectives.mapValues { LatencySLO(ttft: $0.ttft * ttft, tpot: $0.tpot * tpot) }, defaultClass: defaultClass)
    }

    enum CodingKeys: String, CodingKey {
        case classes, defaultClass
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let objectives = try c.decode([String: LatencySLO].self, forKey: .classes)
        let named = try c.decodeIfPresent(String.self, forKey: .defaultClass)
        guard let fallback = named ?? (objectives.count == 1 ? objectives.keys.first : nil), objectives[fallback] != nil else {
            throw DecodingError.dataCorruptedError(forKey: .defaultClass, in: c, debugDescription: named.map {
                "the default SLO class '\($0)' is not among the defined ones (\(objectives.keys.sorted().joined(separator: ", ")))"
            } ?? "name the defaultClass of several SLO classes")
        }
        guard objectives.values.allSatisfy({ $0.ttft > 0 && $0.tpot > 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .classes, in: c, debugDescription: "SLO objectives must be positive")
        }
        self.init(objectives: objectives, defaultClass: fallback)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(objectives, forKey: .classes)
        try c.encode(defaultClass, forKey: .defaultClass)
    }

    /// The classes as `NAME=TTFT:TPOT` definitions, sorted by name.
    public var definitions: [String] {
        objectives.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.ttft):\($0.value.tpot)" }
    }

    /// `NAME=TTFT[:TPOT]` in seconds.
    static func parse(_ definition: String) throws(ClusterError) -> (name: String, slo: LatencySLO) {
        let parts = definition.split(separator: "=", maxSplits: 1).map(String.init)
        let values = parts.count == 2 ? parts[1].split(separator: ":").map { Double($0) } : []
        guard parts.count == 2, !parts[0].isEmpty, (1...2).contains(values.count),
              let ttft = values[0], ttft > 0, ttft.isFinite
        else { throw .invalidArgument("an SLO class is NAME=TTFT[:TPOT] in seconds, got '\(definition)'") }
        let tpot = values.count == 2 ? values[1] : ttft / 10
        guard let tpot, tpot > 0, tpot.isFinite else { throw .invalidArgument("the TPOT of SLO class '\(parts[0])' must be a positive number") }
        return (parts[0], LatencySLO(ttft: ttft, tpot: tpot))
    }
}
