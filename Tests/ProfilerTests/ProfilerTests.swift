import Foundation
import Models
import Simulator
import Testing
@testable import Profiler

private let modelDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/models/llama-gqa")

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

@Test func profilesARealCheckpointIntoACostModel() throws {
    let model = try Profiler.profile(directory: modelDirectory, settings: settings())
    let m = try #require(model.measurements)
    // 3 lengths × 4 batches, minus 8×200, over the 1024-token budget.
    #expect(m.prefill.count == 11)
    #expect(m.decode.count == 12)
    #expect(m.transfer.count == 4)
    #expect((m.prefill.map(\.ms) + m.decode.map(\.ms) + m.transfer.map(\.ms)).allSatisfy { $0 > 0 })
    #expect(model.prefill.perTokenMs > 0)
    #expect(model.decode.fixedMs + model.decode.perSequenceMs > 0)
    // The checkpoint's KV rows: 2 layers × 2 KV heads × 32 dims × (K, V) × 4 bytes.
    #expect(model.transfer.bytesPerKVToken == 1024)
    #expect(model.memory.kvCapacityTokens == (1 << 20) / 1024)
    #expect(model.prefill.maxBatchTokens == 1024 && model.decode.maxBatch == 64)

    // How well the fit follows real timings is a property of the machine's noise, not of the code,
    // so it is reported by `tessera profile`, not asserted here; CostModelFitTests checks the fit
    // itself on exact synthetic points.
}

@Test func writtenProfileLoadsAsAValidCostModel() throws {
    let model = try Profiler.profile(directory: modelDirectory, settings: settings())
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

@Test func promptLengthsBeyondTheContextAreRejected() throws {
    let model = try ModelLoader.load(directory: modelDirectory)
    var s = settings()
    s.promptLengths = [300, 1000]
    #expect(throws: ProfileError.tooFewPoints(stage: "prefill", points: 0, needed: 3)) {
        try Profiler.profile(model: model, name: "t", loadSeconds: 0, settings: s)
    }
    s.promptLengths = [16]
    s.runs = 0
    #expect(throws: ProfileError.invalidSettings("runs must be at least 1")) {
        try Profiler.profile(model: model, name: "t", loadSeconds: 0, settings: s)
    }
}
