import ArgumentParser
import Cluster
import Foundation
import Simulator

/// `tessera simulate`: run a cluster simulation experiment and write JSON results and SVG plots.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate serving systems on a trace with the cluster policies and a cost model."
    )

    @Option(name: .long, help: "Experiment config (JSON); paths inside are relative to it.")
    var config: String

    @Option(name: .long, help: "Comma-separated request rates (req/s) to sweep, overriding the config.")
    var sweep: String?

    @Option(name: .long, help: "Directory for results.json and the SVG plots.")
    var out: String = "sim-results"

    func run() throws {
        let url = URL(fileURLWithPath: config)
        let experiment = try SimulationConfig.load(from: url)
        var rates: [Double]?
        if let sweep {
            let parsed = sweep.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw ValidationError("--sweep takes positive numbers separated by commas, got '\(sweep)'")
            }
            rates = parsed.compactMap { $0 }
        }
        let clock = ContinuousClock.now
        let report = try ExperimentRunner.run(config: experiment, baseDirectory: url.deletingLastPathComponent(), sweep: rates)
        let elapsed = ContinuousClock.now - clock
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: dir.appendingPathComponent("results.json"))
        try Data(SVGPlot.latencyVersusRate(report).utf8).write(to: dir.appendingPathComponent("latency-vs-rate.svg"))
        try Data(SVGPlot.instancesOverTime(report).utf8).write(to: dir.appendingPathComponent("instances-over-time.svg"))
        print(Self.table(report))
        print("simulated in \(elapsed); results in \(dir.path)")
    }

    static func table(_ r: ExperimentReport) -> String {
        let classes = r.slo.objectives.sorted { $0.key < $1.key }.map { "\($0.key) TTFT \(f($0.value.ttft)) s, TPOT \(f($0.value.tpot)) s" }
        var lines = ["\(r.name) — \(r.model) on \(r.hardware); SLO \(classes.joined(separator: "; "))"]
        if let a = r.predictorAccuracy { lines.append("output-length predictor held-out accuracy: \(f(a))") }
        lines.append("system                 rate   done/all       TTFT p50  TTFT p99  TPOT p50  TPOT p99  SLO att  goodput  inst-h  reconf")
        // Left-aligned in `width` columns, never cut.
        let cell = { (text: String, width: Int) in text + String(repeating: " ", count: max(0, width - text.count)) }
        for run in r.runs {
            lines.append([cell(run.system, 20), f(run.offeredRate, 6), cell("\(run.completed)/\(run.requests)", 14),
                          f(run.ttft.p50, 9), f(run.ttft.p99, 9), f(run.tpot.p50, 9), f(run.tpot.p99, 9),
                          f(run.sloAttainment, 8), f(run.goodput, 8), f(run.instanceHours, 7), String(run.reconfigurations)].joined(separator: " "))
        }
        let imageRuns = r.runs.filter { $0.imageLatency != nil }
        if !imageRuns.isEmpty {
            lines.append("images: system         rate   latency mean  p50       p90       p99")
            for run in imageRuns {
                let l = run.imageLatency!
                lines.append([cell("        " + run.system, 20), f(run.offeredRate, 6), f(l.mean, 13), f(l.p50, 9), f(l.p90, 9), f(l.p99, 9)].joined(separator: " "))
            }
        }
        let prefixRuns = r.runs.filter { $0.textPrefixHitRate != nil }
        if !prefixRuns.isEmpty {
            lines.append("text prefix cache: system  rate   hit rate")
            for run in prefixRuns { lines.append([cell("        " + run.system, 20), f(run.offeredRate, 6), f(run.textPrefixHitRate!, 10)].joined(separator: " ")) }
        }
        for (name, c) in r.optimizedSplits.sorted(by: { $0.key < $1.key }) {
            lines.append("optimised split, \(name): E\(c.encode)/P\(c.prefill)/D\(c.decode), prefill batch ≤ \(c.maxBatch)")
        }
        for (name, rate) in r.maxRateUnderSLO.sorted(by: { $0.key < $1.key }) { lines.append("max rate under SLO, \(name): \(f(rate))") }
        for c in r.comparisons {
            lines.append("\(c.system) vs baseline @ \(f(c.rate)): TTFT mean ×\(f(c.ttftMeanSpeedup)) p50 ×\(f(c.ttftP50Speedup)) p99 ×\(f(c.ttftP99Speedup)), instance-hours ×\(f(c.instanceHoursRatio)), SLO \(f(c.sloAttainment)) vs \(f(c.baselineSloAttainment))")
        }
        return lines.joined(separator: "\n")
    }

    static func f(_ v: Double, _ width: Int = 0) -> String {
        let s = String(format: "%.3g", v)
        return width > 0 ? String(repeating: " ", count: max(0, width - s.count)) + s : s
    }
}
