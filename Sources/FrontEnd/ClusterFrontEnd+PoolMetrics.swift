import Cluster
import Metrics

/// Per-pool gauges in `/metrics`, one series per (group, role) pool (`pool` = its Deployment name
/// under Kubernetes, e.g. `tessera-text-decode`), for KEDA or an HPA adapter when the pools are
/// scaled externally, and for operators either way:
///
/// - `tessera:pool_workers`: workers serving;
/// - `tessera:pool_requests_queued`: requests whose current step runs or waits on them (the queue
///   depth the router sees);
/// - `tessera:pool_pending_image_tokens`: image tokens waiting to be encoded (encode pools);
/// - `tessera:pool_kv_cache_usage_perc`: KV blocks in use over the pool's capacity (0...1);
/// - `tessera:pool_slo_attainment`: the fraction of requests finished since the last update that
///   met the topology's SLO, counted on the group (1 without requests);
/// - `tessera:desired_replicas`: the workers the planners want: in the `tessera` mode those started
///   and not retiring (what `/scale` says), in the `external` mode what their last round asked for.
extension ClusterFrontEnd {
    struct PoolGauges: Equatable {
        var workers = 0
        var queued = 0
        var pendingImageTokens = 0
        var kvUsed = 0
        var kvCapacity = 0
        var desired = 0
        var attainment = 1.0
    }

    /// Active workers per pool.
    func activeWorkers(_ s: State) -> [String: Int] {
        s.slots.filter(\.isActive).reduce(into: [:]) { $0[provider.poolName(group: $1.group, role: $1.role), default: 0] += 1 }
    }

    /// The gauges of every pool of the topology or with a worker, from the front end's bookkeeping.
    func poolGauges() -> [String: PoolGauges] {
        shared.withLock { s in
            var pools: [String: PoolGauges] = [:]
            for entry in topology.slots { pools[provider.poolName(group: entry.group, role: entry.spec.role)] = PoolGauges() }
            let view = liveCluster(s)
            for (slot, status) in zip(s.slots, view.instances) {
                let pool = provider.poolName(group: slot.group, role: slot.role)
                var gauges = pools[pool] ?? PoolGauges()
                if status.isActive {
                    gauges.workers += 1
                    gauges.queued += status.queuedRequests
                    gauges.pendingImageTokens += status.pendingImageTokens
                    gauges.kvUsed += status.kvUsedTokens
                    gauges.kvCapacity += status.kvCapacityTokens
                }
                switch slot.phase {
                case .starting, .active, .switching, .leaving: gauges.desired += 1
                case .retiring, .stopped: break
                }
                if let outcomes = s.sloOutcomes[slot.group], outcomes.total > 0 {
                    gauges.attainment = Double(outcomes.met) / Double(outcomes.total)
                }
                pools[pool] = gauges
            }
            if provider.scaledExternally {
                for (pool, gauges) in pools { pools[pool]?.desired = s.desiredReplicas[pool] ?? gauges.workers }
            }
            s.sloOutcomes = [:]
            return pools
        }
    }

    /// Sets the gauges every second until the front end stops.
    func startPoolMetrics() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                for (pool, gauges) in poolGauges() {
                    let dimensions = [("pool", pool)]
                    Gauge(label: "tessera:pool_workers", dimensions: dimensions).record(gauges.workers)
                    Gauge(label: "tessera:pool_requests_queued", dimensions: dimensions).record(gauges.queued)
                    Gauge(label: "tessera:pool_pending_image_tokens", dimensions: dimensions).record(gauges.pendingImageTokens)
                    Gauge(label: "tessera:pool_kv_cache_usage_perc", dimensions: dimensions)
                        .record(Double(gauges.kvUsed) / Double(max(1, gauges.kvCapacity)))
                    Gauge(label: "tessera:pool_slo_attainment", dimensions: dimensions).record(gauges.attainment)
                    Gauge(label: "tessera:desired_replicas", dimensions: dimensions).record(gauges.desired)
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        shared.withLock { $0.tasks.append(task) }
    }
}
