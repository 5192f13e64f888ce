import CoreUtilities
import Foundation
import Metrics
import Prometheus
import ServingAPI
import Synchronization

/// The server's Prometheus metrics, named like vLLM's `vllm:` metrics with a `tessera:` prefix
/// (and exported under the `vllm:` names too; see ``MetricsExposition``).
///
/// Request histograms are observed as requests finish; gauges and counters mirror the engine's
/// ``EngineStatistics`` when `/metrics` is scraped.
///
/// ```swift
/// let metrics = ServerMetrics(modelName: "qwen2-vl")
/// metrics.update(from: engine.statistics())
/// print(metrics.exposition())
/// ```
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let make: MetricFactory

    let timeToFirstToken: Prometheus.ValueHistogram
    let interTokenLatency: Prometheus.ValueHistogram
    let endToEndLatency: Prometheus.ValueHistogram
    let queueTime: Prometheus.ValueHistogram
    let promptTokensPerRequest: Prometheus.ValueHistogram
    let generationTokensPerRequest: Prometheus.ValueHistogram
    let imageFetch: Prometheus.ValueHistogram
    let imageDecode: Prometheus.ValueHistogram
    let imagePreprocess: Prometheus.ValueHistogram
    let imageEncode: Prometheus.ValueHistogram
    private let finishedStop: Prometheus.Counter
    private let finishedLength: Prometheus.Counter
    private let aborted: Prometheus.Counter
    private let rejected: Prometheus.Counter
    private let images: ImageMetrics

    private let running: Prometheus.Gauge
    private let waiting: Prometheus.Gauge
    private let encoding: Prometheus.Gauge
    private let kvUsage: Prometheus.Gauge
    private let mirrored: MirroredCounters<EngineStatistics>
    /// `worker_restarts_total` by role, made as roles first appear.
    private let workerRestarts = Mutex<[String: Prometheus.Counter]>([:])

    static let latencyBuckets: [Double] = [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640,
    ]
    static let stageBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let tokenBuckets: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100_000]

    public init(modelName: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let make = MetricFactory(registry: registry, labels: [("model_name", modelName)])
        self.make = make
        timeToFirstToken = make.histogram(
            "time_to_first_token_seconds", Self.latencyBuckets, "Seconds from arrival at the server to the first generated token.")
        interTokenLatency = make.histogram(
            "inter_token_latency_seconds", Self.latencyBuckets, "Seconds between successive streamed outputs of a request.")
        endToEndLatency = make.histogram(
            "e2e_request_latency_seconds", Self.latencyBuckets, "Seconds from arrival at the server to the last token.")
        queueTime = make.histogram("request_queue_time_seconds", Self.latencyBuckets, "Seconds a request waited before its first step.")
        promptTokensPerRequest = make.histogram("request_prompt_tokens", Self.tokenBuckets, "Prompt tokens per finished request.")
        generationTokensPerRequest = make.histogram(
            "request_generation_tokens", Self.tokenBuckets, "Generated tokens per finished request.")
        imageFetch = make.histogram("image_fetch_seconds", Self.stageBuckets, "Seconds to download an image from its URL.")
        imageDecode = make.histogram("image_decode_seconds", Self.stageBuckets, "Seconds to decode an image's PNG or JPEG bytes.")
        imagePreprocess = make.histogram(
            "image_preprocess_seconds", Self.stageBuckets, "Seconds to resize and normalise an image for the vision encoder.")
        imageEncode = make.histogram(
            "image_encode_seconds", Self.stageBuckets, "Seconds of vision encoding per image (0 on an encoder-cache hit).")
        finishedStop = make.counter("request_success_total", "Requests that finished.", [("finished_reason", "stop")])
        finishedLength = make.counter("request_success_total", "Requests that finished.", [("finished_reason", "length")])
        aborted = make.counter("request_aborted_total", "Requests that ended before finishing (client gone or engine error).")
        rejected = make.counter("request_rejected_total", "Requests refused with 503 because the engine's queues were full.")
        images = ImageMetrics(make)
        running = make.gauge("num_requests_running", "Requests in prefill or decode.")
        waiting = make.gauge("num_requests_waiting", "Requests waiting for their first step.")
        encoding = make.gauge("num_requests_encoding", "Requests whose images are being preprocessed or encoded.")
        kvUsage = make.gauge("kv_cache_usage_perc", "Fraction of KV cache blocks in use (1 = full).")
        mirrored = MirroredCounters(from: EngineStatistics(), [
            ({ @Sendable in $0.prefixCacheQueriedTokens }, make.counter("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.")),
            ({ @Sendable in $0.prefixCacheHitTokens }, make.counter("prefix_cache_hits_total", "Prompt tokens found in the prefix cache.")),
            ({ @Sendable in $0.encoderCacheQueries }, make.counter("encoder_cache_queries_total", "Images looked up in the encoder cache.")),
            ({ @Sendable in $0.encoderCacheHits }, make.counter("encoder_cache_hits_total", "Images found in the encoder cache.")),
            ({ @Sendable in $0.preemptions }, make.counter("num_preemptions_total", "Requests preempted (recomputed) for lack of KV blocks.")),
            ({ @Sendable in $0.promptTokens }, make.counter("prompt_tokens_total", "Prompt tokens processed.")),
            ({ @Sendable in $0.generatedTokens }, make.counter("generation_tokens_total", "Tokens generated.")),
            ({ @Sendable in $0.kvTransferBytes }, make.counter("kv_transfer_bytes_total", "KV bytes moved from prefill to decode workers.")),
            ({ @Sendable in $0.kvTransfers }, make.counter("kv_transfers_total", "Prompt KV transfers from prefill to decode workers.")),
            ({ @Sendable in $0.kvTransferMicroseconds }, make.counter("kv_transfer_microseconds_total", "Time decode workers spent pulling KV.")),
            ({ @Sendable in $0.requestRetries }, make.counter("request_retries_total", "Requests retried on another worker after theirs was lost.")),
        ])
    }

    /// Routes swift-metrics (Hummingbird's HTTP request metrics among them) into this registry.
    /// Call once per process.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Sets gauges and advances counters to an engine snapshot.
    public func update(from statistics: EngineStatistics) {
        running.set(Double(statistics.runningRequests))
        waiting.set(Double(statistics.waitingRequests))
        encoding.set(Double(statistics.encodingRequests))
        kvUsage.set(statistics.kvCacheUsage)
        let previous = mirrored.advance(to: statistics)
        workerRestarts.withLock { counters in
            for (role, count) in statistics.workerRestarts.sorted(by: { $0.key < $1.key }) {
                let counter = counters[role] ?? make.counter(
                    "worker_restarts_total", "Dead workers relaunched, by the role they were relaunched in.", [("role", role)])
                counters[role] = counter
                let delta = count - (previous.workerRestarts[role] ?? 0)
                if delta > 0 { counter.increment(by: Int64(delta)) }
            }
        }
    }

    /// Every metric as Prometheus text, `tessera:` names with their `vllm:` aliases.
    public func exposition() -> String { exposition(.prometheus) }

    /// Every metric in `format`.
    func exposition(_ format: MetricsExposition.Format) -> String {
        MetricsExposition(registry.emitToString()).render(format)
    }

    /// Records one engine request that ended; `finish` is nil when it ended without finishing.
    func recordRequest(_ timeline: RequestTimeline, finish: FinishInfo?) {
        guard let finish else {
            aborted.increment()
            return
        }
        switch finish.reason {
        case .stop: finishedStop.increment()
        case .length: finishedLength.increment()
        }
        if let ttft = timeline.timeToFirstToken { timeToFirstToken.record(ttft) }
        for gap in timeline.interTokenGaps { interTokenLatency.record(gap) }
        endToEndLatency.record(timeline.elapsed(until: timeline.lastEvent ?? timeline.arrival))
        queueTime.record(finish.timings.queued)
        promptTokensPerRequest.record(Double(finish.promptTokens))
        generationTokensPerRequest.record(Double(finish.completionTokens))
        for image in finish.timings.images {
            imagePreprocess.record(image.preprocess)
            imageEncode.record(image.encode)
        }
    }

    func recordRejection() { rejected.increment() }

    /// Records one generated image's timing.
    func recordImage(_ timing: ImageTiming) { images.record(timing) }

    /// Sets the image gauges and advances the image counters to a diffusion engine snapshot.
    public func update(from statistics: ImageEngineStatistics) { images.update(from: statistics) }
}

/// When one engine request's events reached the server.
struct RequestTimeline: Sendable {
    let arrival: ContinuousClock.Instant
    private(set) var firstToken: ContinuousClock.Instant?
    private(set) var lastEvent: ContinuousClock.Instant?
    private(set) var interTokenGaps: [Double] = []

    init(arrival: ContinuousClock.Instant) { self.arrival = arrival }

    mutating func recordDelta(at time: ContinuousClock.Instant) {
        if let lastEvent, firstToken != nil {
            interTokenGaps.append((time - lastEvent).seconds)
        } else {
            firstToken = time
        }
        lastEvent = time
    }

    mutating func recordFinish(at time: ContinuousClock.Instant) { lastEvent = time }

    var timeToFirstToken: Double? { firstToken.map { elapsed(until: $0) } }

    func elapsed(until time: ContinuousClock.Instant) -> Double { (time - arrival).seconds }
}
