import Cluster
import Foundation
import Yams

extension Topology {
    /// Reads a topology from YAML or JSON (by extension: `.json` is JSON, anything else YAML) and
    /// checks it.
    public init(contentsOf url: URL) throws(FrontEndError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .badTopology("cannot read \(url.path): \(error.localizedDescription)") }
        do {
            self = url.pathExtension.lowercased() == "json"
                ? try JSONDecoder().decode(Topology.self, from: data)
                : try YAMLDecoder().decode(Topology.self, from: data)
        } catch {
            throw .badTopology("\(url.lastPathComponent): \(error)")
        }
        try validate()
    }

    /// Every group can serve a request: a mono worker, or prefill and decode workers; counts are positive.
    public func validate() throws(FrontEndError) {
        guard !groups.isEmpty else { throw .badTopology("no groups") }
        for group in groups {
            let roles = Set(group.workers.filter { $0.count > 0 }.map(\.role))
            if let bad = group.workers.first(where: { $0.count < 0 }) {
                throw .badTopology("group \(group.group.rawValue): \(bad.role.rawValue) count \(bad.count) is negative")
            }
            if group.cfgSplit != nil, group.group != .image { throw .badTopology("group \(group.group.rawValue): cfg_split applies to the image group") }
            if group.group == .image {
                guard roles.contains(.image), roles.isSubset(of: [.image, .controlnet]) else {
                    throw .badTopology("group image needs image workers, and takes only those and controlnet workers")
                }
                continue
            }
            if !roles.isDisjoint(with: [.image, .controlnet]) {
                throw .badTopology("group \(group.group.rawValue): image and controlnet workers belong in the image group")
            }
            guard roles.contains(.mono) || (roles.contains(.prefill) && roles.contains(.decode)) else {
                throw .badTopology("group \(group.group.rawValue) needs a mono worker, or prefill and decode workers")
            }
            if roles.contains(.encode), !(roles.contains(.prefill) && roles.contains(.decode)) {
                throw .badTopology("group \(group.group.rawValue): encode workers need prefill and decode workers beside them")
            }
            for worker in group.workers {
                guard let stages = worker.pipeline else { continue }
                guard worker.role == .mono else { throw .badTopology("group \(group.group.rawValue): only mono workers take a pipeline") }
                guard (2 ... LayerPlacement.maxDevices).contains(stages.count),
                      stages.allSatisfy({ $0.memoryMiB > 0 && $0.gflops > 0 && ($0.linkGBps ?? 1) > 0 }) else {
                    throw .badTopology("group \(group.group.rawValue): a pipeline needs 2...\(LayerPlacement.maxDevices) stages with positive memory_mib, gflops and link_gbps")
                }
            }
            if roles.contains(.encodePrefill) {
                throw .badTopology("group \(group.group.rawValue): use prefill workers (they encode inline when no encode worker is free)")
            }
        }
        if Set(groups.map(\.group)).count != groups.count { throw .badTopology("a group is declared twice") }
        guard heartbeatIntervalMs > 0, heartbeatTimeoutMs > heartbeatIntervalMs else {
            throw .badTopology("heartbeat_timeout_ms must exceed heartbeat_interval_ms > 0")
        }
        guard maxRetries >= 0 else { throw .badTopology("max_retries must be >= 0") }
        guard restartBackoffInitialMs > 0, restartBackoffMaxMs >= restartBackoffInitialMs else {
            throw .badTopology("restart_backoff_max_ms must be >= restart_backoff_initial_ms > 0")
        }
        try validateSplitOptimization()
        // The batcher is each worker's engine's (`--batch-policy`), checked here like the others.
        do { try PolicyCatalog.validate(policies) } catch { throw .badTopology(error.description) }
    }
}

/// Why the front end could not start or serve.
public enum FrontEndError: Error, CustomStringConvertible, Equatable {
    case badTopology(String)
    case launchFailed(String)
    case startupTimedOut(String)

    public var description: String {
        switch self {
        case let .badTopology(detail): "bad topology: \(detail)"
        case let .launchFailed(detail): "cannot start a worker: \(detail)"
        case let .startupTimedOut(detail): "workers did not register in time: \(detail)"
        }
    }
}
