import Cluster
import Foundation

/// A simulation experiment: one trace, one cost model, one set of SLO classes, several systems
/// compared on it. `slo` is the ``SLOClasses`` a live server takes (a trace request's `slo_class`
/// picks one, none the default; an unknown class is an error), in seconds or, with
/// `"sloUnit": "lone-request"`, in multiples of the lone-request latencies (``SLOUnit``).
///
/// ```json
/// {"name": "epd-vs-pd", "costModel": "costmodels/internvl2-26b-a100.json",
///  "trace": {"synthetic": {"durationSeconds": 600, "ratePerSecond": 1}},
///  "slo": {"classes": {"standard": {"ttft": 5, "tpot": 5}}}, "sloUnit": "lone-request", "baseline": "pd",
///  "systems": [{"name": "pd", "deployment": {"slots": [...]}}], "sweep": [0.5, 1, 2]}
/// ```
public struct SimulationConfig: Sendable, Hashable, Codable {
    /// Where requests come from: a synthetic generator or a file (`jsonl`, `csv`, `azure-lmm`).
    public struct TraceSource: Sendable, Hashable, Codable {
        public var synthetic: SyntheticTraceGenerator.Options?
        public var file: String?
        public var format: String?
    }

    /// How the output-length predictor is trained (on synthetic prompts, see ``SyntheticPrompts``).
    public struct PredictorSource: Sendable, Hashable, Codable {
        public var trainingSamples: Int
        public var seed: UInt64
    }

    public var name: String
    /// Path of the cost-model file, relative to the config file.
    public var costModel: String
    public var trace: TraceSource
    public var slo: SLOClasses
    /// What `slo` is measured in; default seconds.
    public var sloUnit: SLOUnit?
    public var systems: [SystemSpec]
    /// System the others are compared with.
    public var baseline: String?
    /// Mean request rates to sweep (requests/s); for file traces, arrivals are rescaled to each rate.
    public var sweep: [Double]?
    /// SLO attainment that defines "under SLO" for the maximum-rate search (EPD uses 0.9).
    public var goodputAttainment: Double?
    public var predictor: PredictorSource?

    public static func load(from url: URL) throws -> SimulationConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SimulationError.unreadableFile(url.path, String(describing: error)) }
        do { return try JSONDecoder().decode(SimulationConfig.self, from: data) } catch {
            throw SimulationError.invalidFile(url.path, String(describing: error))
        }
    }
}
