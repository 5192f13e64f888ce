import ArgumentParser
import Cluster
import Engine
import Foundation

/// How an engine orders and admits its waiting queue: the batch policy, the latency classes
/// requests name in `slo_class` and the output-length predictor the policy sees lengths by.
/// `serve` and `worker` take the same options; a front end hands its SLO classes and predictor on
/// to its workers, and a topology names its batcher.
struct SchedulingOptions: ParsableArguments {
    @Option(name: .customLong("batch-policy"),
            help: "Waiting-queue order and admission: fcfs, slo-short-first (ModServe) or slo-ordered (UELLM's SLO-ODBS); with --topology, the topology's batcher.")
    var batchPolicy: String?

    @Option(name: .customLong("slo-class"),
            help: "A latency class requests may name in slo_class, NAME=TTFT[:TPOT] in seconds (repeatable; default: interactive=1:0.1, standard=10:1, batch=60:5).")
    var sloClasses: [String] = []

    @Option(name: .customLong("default-slo-class"), help: "The class of requests without slo_class (default: standard, or the first --slo-class).")
    var defaultSLOClass: String?

    @Option(name: .customLong("output-length-predictor"),
            help: "A predictor written by `tessera train-predictor`; the batch policy then sees predicted output lengths instead of max_tokens (with --topology, every worker loads it from this path).")
    var outputLengthPredictor: String?

    func validate() throws {
        guard (try? PolicyCatalog.batcher(batchPolicy ?? "fcfs")) != nil else {
            throw ValidationError("--batch-policy must be fcfs, slo-short-first or slo-ordered, got '\(batchPolicy ?? "")'")
        }
        _ = try classes()
    }

    /// Sets the engine's batch policy, SLO classes and output-length predictor.
    func apply(to config: inout EngineConfig) throws {
        do { config.batchPolicy = try PolicyCatalog.batcher(batchPolicy ?? "fcfs") } catch { throw ValidationError("\(error)") }
        if let classes = try classes() { config.sloClasses = classes }
        config.outputLengthPredictor = try predictor()
    }

    /// The predictor `--output-length-predictor` names, if any.
    func predictor() throws -> OutputLengthPredictor? {
        guard let outputLengthPredictor else { return nil }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: outputLengthPredictor)) } catch {
            throw ValidationError("cannot read --output-length-predictor \(outputLengthPredictor): \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(OutputLengthPredictor.self, from: data) } catch {
            throw ValidationError("\(outputLengthPredictor) is not a predictor written by tessera train-predictor: \(error)")
        }
    }

    /// The SLO class and predictor options as `tessera worker` arguments (the batch policy comes
    /// from the topology); the predictor's path made absolute, as workers run in another directory.
    var workerArguments: [String] {
        sloClasses.flatMap { ["--slo-class", $0] } + (defaultSLOClass.map { ["--default-slo-class", $0] } ?? [])
            + (outputLengthPredictor.map { ["--output-length-predictor", URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? [])
    }

    /// The classes the options define; nil keeps the engine's standard ones.
    func classes() throws -> SLOClasses? {
        guard !sloClasses.isEmpty || defaultSLOClass != nil else { return nil }
        do {
            return try SLOClasses(definitions: sloClasses.isEmpty ? SLOClasses.standard.definitions : sloClasses,
                                  defaultClass: defaultSLOClass ?? (sloClasses.isEmpty ? SLOClasses.standard.defaultClass : nil))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
