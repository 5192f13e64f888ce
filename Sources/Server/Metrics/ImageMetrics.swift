import Prometheus
import ServingAPI
import Synchronization

/// The image-generation metrics: per-image queue time, seconds per denoising step and end-to-end
/// latency (observed as images finish), the add-ons' time (LoRA load, wait and merge, ControlNet
/// load and run; observed for images that spent any), and the diffusion engine's queues and
/// counters with the add-on cache's hits and misses, and the seconds its loop spent per phase
/// (`image_loop_seconds_total{phase=…}`, the parts a simulated image worker charges for),
/// mirrored when `/metrics` is scraped.
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
    private let memoryNeeded: Prometheus.Gauge
    private let memoryBudget: Prometheus.Gauge
    private let mirrored: MirroredCounters<ImageEngineStatistics>
    /// One counter per phase of the engine's loop seconds, and the totals they were last advanced to.
    private let loopSeconds: [Prometheus.Counter]
    private let lastLoopSeconds = Mutex(ImageEngineStatistics().loopSeconds)

    init(_ make: MetricFactory) {
        func histogram(_ name: String, _ help: String) -> Prometheus.ValueHistogram {
            make.histogram(name, ServerMetrics.latencyBuckets, help)
        }
        queueTime = histogram("image_queue_time_seconds", "Seconds from an image request's arrival to its first denoising step.")
        stepTime = histogram("image_step_seconds", "Seconds per denoising step of an image (the whole batched UNet call it shared).")
        endToEnd = histogram("image_e2e_latency_seconds", "Seconds from an image request's arrival to its decoded image.")
        loraLoad = histogram("image_lora_load_seconds", "Seconds reading and parsing an image's LoRA files (cache misses), overlapped with its first steps.")
        loraWait = histogram("image_lora_wait_seconds", "Seconds an image's step waited for a LoRA still loading when it was due.")
        loraMerge = histogram("image_lora_merge_seconds", "Seconds merging LoRAs into the weights and restoring them, in the batches an image rode in.")
        controlNet = histogram("image_controlnet_seconds", "Seconds loading (cache misses) and running an image's ControlNets over all its steps (with a ControlNet service: waiting for its residuals past the UNet's down pass).")
        running = make.gauge("num_images_running", "Images in the denoising batch.")
        waiting = make.gauge("num_images_waiting", "Images waiting for a batch slot.")
        memoryNeeded = make.gauge("image_memory_needed_bytes", "Activation memory the running images need, as the engine measured their sizes (--image-memory).")
        memoryBudget = make.gauge("image_memory_budget_bytes", "The activation memory running images may need at once (--image-memory).")
        mirrored = MirroredCounters(from: ImageEngineStatistics(), [
            ({ @Sendable in $0.finishedImages }, make.counter("images_generated_total", "Images generated.")),
            ({ @Sendable in $0.cancelledImages }, make.counter("images_cancelled_total", "Images cancelled before finishing (client gone).")),
            ({ @Sendable in $0.memoryWaits }, make.counter("images_waited_for_memory_total", "Images that waited in the queue with a batch slot free, because the running ones left too little of --image-memory.")),
            ({ @Sendable in $0.batchedCalls }, make.counter("image_unet_calls_total", "Batched UNet calls (one denoising step of each image in the batch).")),
            ({ @Sendable in $0.batchedSteps }, make.counter("image_steps_total", "Image denoising steps run; over UNet calls, the mean batch size.")),
            ({ @Sendable in $0.mergedLoRACalls }, make.counter("image_unet_calls_merged_lora_total", "UNet calls whose images shared one LoRA set, merged into the weights.")),
            ({ @Sendable in $0.unmergedLoRACalls }, make.counter("image_unet_calls_unmerged_lora_total", "UNet calls mixing LoRAs, each row's applied unmerged.")),
            ({ @Sendable in $0.loraMerges }, make.counter("image_lora_merges_total", "Times LoRAs were merged into the UNet's weights (each after restoring the previous merge).")),
            ({ @Sendable in $0.loraCache.hits }, make.counter("lora_cache_hits_total", "LoRA lookups answered from the in-memory adapter cache.")),
            ({ @Sendable in $0.loraCache.misses }, make.counter("lora_cache_misses_total", "LoRA lookups that read the file.")),
            ({ @Sendable in $0.controlNetCache.hits }, make.counter("controlnet_cache_hits_total", "ControlNet lookups answered from the in-memory adapter cache.")),
            ({ @Sendable in $0.controlNetCache.misses }, make.counter("controlnet_cache_misses_total", "ControlNet lookups the in-memory adapter cache did not answer: loaded, or shared with the running images when over the cache's budget.")),
        ])
        loopSeconds = ImageEngineStatistics().loopSeconds.phases.map {
            make.counter("image_loop_seconds_total", "Seconds the image engine's loop spent in each phase of its work.", [("phase", $0.name)])
        }
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
        memoryNeeded.set(Double(statistics.memoryNeededBytes))
        memoryBudget.set(Double(statistics.memoryBudgetBytes))
        mirrored.advance(to: statistics)
        let previous = lastLoopSeconds.withLock { last in
            defer { last = statistics.loopSeconds }
            return last
        }
        for (counter, (now, before)) in zip(loopSeconds, zip(statistics.loopSeconds.phases, previous.phases)) where now.seconds > before.seconds {
            counter.increment(by: now.seconds - before.seconds)
        }
    }
}
