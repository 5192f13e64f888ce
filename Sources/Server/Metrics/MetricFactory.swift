import Prometheus
import Synchronization

/// Makes `tessera:`-named metrics with one label set in one registry, so every metric family of the
/// server is named and labelled the same way.
///
/// ```swift
/// let make = MetricFactory(registry: registry, labels: [("model_name", "qwen2-vl")])
/// let running = make.gauge("num_requests_running", "Requests in prefill or decode.")
/// ```
struct MetricFactory: Sendable {
    let registry: PrometheusCollectorRegistry
    let labels: [(String, String)]

    func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: "tessera:\(name)", unitName: "", helpText: help)
    }

    func histogram(_ name: String, _ buckets: [Double], _ help: String) -> Prometheus.ValueHistogram {
        registry.makeValueHistogram(descriptor: descriptor(name, help), labels: labels, buckets: buckets)
    }

    func counter(_ name: String, _ help: String, _ extra: [(String, String)] = []) -> Prometheus.Counter {
        registry.makeCounter(descriptor: descriptor(name, help), labels: labels + extra)
    }

    func gauge(_ name: String, _ help: String) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: descriptor(name, help), labels: labels)
    }
}

/// Counters that follow running totals of an engine's statistics snapshots: each snapshot adds to a
/// counter what its total grew by since the previous one (Prometheus counters only go up).
final class MirroredCounters<Statistics: Sendable>: Sendable {
    private let counters: [(@Sendable (Statistics) -> Int, Prometheus.Counter)]
    private let last: Mutex<Statistics>

    init(from initial: Statistics, _ counters: [(@Sendable (Statistics) -> Int, Prometheus.Counter)]) {
        self.counters = counters
        last = Mutex(initial)
    }

    /// Advances every counter to `statistics` and returns the snapshot before it.
    @discardableResult
    func advance(to statistics: Statistics) -> Statistics {
        let previous = last.withLock { last in
            defer { last = statistics }
            return last
        }
        for (total, counter) in counters {
            let delta = total(statistics) - total(previous)
            if delta > 0 { counter.increment(by: Int64(delta)) }
        }
        return previous
    }
}
