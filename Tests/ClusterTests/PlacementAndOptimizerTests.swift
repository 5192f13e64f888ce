import Testing
@testable import Cluster

@Test func configOptimizerFindsTheBestSplit() throws {
    let optimizer = ConfigOptimizer(beta: 0)
    #expect(try optimizer.candidates(instances: 8, batchLimits: [8, 16]).count == 42)
    let ranked = try optimizer.optimize(instances: 8, batchLimits: [8, 16]) { c in
        -Double(abs(c.encode - 2) + abs(c.prefill - 3) + abs(c.decode - 3)) + (c.maxBatch == 16 ? 0.5 : 0)
    }
    #expect(ranked.first?.candidate == .init(encode: 2, prefill: 3, decode: 3, maxBatch: 16))
    #expect(throws: ClusterError.self) { try optimizer.candidates(instances: 2, batchLimits: [8]) }
    // With a price per instance, a smaller fleet can win.
    let cheap = try ConfigOptimizer(beta: 1, useAllInstances: false).optimize(instances: 5, batchLimits: [8]) { Double($0.instances) * 0.5 }
    #expect(cheap.first?.candidate.instances == 3)
}

@Test func layerPlacementSplitsUnderMemoryAndFollowsLinks() throws {
    let layers = Array(repeating: LayerPlacement.Layer(memoryBytes: 10, flops: 100, activationBytes: 1), count: 4)
    let devices = [LayerPlacement.Device(name: "a", memoryBytes: 25, flopsPerSecond: 100),
                   LayerPlacement.Device(name: "b", memoryBytes: 25, flopsPerSecond: 100),
                   LayerPlacement.Device(name: "fast", memoryBytes: 45, flopsPerSecond: 400)]
    let full = [[0.0, 10, 10], [10, 0, 10], [10, 10, 0]]
    let plan = try LayerPlacement.plan(layers: layers, devices: devices, bandwidth: full)
    // Everything fits on the fast device: 400 flops / 400 = 1 s, no transfers.
    #expect(plan.blocks.count == 1 && plan.blocks[0].device == 2)
    #expect(abs(plan.latency - 1) < 1e-12)
    // Without it, two slow devices split 2/2 and pay one hop (1 byte / 10 B/s).
    let two = try LayerPlacement.plan(layers: layers, devices: Array(devices.prefix(2)), bandwidth: [[0, 10], [10, 0]])
    #expect(two.blocks.map(\.layers) == [0..<2, 2..<4])
    #expect(abs(two.latency - 4.1) < 1e-12)
    #expect(throws: ClusterError.self) { try LayerPlacement.plan(layers: layers, devices: Array(devices.prefix(2)), bandwidth: [[0, 0], [0, 0]]) }
    #expect(throws: ClusterError.self) { try LayerPlacement.plan(layers: [], devices: devices, bandwidth: full) }
}
