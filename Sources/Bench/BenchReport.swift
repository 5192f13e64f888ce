import Foundation

/// Service-level objectives for goodput: a request counts when it meets every one given.
public struct GoodputObjectives: Sendable, Equatable {
    public var ttftMilliseconds: Double?
    public var tpotMilliseconds: Double?
    public var e2elMilliseconds: Double?

    public init(ttftMilliseconds: Double? = nil, tpotMilliseconds: Double? = nil, e2elMilliseconds: Double? = nil) {
        self.ttftMilliseconds = ttftMilliseconds
        self.tpotMilliseconds = tpotMilliseconds
        self.e2elMilliseconds = e2elMilliseconds
    }

    /// Parses `ttft:MS,tpot:MS,e2el:MS` (any subset).
    public init(parsing text: String) throws {
        for item in text.split(separator: ",") {
            let pair = item.split(separator: ":")
            guard pair.count == 2, let value = Double(pair[1]), value > 0 else {
                throw BenchDatasetError.badLine(0, "goodput item '\(item)' is not NAME:MILLISECONDS")
            }
            switch pair[0] {
            case "ttft": ttftMilliseconds = value
            case "tpot": tpotMilliseconds = value
            case "e2el": e2elMilliseconds = value
            default: throw BenchDatasetError.badLine(0, "unknown goodput metric '\(pair[0])' (ttft, tpot or e2el)")
            }
        }
    }

    func met(by outcome: BenchOutcome) -> Bool {
        if let ttftMilliseconds, outcome.ttft * 1000 > ttftMilliseconds { return false }
        if let tpotMilliseconds, BenchReport.tpot(outcome) * 1000 > tpotMilliseconds { return false }
        if let e2elMilliseconds, outcome.latency * 1000 > e2elMilliseconds { return false }
        return true
    }
}

/// Summary of a latency sample in milliseconds.
public struct LatencySummary: Sendable, Equatable, Encodable {
    public var mean: Double
    public var median: Double
    public var p99: Double
    public var std: Double

    /// From values in seconds; percentiles interpolate linearly between ranks, as numpy's do.
    public init(seconds values: [Double]) {
        guard !values.isEmpty else {
            self.init(mean: 0, median: 0, p99: 0, std: 0)
            return
        }
        let sorted = values.sorted().map { $0 * 1000 }
        let mean = sorted.reduce(0, +) / Double(sorted.count)
        let variance = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(sorted.count)
        self.init(mean: mean, median: Self.percentile(sorted, 50), p99: Self.percentile(sorted, 99), std: variance.squareRoot())
    }

    init(mean: Double, median: Double, p99: Double, std: Double) {
        self.mean = mean
        self.median = median
        self.p99 = p99
        self.std = std
    }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let rank = q / 100 * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down))
        let high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
    }
}

/// The result of `tessera bench serve`, with vLLM's `benchmark_serving` names in its JSON.
public struct BenchReport: Sendable, Encodable {
    public var durationSeconds: Double
    public var completed: Int
    public var failed: Int
    public var totalInputTokens: Int
    public var totalOutputTokens: Int
    public var requestThroughput: Double
    public var outputThroughput: Double
    public var totalTokenThroughput: Double
    public var goodput: Double?
    public var ttft: LatencySummary
    public var tpot: LatencySummary
    public var itl: LatencySummary
    public var e2el: LatencySummary
    public var errors: [String]
    /// Per SLO class of an `SLOMix`, the fraction of its requests within its TTFT objective.
    public var sloAttainment: [String: Double]?

    /// Time per output token after the first.
    static func tpot(_ outcome: BenchOutcome) -> Double {
        outcome.outputTokens > 1 ? (outcome.latency - outcome.ttft) / Double(outcome.outputTokens - 1) : 0
    }

    public init(outcomes: [BenchOutcome], duration: Double, objectives: GoodputObjectives?) {
        let done = outcomes.filter(\.success)
        durationSeconds = duration
        completed = done.count
        failed = outcomes.count - done.count
        totalInputTokens = done.reduce(0) { $0 + $1.promptTokens }
        totalOutputTokens = done.reduce(0) { $0 + $1.outputTokens }
        let seconds = max(duration, 1e-9)
        requestThroughput = Double(done.count) / seconds
        outputThroughput = Double(totalOutputTokens) / seconds
        totalTokenThroughput = Double(totalInputTokens + totalOutputTokens) / seconds
        goodput = objectives.map { objectives in Double(done.filter { objectives.met(by: $0) }.count) / seconds }
        ttft = LatencySummary(seconds: done.map(\.ttft))
        tpot = LatencySummary(seconds: done.filter { $0.outputTokens > 1 }.map(Self.tpot))
        itl = LatencySummary(seconds: done.flatMap(\.itl))
        e2el = LatencySummary(seconds: done.map(\.latency))
        errors = Array(Set(outcomes.compactMap(\.error))).sorted().prefix(10).map { String($0.prefix(300)) }
    }

    enum CodingKeys: String, CodingKey {
        case durationSeconds = "duration", completed, failed, totalInputTokens = "total_input_tokens"
        case totalOutputTokens = "total_output_tokens", requestThroughput = "request_throughput"
        case outputThroughput = "output_throughput", totalTokenThroughput = "total_token_throughput"
        case goodput = "request_goodput", ttft = "ttft_ms", tpot = "tpot_ms", itl = "itl_ms", e2el = "e2el_ms", errors
        case sloAttainment = "slo_attainment"
    }

    /// The table printed at the end of a run.
    public var text: String {
        var lines = [
            "============ Serving Benchmark Result ============",
            row("Successful requests:", "\(completed)"), row("Failed requests:", "\(failed)"),
            row("Benchmark duration (s):", String(format: "%.2f", durationSeconds)),
            row("Total input tokens:", "\(totalInputTokens)"), row("Total generated tokens:", "\(totalOutputTokens)"),
            row("Request throughput (req/s):", String(format: "%.2f", requestThroughput)),
            row("Output token throughput (tok/s):", String(format: "%.2f", outputThroughput)),
            row("Total token throughput (tok/s):", String(format: "%.2f", totalTokenThroughput)),
        ]
        if let goodput { lines.append(row("Request goodput (req/s):", String(format: "%.2f", goodput))) }
        for (name, summary) in [("TTFT", ttft), ("TPOT", tpot), ("ITL", itl), ("E2E", e2el)] {
            lines.append("---------------- \(name) (ms) ----------------")
            lines.append(row("Mean \(name) (ms):", String(format: "%.2f", summary.mean)))
            lines.append(row("Median \(name) (ms):", String(format: "%.2f", summary.median)))
            lines.append(row("P99 \(name) (ms):", String(format: "%.2f", summary.p99)))
        }
        for (name, value) in (sloAttainment ?? [:]).sorted(by: { $0.key < $1.key }) {
            lines.append(row("TTFT SLO attainment \(name):", String(format: "%.3f", value)))
        }
        lines.append("==================================================")
        lines += errors.map { "error: \($0)" }
        return lines.joined(separator: "\n")
    }

    private func row(_ name: String, _ value: String) -> String {
        name.padding(toLength: 40, withPad: " ", startingAt: 0) + value
    }
}
