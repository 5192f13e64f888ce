import Cluster

/// Latency percentiles in seconds.
public struct LatencySummary: Sendable, Hashable, Codable {
    public var mean: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double

    init(_ values: [Double]) {
        let v = values.sorted()
        func q(_ p: Double) -> Double { v.isEmpty ? 0 : v[min(v.count - 1, Int((p * Double(v.count - 1)).rounded()))] }
        mean = v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count)
        p50 = q(0.5)
        p90 = q(0.9)
        p99 = q(0.99)
    }
}

/// Active instances at one moment, by role.
public struct FleetSample: Sendable, Hashable, Codable {
    public var time: Double
    public var active: Int
    public var byRole: [String: Int]
}

/// What one simulation run measured.
public struct SimulationResult: Sendable, Hashable, Codable {
    public var system: String
    /// Offered mean request rate, requests/s.
    public var offeredRate: Double
    public var requests: Int
    public var completed: Int
    public var ttft: LatencySummary
    public var tpot: LatencySummary
    /// Fraction of all requests meeting both TTFT and TPOT objectives (unfinished ones miss).
    public var sloAttainment: Double
    /// Requests meeting their SLO per second of trace.
    public var goodput: Double
    /// Completed requests per second of trace.
    public var throughput: Double
    /// Seconds from the trace's start to the last request's end (a benchmark's duration, whose
    /// completed requests over it are the throughput a client measures).
    public var makespan: Double
    /// Instance-hours from the start to the last arrival (GPU-hours = × GPUs per instance).
    public var instanceHours: Double
    public var gpuHours: Double
    public var reconfigurations: Int
    public var timeline: [FleetSample]
    /// Images to generate: arrival to decoded image, seconds (`ttft` and `tpot` cover the language
    /// requests); nil without images in the trace.
    public var imageLatency: LatencySummary?
    /// What the image workers were charged, summed over all of them; nil without images.
    public var imageWork: ImageWork?
    /// Text prompt tokens served from the instances' prefix caches over the text prompt tokens of
    /// the requests that completed (the live engine's prefix-cache hits over queries, in whole
    /// blocks); nil unless the trace names shared prefixes and the system has a prefix cache.
    public var textPrefixHitRate: Double?
}

/// What the simulated image workers were charged, summed over workers: their time by phase, and
/// their UNet calls with the image-steps those advanced (a live engine's `image_unet_calls_total`
/// and `image_steps_total`; over the calls, the mean batch).
public struct ImageWork: Sendable, Hashable, Codable {
    public var seconds = ImageLoopSeconds()
    public var unetCalls = 0
    public var imageSteps = 0

    public init() {}
}
