import Foundation
import Cluster
import Models
import Simulator
import Testing
@testable import Profiler

private let modelsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/models")
private let modelDirectory = modelsDirectory.appendingPathComponent("llama-gqa")

/// Shapes large enough that a step takes tens to hundreds of microseconds on the tiny checkpoint
/// (context 256), so timer resolution and call overhead stay small next to the work.
private func settings() -> ProfileSettings {
    var s = ProfileSettings()
    s.batchSizes = [1, 2, 4, 8]
    s.promptLengths = [16, 64, 200]
    s.runs = 7
    s.scheduler.maxBatchedTokens = 1024
    s.kvCacheMemoryBytes = 1 << 20
    return s
}

@Test func profilesARealCheckpointIntoACostModel() async throws {
    let model = try await Profiler.profile(directory: modelDirectory, settings: settings())
    let m = try #require(model.measurements)
    // 3 lengths × 4 batches, minus 8×200, over the 1024-token budget.
    #expect(m.prefill.count == 11)
    #expect(m.decode.count == 12)
    // Every batch size decoding at the middle context (64) next to a prompt of each length.
    let mixed = try #require(m.mixed)
    #expect(mixed.count == 12 && mixed.allSatisfy { $0.contextTokens == $0.batch * 65 })
    #expect(m.transfer.count == 4)
    #expect((m.prefill.map(\.ms) + m.decode.map(\.ms) + mixed.map(\.ms) + m.transfer.map(\.ms)).allSatisfy { $0 > 0 })
    #expect(model.prefill.perTokenMs > 0)
    #expect(model.decode.fixedMs + model.decode.perSequenceMs > 0)
    // One forward pass, one fixed cost.
    #expect(model.prefill.fixedMs == model.decode.fixedMs)
    // Decode batches of 1, 2 and 4 run the engine's matrix-vector kernels: fitted on their own.
    let small = try #require(model.smallStep)
    #expect(small.maxTokens == 4 && small.fixedMs + small.perTokenMs > 0)
    // A text model has no encoder.
    #expect(m.encode == nil && model.encode.perTokenMs == 0 && model.memory.encoderCacheTokens == 0)
    // The checkpoint's KV rows: 2 layers × 2 KV heads × 32 dims × (K, V) × 4 bytes.
    #expect(model.transfer.bytesPerKVToken == 1024)
    #expect(model.memory.kvCapacityTokens == (1 << 20) / 1024)
    #expect(model.prefill.maxBatchTokens == 1024 && model.decode.maxBatch == 64)

    // How well the fit follows real timings is a property of the machine's noise, not of the code,
    // so it is reported by `tessera profile`, not asserted here; CostModelFitTests checks the fit
    // itself on exact synthetic points.
}

@Test func profilesTheEncoderOfAVisionLanguageModel() async throws {
    var s = settings()
    s.imageSizes = [(48, 48), (96, 64)]
    s.imagesPerRequest = [1, 2]
    s.runs = 3
    let model = try await Profiler.profile(directory: modelsDirectory.appendingPathComponent("llava-tiny"), settings: s)
    let points = try #require(model.measurements?.encode)
    // 48-px CLIP tower, 12-px patches: 16 tokens per image (class token dropped), whatever the input size.
    #expect(points.count == 4)
    #expect(points.allSatisfy { $0.tokens == 16 * $0.images && $0.ms > 0 })
    #expect(model.imageTokens == .fixed(tokens: 16))
    #expect(model.encode.maxBatchTokens == 16)
    #expect(model.encode.fixedMs + model.encode.perImageMs + model.encode.perTokenMs > 0)
    #expect(model.memory.encoderCacheTokens > 0)
    #expect(model.transfer.bytesPerImageToken == 64 * 4)
    try model.validate()

    // The simulator's encode stage runs on these numbers: one 640×480 image on an E/P/D deployment
    // is encoded, its features shipped, then 20 text + 16 image tokens prefilled.
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 20, images: [TraceImage(width: 640, height: 480, hash: 1)], outputTokens: 2)])
    let run = try ClusterSimulator.run(trace: trace, system: SystemSpec(name: "epd", deployment: .staticEPD(encode: 1, prefill: 1, decode: 1)),
                                       costModel: model, slo: SLOClasses(LatencySLO(ttft: 100, tpot: 100)))
    let expected = model.encodeSeconds(images: 1, tokens: 16) + model.transferSeconds(bytes: 16 * model.transfer.bytesPerImageToken)
        + model.prefillSeconds(tokens: 36, squaredLengths: 36 * 36)
    #expect(abs(run.ttft.mean - expected) < 1e-12)
}

@Test func qwen2VLProfileCarriesTheProcessorsTokenRule() async throws {
    var s = settings()
    s.batchSizes = [1, 2, 4]
    s.imageSizes = [(56, 56), (112, 112), (200, 150)]
    s.imagesPerRequest = [1]
    s.runs = 1
    let model = try await Profiler.profile(directory: modelsDirectory.appendingPathComponent("qwen2-vl-tiny"), settings: s)
    #expect(model.imageTokens == .qwen2VL(patch: 14, merge: 2, minPixels: 3136, maxPixels: 12544))
    // The simulator's rule gives the tokens the model's processor produced for every measured size.
    let points = try #require(model.measurements?.encode)
    #expect(points.map(\.tokens) == [4, 16, 12])
    for p in points { #expect(model.imageTokens.tokens(width: p.width, height: p.height) == p.tokens) }
}

@Test func writtenProfileLoadsAsAValidCostModel() async throws {
    let model = try await Profiler.profile(directory: modelDirectory, settings: settings())
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: url) }
    try Profiler.write(model, to: url)
    let loaded = try CostModel.load(from: url)
    #expect(loaded == model)
    #expect(loaded.format == CostModel.formatTag)
    #expect(loaded.lifecycle.startupSeconds > 0)
    let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    #expect(json["measurements"] != nil)
}

@Test func costModelsWithoutMeasurementsStillLoad() throws {
    // Hand-derived files predate the measurements section.
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/sim/costmodels/qwen2.5-vl-7b-a100.json")
    let model = try CostModel.load(from: url)
    #expect(model.measurements == nil)
}

@Test func promptLengthsBeyondTheContextAreRejected() async throws {
    var s = settings()
    s.promptLengths = [300, 1000]
    await #expect(throws: ProfileError.tooFewPoints(stage: "prefill", points: 0, needed: 3)) {
        try await Profiler.profile(directory: modelDirectory, settings: s)
    }
    s.promptLengths = [16]
    s.runs = 0
    await #expect(throws: ProfileError.invalidSettings("runs must be at least 1")) {
        try await Profiler.profile(directory: modelDirectory, settings: s)
    }
}
