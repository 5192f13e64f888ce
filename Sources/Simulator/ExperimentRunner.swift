import Cluster
import CoreUtilities
import Foundation

/// A system compared with the baseline at one rate: baseline ÷ system for latencies
/// (above 1 means the system is faster; TTFT, or image latency for a trace of images to generate
/// only), system ÷ baseline for instance-hours.
public struct Comparison: Sendable, Hashable, Codable {
    public var system: String
    public var rate: Double
    public var ttftMeanSpeedup: Double
    public var ttftP50Speedup: Double
    public var ttftP99Speedup: Double
    public var sloAttainment: Double
    public var baselineSloAttainment: Double
    public var instanceHoursRatio: Double
}

/// Everything one experiment produced.
public struct ExperimentReport: Sendable, Hashable, Codable {
    public var name: String
    public var model: String
    public var hardware: String
    /// The SLO classes the runs were judged by, in seconds.
    public var slo: SLOClasses
    /// Held-out accuracy of the output-length predictor, when one was trained.
    public var predictorAccuracy: Double?
    public var runs: [SimulationResult]
    /// Highest swept rate at which each system met `goodputAttainment`; 0 when none did.
    public var maxRateUnderSLO: [String: Double]
    public var comparisons: [Comparison]
    /// Splits chosen by the configuration optimiser, per system.
    public var optimizedSplits: [String: ConfigOptimizer.Candidate]
}

/// Runs a ``SimulationConfig``: builds the trace per rate, simulates every system, compares.
public enum ExperimentRunner {
    public static func run(config: SimulationConfig, baseDirectory: URL, sweep: [Double]? = nil) throws -> ExperimentReport {
        guard !config.systems.isEmpty else { throw SimulationError.invalidConfig("no systems to simulate") }
        let cost = try CostModel.load(from: baseDirectory.appendingPathComponent(config.costModel))
        var predictor: OutputLengthPredictor?
        var accuracy: Double?
        if let p = config.predictor, config.systems.contains(where: \.predictLengths) {
            guard p.trainingSamples >= 10 else { throw SimulationError.invalidConfig("predictor needs at least 10 training samples") }
            var rng = SplitMix64(seed: p.seed)
            let samples = (0..<p.trainingSamples).map { _ -> OutputLengthPredictor.Sample in
                let s = SyntheticPrompts.sample(&rng)
                return .init(prompt: s.prompt, promptTokens: s.prompt.split(separator: " ").count * 4 / 3 + 1, outputTokens: s.outputTokens)
            }
            let split = samples.count * 4 / 5
            let model = try OutputLengthPredictor.train(samples: Array(samples[..<split]))
            accuracy = model.accuracy(on: Array(samples[split...]))
            predictor = model
        }
        let rates: [Double] = sweep ?? config.sweep ?? []
        var runs: [SimulationResult] = []
        // Objectives come from the first trace so every rate is judged by the same bar.
        let slo = config.slo.resolved(config.sloUnit ?? .seconds, trace: try buildTrace(config.trace, rate: rates.first, baseDirectory: baseDirectory), costModel: cost)
        var systems = config.systems
        var splits: [String: ConfigOptimizer.Candidate] = [:]
        for (k, system) in systems.enumerated() {
            guard let search = system.optimizeSplit else { continue }
            let trace = try buildTrace(config.trace, rate: search.rate ?? rates.first, baseDirectory: baseDirectory)
            let ranked = try system.rankSplits(search, instances: system.deployment.size, trace: trace, costModel: cost, slo: slo, predictor: predictor)
            guard let best = ranked.first?.candidate else { continue }
            systems[k].deployment = best.deployment
            systems[k].maxPrefillBatch = best.maxBatch
            splits[system.name] = best
        }
        for rate in rates.isEmpty ? [Double?.none] : rates.map(Optional.some) {
            let trace = try buildTrace(config.trace, rate: rate, baseDirectory: baseDirectory)
            for system in systems {
                runs.append(try ClusterSimulator.run(trace: trace, system: system, costModel: cost, slo: slo,
                                                     predictor: predictor, offeredRate: rate))
            }
        }
        let target = config.goodputAttainment ?? 0.9
        var maxRate: [String: Double] = [:]
        for system in config.systems {
            maxRate[system.name] = runs.filter { $0.system == system.name && $0.sloAttainment >= target }.map(\.offeredRate).max() ?? 0
        }
        var comparisons: [Comparison] = []
        if let baseline = config.baseline {
            guard config.systems.contains(where: { $0.name == baseline }) else { throw SimulationError.invalidConfig("baseline '\(baseline)' is not a system") }
            for run in runs where run.system != baseline {
                guard let base = runs.first(where: { $0.system == baseline && $0.offeredRate == run.offeredRate }) else { continue }
                let ratio = { (a: Double, b: Double) in b > 0 ? a / b : 0 }
                // A trace of images to generate only compares image latency.
                let latency = { (r: SimulationResult) in r.completed > 0 && r.ttft.mean == 0 ? r.imageLatency ?? r.ttft : r.ttft }
                let (b, r) = (latency(base), latency(run))
                comparisons.append(Comparison(
                    system: run.system, rate: run.offeredRate, ttftMeanSpeedup: ratio(b.mean, r.mean),
                    ttftP50Speedup: ratio(b.p50, r.p50), ttftP99Speedup: ratio(b.p99, r.p99),
                    sloAttainment: run.sloAttainment, baselineSloAttainment: base.sloAttainment,
                    instanceHoursRatio: ratio(run.instanceHours, base.instanceHours)))
            }
        }
        return ExperimentReport(name: config.name, model: cost.model, hardware: cost.hardware, slo: slo,
                                predictorAccuracy: accuracy, runs: runs,
                                maxRateUnderSLO: maxRate, comparisons: comparisons, optimizedSplits: splits)
    }

    /// The trace `source` describes, at `rate` requests/s when given (a file's arrivals rescaled to it).
    public static func buildTrace(_ source: SimulationConfig.TraceSource, rate: Double?, baseDirectory: URL) throws -> Trace {
        if var options = source.synthetic {
            if let rate { options.ratePerSecond = rate }
            return try SyntheticTraceGenerator(options).generate()
        }
        guard let file = source.file else { throw SimulationError.invalidConfig("trace needs 'synthetic' or 'file'") }
        let trace = try Trace.load(from: baseDirectory.appendingPathComponent(file), format: source.format ?? "jsonl")
        guard let rate, trace.duration > 0 else { return trace }
        return trace.speeded(by: rate / (Double(trace.requests.count) / trace.duration))
    }
}
