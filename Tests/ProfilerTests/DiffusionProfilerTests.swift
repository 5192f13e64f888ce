import Cluster
import Foundation
import Testing
@testable import Profiler
@testable import Simulator

private let diffusion = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/diffusion")

/// The UNet call's fit tells a call's fixed cost, each row's per-pixel cost and its per-pixel² cost
/// (self-attention) apart from calls of 1, 2 and 4 guided images at two sizes; a per-row add-on's
/// per-pixel and per-pixel² costs come from one point per size.
@Test func fitsTheUNetCallAndRowCostsWithTheirAttentionTerm() throws {
    let cost = { (rows: Int, pixels: Double) in 5 + Double(rows) * (0.02 * pixels + 3e-6 * pixels * pixels) }
    let steps = [(64, 1), (64, 2), (64, 4), (96, 1), (96, 2), (96, 4)].map { side, images in
        CostModel.Diffusion.Measurements.Step(images: images, rows: 2 * images, width: side, height: side, ms: cost(2 * images, Double(side * side)))
    }
    let step = try DiffusionProfiler.fitStep(steps)
    #expect(abs(step[0] - 5) < 1e-6 && abs(step[1] - 0.02) < 1e-9 && abs(step[2] - 3e-6) < 1e-12, "\(step)")
    let row = try DiffusionProfiler.fitRow([.init(width: 64, height: 64, ms: 0.01 * 4096 + 4e-6 * 4096 * 4096),
                                            .init(width: 96, height: 96, ms: 0.01 * 9216 + 4e-6 * 9216 * 9216)], stage: "ControlNet")
    #expect(abs(row[0] - 0.01) < 1e-9 && abs(row[1] - 4e-6) < 1e-12, "\(row)")
}

/// `tessera profile --image-model` on the tiny SD 1.x fixture: every point measured on the real
/// pipeline, the fit non-negative, and the costs usable by the simulator.
@Test func profilesTheTinySDFixtureIntoDiffusionCosts() throws {
    var settings = DiffusionProfileSettings()
    settings.batchSizes = [1, 2]
    settings.runs = 2
    settings.lora = diffusion.appendingPathComponent("loras/sd1-tiny-peft.safetensors")
    settings.controlNet = diffusion.appendingPathComponent("controlnet-sd1-tiny")
    settings.controlImage = diffusion.appendingPathComponent("control-images/control-a.png")
    let costs = try DiffusionProfiler.profile(directory: diffusion.appendingPathComponent("sd1-tiny"), settings: settings)
    let m = try #require(costs.measurements)
    // The folder's size (16) and twice it, one and two guided images per call.
    #expect(m.steps.map { [$0.width, $0.images, $0.rows] } == [[16, 1, 2], [16, 2, 4], [32, 1, 2], [32, 2, 4]])
    #expect(m.vaeDecode.map(\.width) == [16, 32] && m.controlNet.map(\.width) == [16, 32])
    #expect((m.steps.map(\.ms) + m.vaeDecode.map(\.ms) + m.controlNet.map(\.ms)).allSatisfy { $0 > 0 })
    #expect(m.textEncodeMs > 0 && m.loraLoadMs > 0 && m.loraBindMs > 0 && m.loraMergeMs > 0)
    // The LoRA applied unmerged is timed at both sizes (its cost on the tiny model may be below the
    // timer's noise, so only that it was measured is checked); the binding goes into the costs.
    #expect(m.unmergedLoRA.map(\.width) == [16, 32])
    #expect(costs.loraBindMs == m.loraBindMs)
    #expect(costs.referenceWidth == 16 && costs.maxBatchSize == 8 && costs.loraCacheEntries >= 1)
    // The images' activation memory (measured, unlike the times, the same on every run): kept
    // conditioning, a UNet call and a decode, per pixel; four times the pixels need more of each call.
    let memory = try #require(costs.memory)
    #expect(memory.keptBytes > 0 && memory.stepBytesPerRowPixel > 0 && memory.vaeBytesPerPixel > 0)
    #expect(costs.memoryNeed(width: 32, height: 32, rows: 2).step == Int((memory.stepBytesPerRowPixel * 2048).rounded(.up)))
    let small = costs.memoryNeed(width: 16, height: 16, rows: 2), large = costs.memoryNeed(width: 32, height: 32, rows: 2)
    #expect(large.step > small.step && large.vae > small.vae && large.kept == small.kept)
    try costs.validate()
    // The simulator runs an image on the profiled costs.
    let model = CostModel(model: "sd1-tiny", hardware: "test", gpusPerInstance: 1, sources: [], notes: nil, imageTokens: .fixed(tokens: 1),
                          encode: .init(fixedMs: 0, perImageMs: 0, perTokenMs: 0, maxBatchTokens: 1),
                          prefill: .init(fixedMs: 1, perTokenMs: 1, perTokenSquaredMs: 0, imageTokenWeight: 1, maxBatchTokens: 1, maxBatchRequests: 1),
                          decode: .init(fixedMs: 1, perSequenceMs: 1, perContextTokenMs: 0, maxBatch: 1),
                          transfer: .init(latencyMs: 0, bandwidthGBps: 1, bytesPerImageToken: 1, bytesPerKVToken: 1),
                          memory: .init(kvCapacityTokens: 1, encoderCacheTokens: 0, prefixCacheTokens: 0),
                          lifecycle: .init(startupSeconds: 0, roleSwitchSeconds: 0), diffusion: costs)
    try model.validate()
    let trace = Trace(requests: [TraceRequest(arrival: 0, imageGeneration: ImageGeneration(steps: 4, width: 16, height: 16))])
    let system = SystemSpec(name: "one", deployment: Deployment(slots: [.init(role: .image, group: .image, count: 1)]))
    let result = try ClusterSimulator.run(trace: trace, system: system, costModel: model, slo: SLOClasses(LatencySLO(ttft: 100, tpot: 100)))
    let expected = costs.textEncodeMs / 1000 + 4 * costs.stepSeconds(rowPixels: [16 * 16, 16 * 16]) + costs.vaeDecodeSeconds(width: 16, height: 16)
    let latency = try #require(result.imageLatency).mean
    #expect(abs(latency - expected) < 1e-9, "simulated \(latency) s, the profile's costs add up to \(expected) s")
}
