import Foundation
import Cluster
@testable import Simulator

/// A cost model with round numbers so expected times can be worked out by hand.
func roundCostModel(kvCapacity: Int = 100_000) -> CostModel {
    CostModel(
        format: CostModel.formatTag, model: "test", hardware: "test", gpusPerInstance: 1, sources: ["hand-made for tests"], notes: nil,
        imageTokens: .fixed(tokens: 100),
        encode: .init(fixedMs: 0, perImageMs: 0, perTokenMs: 0.1, maxBatchTokens: 4096),
        prefill: .init(fixedMs: 10, perTokenMs: 1, perTokenSquaredMs: 0, imageTokenWeight: 1, maxBatchTokens: 8192, maxBatchRequests: 16),
        decode: .init(fixedMs: 10, perSequenceMs: 0, perContextTokenMs: 0, maxBatch: 64),
        transfer: .init(latencyMs: 5, bandwidthGBps: 1e6, bytesPerImageToken: 1, bytesPerKVToken: 1),
        memory: .init(kvCapacityTokens: kvCapacity, encoderCacheTokens: 10_000, prefixCacheTokens: 10_000),
        lifecycle: .init(startupSeconds: 30, roleSwitchSeconds: 0.5))
}

let looseSLO = SLOClasses(LatencySLO(ttft: 100, tpot: 100))

/// Whether two simulated times are equal but for rounding.
func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

/// A long decode (r0: 100 prompt, 100 output tokens) and a short request (r1, with `images`)
/// arriving at 0.505 s in its middle, on one monolithic instance without a step-time target (a
/// prompt joins a step whole), as the hand-worked timelines assume.
func decodeWithLateArrival(images: [TraceImage] = []) -> (trace: Trace, system: SystemSpec) {
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 100),
                                 TraceRequest(arrival: 0.505, textTokens: 100, images: images, outputTokens: 3)])
    var system = SystemSpec(name: "m", deployment: .monolithic(1))
    system.policies.stepTimeTargetMs = 0
    return (trace, system)
}

func fixtureURL(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
}
