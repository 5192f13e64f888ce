import Dispatch
import Foundation
import Models
import Simulator
import Tensor

/// Profiles a model on this machine and writes the simulator's cost model (`tessera-cost-model/1`)
/// from the measurements: prefill and decode on the engine's batched forward, same-host copies for
/// transfers, the model load for start-up.
///
/// ```swift
/// let costModel = try Profiler.profile(directory: URL(fileURLWithPath: "fixtures/models/llama-gqa"), settings: ProfileSettings())
/// try Profiler.write(costModel, to: URL(fileURLWithPath: "profile.json"))
/// ```
///
/// Not measured: the vision encoder (its coefficients are written as zero and the note says so) and
/// network or shared-memory transfers between processes.
public enum Profiler {
    /// Loads the model (timing the load as the start-up time) and profiles it.
    public static func profile(directory: URL, settings: ProfileSettings) throws -> CostModel {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = try ModelLoader.load(directory: directory)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return try profile(model: model, name: directory.standardizedFileURL.lastPathComponent, loadSeconds: loadSeconds, settings: settings)
    }

    /// Profiles a loaded model.
    public static func profile(model: any CausalLanguageModel, name: String, loadSeconds: Double, settings: ProfileSettings) throws(ProfileError) -> CostModel {
        try settings.validate()
        let engine = EngineProfiler(model: model, settings: settings)
        let prefillPoints = try engine.prefillPoints()
        let decodePoints = try engine.decodePoints()
        let copyPoints = CopyProfiler.measure(sizes: settings.copySizes, runs: settings.runs)
        let prefill = try CostModelFit.prefill(prefillPoints)
        let decode = try CostModelFit.decode(decodePoints)
        let transfer = try CostModelFit.transfer(copyPoints)

        let config = model.config
        let bytesPerBlock = PagedKVCache.bytesPerBlock(config: config, blockSize: settings.blockSize)
        let kvTokens = settings.kvCacheMemoryBytes / bytesPerBlock * settings.blockSize
        let limits = settings.scheduler
        return CostModel(
            model: name, hardware: hardwareDescription(), gpusPerInstance: 1,
            sources: ["measured by `tessera profile` on this machine: medians of \(settings.runs) runs per point, "
                + "batch sizes \(settings.batchSizes), prompt/context lengths \(settings.promptLengths)"],
            notes: "Prefill and decode: LLMEngine's batched forward over its paged KV cache plus greedy sampling, fitted by "
                + "non-negative least squares on relative error. Transfer: a same-host memcpy of the bytes (KV rows in float32), "
                + "standing in until shared-memory and TCP transfers between worker processes are measured. Start-up: the "
                + "model load. Not measured: the vision encoder (encode coefficients are zero; profile a vision-language "
                + "model's encoder separately) and role switches (zero).",
            imageTokens: .fixed(tokens: 1),
            encode: .init(fixedMs: 0, perImageMs: 0, perTokenMs: 0, maxBatchTokens: limits.maxBatchedTokens),
            prefill: .init(fixedMs: prefill.fixedMs, perTokenMs: prefill.perTokenMs, perTokenSquaredMs: prefill.perTokenSquaredMs,
                           imageTokenWeight: 1, maxBatchTokens: limits.maxBatchedTokens, maxBatchRequests: limits.maxRunningRequests),
            decode: .init(fixedMs: decode.fixedMs, perSequenceMs: decode.perSequenceMs, perContextTokenMs: decode.perContextTokenMs,
                          maxBatch: limits.maxRunningRequests),
            transfer: .init(latencyMs: transfer.latencyMs, bandwidthGBps: transfer.bandwidthGBps,
                            bytesPerImageToken: Double(config.hiddenSize * MemoryLayout<Float>.size),
                            bytesPerKVToken: Double(bytesPerBlock / settings.blockSize)),
            memory: .init(kvCapacityTokens: kvTokens, encoderCacheTokens: 0, prefixCacheTokens: kvTokens),
            lifecycle: .init(startupSeconds: loadSeconds, roleSwitchSeconds: 0),
            measurements: .init(prefill: prefillPoints, decode: decodePoints, transfer: copyPoints, loadSeconds: loadSeconds))
    }

    /// Writes a cost model as pretty-printed JSON with sorted keys.
    public static func write(_ model: CostModel, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(model).write(to: url)
    }

    /// The CPU model and the compute threads the measurements used.
    static func hardwareDescription() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let name = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(name), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ComputeThreads.count) compute threads"
    }
}
