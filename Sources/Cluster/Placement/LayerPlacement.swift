/// UELLM's deployer, HELR (arXiv 2409.14961, §4.3): maps a model's layers onto devices under
/// memory limits, considering topology, by dynamic programming.
///
/// Layers are cut into contiguous blocks, one per device along a chain of distinct devices; the
/// objective is the latency of one forward pass, Σ block compute time on its device + Σ activation
/// transfer time over the link between consecutive devices. Devices whose link bandwidth is zero
/// cannot be neighbours. The DP runs over (layers placed, devices used, last device), exact for up
/// to ``maxDevices`` devices.
///
/// ```swift
/// let plan = try LayerPlacement.plan(layers: layers, devices: gpus, bandwidth: nvlinkMatrix)
/// ```
public struct LayerPlacement: Sendable, Hashable {
    public struct Device: Sendable, Hashable, Codable {
        public var name: String
        public var memoryBytes: Double
        public var flopsPerSecond: Double

        public init(name: String, memoryBytes: Double, flopsPerSecond: Double) {
            self.name = name
            self.memoryBytes = memoryBytes
            self.flopsPerSecond = flopsPerSecond
        }
    }

    public struct Layer: Sendable, Hashable, Codable {
        public var memoryBytes: Double
        public var flops: Double
        /// Bytes of activations this layer hands to the next one.
        public var activationBytes: Double

        public init(memoryBytes: Double, flops: Double, activationBytes: Double) {
            self.memoryBytes = memoryBytes
            self.flops = flops
            self.activationBytes = activationBytes
        }
    }

    /// One block of consecutive layers on one device.
    public struct Block: Sendable, Hashable {
        public var device: Int
        public var layers: Range<Int>
    }

    public static let maxDevices = 12

    /// Blocks in pipeline order.
    public var blocks: [Block]
    /// Seconds for one forward pass under the plan.
    public var latency: Double

    /// Computes the minimum-latency placement.
    /// - Parameter bandwidth: bytes/s between devices `i` and `j`; 0 means no direct link.
    public static func plan(layers: [Layer], devices: [Device], bandwidth: [[Double]]) throws -> LayerPlacement {
        let n = devices.count
        let count = layers.count
        guard count > 0 else { throw ClusterError.invalidArgument("no layers to place") }
        guard n > 0, n <= maxDevices else { throw ClusterError.invalidArgument("need 1...\(maxDevices) devices, got \(n)") }
        guard bandwidth.count == n, bandwidth.allSatisfy({ $0.count == n }) else {
            throw ClusterError.invalidArgument("bandwidth must be a \(n)×\(n) matrix")
        }
        guard devices.allSatisfy({ $0.flopsPerSecond > 0 && $0.memoryBytes >= 0 }) else {
            throw ClusterError.invalidArgument("devices need positive compute and non-negative memory")
        }
        var memoryPrefix = [0.0], flopsPrefix = [0.0]
        for layer in layers {
            memoryPrefix.append(memoryPrefix[memoryPrefix.count - 1] + layer.memoryBytes)
            flopsPrefix.append(flopsPrefix[flopsPrefix.count - 1] + layer.flops)
        }
        // best[placed][mask * n + last] = latency; parent pointers rebuild the plan.
        let states = (1 << n) * n
        var best = [[Double]](repeating: [Double](repeating: .infinity, count: states), count: count + 1)
        var parent = [[Int]](repeating: [Int](repeating: -1, count: states), count: count + 1)
        for d in 0..<n {
            for end in 1...count where memoryPrefix[end] <= devices[d].memoryBytes {
                let s = (1 << d) * n + d
                let t = flopsPrefix[end] / devices[d].flopsPerSecond
                if t < best[end][s] { best[end][s] = t; parent[end][s] = -2 }
            }
        }
        for placed in 1..<count {
            for mask in 1..<(1 << n) {
                for last in 0..<n where mask & (1 << last) != 0 {
                    let here = best[placed][mask * n + last]
                    guard here.isFinite else { continue }
                    for d in 0..<n where mask & (1 << d) == 0 && bandwidth[last][d] > 0 {
                        let hop = layers[placed - 1].activationBytes / bandwidth[last][d]
                        for end in (placed + 1)...count {
                            guard memoryPrefix[end] - memoryPrefix[placed] <= devices[d].memoryBytes else { break }
                            let t = here + hop + (flopsPrefix[end] - flopsPrefix[placed]) / devices[d].flopsPerSecond
                            let s = (mask | (1 << d)) * n + d
                            if t < best[end][s] { best[end][s] = t; parent[end][s] = placed * states + mask * n + last }
                        }
                    }
                }
            }
        }
        guard let finish = best[count].indices.min(by: { (best[count][$0], $0) < (best[count][$1], $1) }),
              best[count][finish].isFinite
        else { throw ClusterError.infeasible("the layers do not fit in the devices' memory along any linked chain") }
        var blocks: [Block] = []
        var placed = count, state = finish
        while placed > 0 {
            let p = parent[placed][state]
            let start = p == -2 ? 0 : p / states
            blocks.append(Block(device: state % n, layers: start..<placed))
            if p == -2 { break }
            placed = start
            state = p % states
        }
        return LayerPlacement(blocks: blocks.reversed(), latency: best[count][finish])
    }
}
