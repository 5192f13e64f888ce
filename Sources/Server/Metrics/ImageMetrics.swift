import DiffusionServing
import Prometheus
import Synchronization

/// The image-generation metrics: per-image queue time, seconds per denoising step and end-to-end
/// latency (observed as images finish), the add-ons' time (LoRA load, wait and merge, ControlNet
/// load and run; observed for images that spent any), and the diffusion engine's queues and
/// counters with the add-on cache's hits and misses (mirrored when `/metrics` is scraped).
final class ImageMetrics: Sendable {
    let queueTime: Prometheus.ValueHistogram
    let stepTime: Prometheus.ValueHistogram
    let endToEnd: Prometheus.ValueHistogram
    let loraLoad: Prometheus.ValueHistogram
    let loraWait: Prometheus.ValueHistogram
    let loraMerge: Prometheus.ValueHistogram
    let controlNet: Prometheus.ValueHistogram
    private let running: Prometheus.Gauge
    private let waiting: Prometheus.Gauge
    private let mirrored: [(@Sendable (ImageEngineStatistics) -> Int, Prometheus.Counter)]
    private let last = Mutex(ImageEngineStatistics())

    init(registry: PrometheusCollectorRegistry, labels: [(String, String)]) {
        func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: "tessera:\(name)", unitName: "", helpText: help)
        }
        func histogram(_ name: String, _ help: String) -> Prometheus.ValueHistogram {
            registry.makeValueHistogram(descriptor: descriptor(name, help), labels: labels, buckets: ServerMetrics.latencyBuckets)
        }
        func counter(_ name: String, _ help: String) -> Prometheus.Counter {
            registry.makeCounter(descriptor: descriptor(name, help), labels: labels)
        }
        queueTime = histogram("image_queue_time_seconds", "Seconds from an image request's arrival to its first denoising step.")
        stepTime = histogram("image_step_seconds", "Seconds per denoising step of an image (the whole batched UNet call it shared).")
        endToEnd = histogram("image_e2e_latency_seconds", "Seconds from an image request's arrival to its decoded image.")
        loraLoad = histogram("image_lora_load_seconds", "Seconds reading and parsing an image's LoRA files (cache misses), overlapped with its first steps.")
        loraWait = histogram("image_lora_wait_seconds", "Seconds an image's step waited for a LoRA still loading when it was due.")
        loraMerge = histogram("image_lora_merge_seconds", "Seconds merging LoRAs into the weights and restoring them, in the batches an image rode in.")
        controlNet = histogram("image_controlnet_seconds", "Seconds loading (cache misses) and running an image's ControlNets over all its steps.")
        running = registry.makeGauge(descriptor: descriptor("num_images_running", "Images in the denoising batch."), labels: labels)
        waiting = registry.makeGauge(descriptor: descriptor("num_images_waiting", "Images waiting for a batch slot."), labels: labels)
        mirrored = [
            ({ @Sendable in $0.finishedImages }, counter("images_generated_total", "Images generated.")),
            ({ @Sendable in $0.cancelledImages }, counter("images_cancelled_total", "Images cancelled before finishing (client gone).")),
            ({ @Sendable in $0.batchedCalls }, counter("image_unet_calls_total", "Batched UNet calls (one denoising step of each image in the batch).")),
            ({ @Sendable in $0.batchedSteps }, counter("image_steps_total", "Image denoising steps run; over UNet calls, the mean batch size.")),
            ({ @Sendable in $0.mergedLoRACalls }, counter("image_unet_calls_merged_lora_total", "UNet calls whose images shared one LoRA set, merged into the weights.")),
            ({ @Sendable in $0.unmergedLoRACalls }, counter("image_unet_calls_unmerged_lora_total", "UNet calls mixing LoRAs, each row's applied unmerged.")),
            ({ @Sendable in $0.loraCache.hits }, counter("lora_cache_hits_total", "LoRA lookups answered from the in-memory adapter cache.")),
            ({ @Sendable in $0.loraCache.misses }, counter("lora_cache_misses_total", "LoRA lookups that read the file.")),
            ({ @Sendable in $0.controlNetCache.hits }, counter("controlnet_cache_hits_total", "ControlNet lookups answered from the in-memory adapter cache.")),
            ({ @Sendable in $0.controlNetCache.misses }, counter("controlnet_cache_misses_total", "ControlNet lookups that loaded the folder.")),
        ]
    }

    func record(_ timing: ImageTiming) {
        queueTime.record(timing.queueSeconds)
        stepTime.record(timing.secondsPerStep)
        endToEnd.record(timing.endToEndSeconds)
        for (histogram, seconds) in [(loraLoad, timing.loraLoadSeconds), (loraWait, timing.loraWaitSeconds),
                                     (loraMerge, timing.loraMergeSeconds), (controlNet, timing.controlNetSeconds)] where seconds > 0 {
            histogram.record(seconds)
        }
    }

    func update(from statistics: ImageEngineStatistics) {
        running.set(Double(statistics.runningImages))
        waiting.set(Double(statistics.waitingImages))
        let previous = last.withLock { last in
            defer { last = statistics }
            return last
        }
        for (path, counter) in mirrored {
            let delta = path(statistics) - path(previous)
            if delta > 0 { counter.increment(by: Int64(delta)) }
        }
    }
}
