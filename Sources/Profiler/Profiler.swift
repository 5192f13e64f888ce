import Cluster
import Dispatch
import Engine
import Foundation
import Imaging
import Models
import Simulator
import Tensor

/// Profiles a model on this machine and writes the simulator's cost model (`tessera-cost-model/1`)
/// from the measurements: prefill, decode and mixed steps of an `LLMEngine` serving shaped
/// requests (the path the server runs), fitted with one fixed cost per step; for vision-language
/// models the image pipeline's preprocessing and encoding; same-host copies for transfers; the
/// engine's start (model load) for start-up.
///
/// ```swift
/// let costModel = try await Profiler.profile(directory: URL(fileURLWithPath: "fixtures/models/llava-tiny"), settings: ProfileSettings())
/// try Profiler.write(costModel, to: URL(fileURLWithPath: "profile.json"))
/// ```
///
/// Not measured: network or shared-memory transfers between processes, and role switches.
public enum Profiler {
    /// The vision side of a vision-language model and its image processor.
    public struct Vision {
        public var model: VisionLanguageModel
        public var processor: any ImageProcessor

        public init(model: VisionLanguageModel, processor: any ImageProcessor) {
            self.model = model
            self.processor = processor
        }
    }

    /// Starts an engine on the model (timing its start as the start-up time) and profiles it; a
    /// vision-language folder also gets its encoder profiled.
    public static func profile(directory: URL, settings: ProfileSettings) async throws -> CostModel {
        try settings.validate()
        let config = try ModelLoader.languageModelConfig(directory: directory)
        let recorder = EngineProfiler.Recorder()
        let start = DispatchTime.now().uptimeNanoseconds
        let engine = try LLMEngine(directory: directory, config: EngineProfiler.engineConfig(settings, model: config, recorder: recorder),
                                   parts: .languageModel)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        do {
            var vision: Vision?
            if ModelLoader.visionLanguageArchitectures.contains(try ModelLoader.architecture(directory: directory)) {
                vision = Vision(model: try ModelLoader.loadVisionLanguageModel(directory: directory),
                                processor: try ImageProcessorLoader.load(directory: directory))
            }
            let model = try await profile(EngineProfiler(engine: engine, recorder: recorder, settings: settings), config: config,
                                          vision: vision, name: directory.standardizedFileURL.lastPathComponent, loadSeconds: loadSeconds)
            await engine.shutdown(gracePeriod: .zero)
            return model
        } catch {
            await engine.shutdown(gracePeriod: .zero)
            throw error
        }
    }

    /// Profiles a started engine whose decoder has `config`.
    static func profile(_ engine: EngineProfiler, config: LanguageModelConfig, vision: Vision?, name: String,
                        loadSeconds: Double) async throws -> CostModel {
        let settings = engine.settings
        let prefillPoints = try await engine.prefillPoints()
        let decodePoints = try await engine.decodePoints()
        let mixedPoints = try await engine.mixedPoints()
        // Steps of at most `matvecRowLimit` tokens run the weight-streaming kernels, larger ones SGEMM
        // on widened weights: each regime gets its own fit when at least three points fall in the small one.
        let limit = WeightMatrix.matvecRowLimit
        let isSmall = (prefill: { (p: CostModel.Measurements.Prefill) in p.tokens <= limit },
                       decode: { (d: CostModel.Measurements.Decode) in d.batch <= limit },
                       mixed: { (m: CostModel.Measurements.Mixed) in m.batch + m.prefillTokens <= limit })
        let smallCount = prefillPoints.filter(isSmall.prefill).count + decodePoints.filter(isSmall.decode).count
            + mixedPoints.filter(isSmall.mixed).count
        let smallStep = try smallCount >= 3
            ? CostModelFit.smallStep(maxTokens: limit, prefill: prefillPoints.filter(isSmall.prefill),
                                         decode: decodePoints.filter(isSmall.decode), mixed: mixedPoints.filter(isSmall.mixed))
            : nil
        let step = try smallStep == nil
            ? CostModelFit.step(prefill: prefillPoints, decode: decodePoints, mixed: mixedPoints)
            : CostModelFit.step(prefill: prefillPoints.filter { !isSmall.prefill($0) }, decode: decodePoints.filter { !isSmall.decode($0) },
                                    mixed: mixedPoints.filter { !isSmall.mixed($0) })
        let copyPoints = CopyProfiler.measure(sizes: settings.copySizes, runs: settings.runs)
        let transfer = try CostModelFit.transfer(copyPoints)
        let encoder = try vision.map { v throws(ProfileError) in try profileEncoder(v, settings: settings) }

        let bytesPerBlock = PagedKVCache.bytesPerBlock(config: config, blockSize: settings.blockSize)
        let kvTokens = settings.kvCacheMemoryBytes / bytesPerBlock * settings.blockSize
        let limits = settings.scheduler
        var notes = "Prefill, decode and mixed steps: LLMEngine's steps (scheduling, the batched forward over its paged KV cache, "
            + "greedy sampling) on requests shaped for each point, timed by the engine's step hook, "
            + "fitted together by non-negative least squares on relative error with one fixed cost per forward pass "
            + "(prefill.fixedMs = decode.fixedMs), so a step mixing prompt chunks and decodes pays it once; steps of at most "
            + "\(limit) tokens, which run the weight-streaming matrix-vector kernels instead of SGEMM, are fitted on their own "
            + "(smallStep). Transfer: a "
            + "same-host memcpy of the bytes (KV rows in float32), standing in until shared-memory and TCP transfers "
            + "between worker processes are measured. Start-up: the engine's start (model load). Not measured: role switches (zero)."
        notes += encoder == nil
            ? " Text-only model: no encoder (encode coefficients are zero)."
            : " Encode: the image pipeline's preprocessing and encodeImage, one image after another as the engine runs "
                + "them, so a batch holds one request's images (maxBatchTokens = one image's tokens)."
        return CostModel(
            model: name, hardware: hardwareDescription(), gpusPerInstance: 1,
            sources: ["measured by `tessera profile` on this machine: medians of \(settings.runs) runs per point, "
                + "batch sizes \(settings.batchSizes), prompt/context lengths \(settings.promptLengths)"
                + (encoder == nil ? "" : ", image sizes \(settings.imageSizes.map { "\($0.width)x\($0.height)" }), "
                    + "images per request \(settings.imagesPerRequest)")],
            notes: notes,
            imageTokens: encoder?.rule ?? .fixed(tokens: 1),
            encode: encoder?.coefficients ?? .init(fixedMs: 0, perImageMs: 0, perTokenMs: 0, maxBatchTokens: limits.maxBatchedTokens),
            prefill: .init(fixedMs: step.fixedMs, perTokenMs: step.perTokenMs, perTokenSquaredMs: step.perTokenSquaredMs,
                           imageTokenWeight: 1, maxBatchTokens: limits.maxBatchedTokens, maxBatchRequests: limits.maxRunningRequests),
            decode: .init(fixedMs: step.fixedMs, perSequenceMs: step.perSequenceMs, perContextTokenMs: step.perContextTokenMs,
                          maxBatch: limits.maxRunningRequests),
            smallStep: smallStep,
            transfer: .init(latencyMs: transfer.latencyMs, bandwidthGBps: transfer.bandwidthGBps,
                            bytesPerImageToken: Double(config.hiddenSize * MemoryLayout<Float>.size),
                            bytesPerKVToken: Double(bytesPerBlock / settings.blockSize)),
            memory: .init(kvCapacityTokens: kvTokens, encoderCacheTokens: encoder == nil ? 0 : EngineConfig().encoderCacheTokens,
                          prefixCacheTokens: kvTokens),
            lifecycle: .init(startupSeconds: loadSeconds, roleSwitchSeconds: 0),
            measurements: .init(prefill: prefillPoints, decode: decodePoints, mixed: mixedPoints, encode: encoder?.points,
                                transfer: copyPoints, loadSeconds: loadSeconds))
    }

    /// Encode points, their fit and the image-token rule.
    private static func profileEncoder(_ vision: Vision, settings: ProfileSettings) throws(ProfileError)
        -> (points: [CostModel.Measurements.Encode], coefficients: CostModel.Encode, rule: ImageTokenRule)
    {
        let profiler = EncodeProfiler(model: vision.model, processor: vision.processor, settings: settings)
        let points = try profiler.encodePoints()
        let fit = try CostModelFit.encode(points)
        let largestImage = points.map { $0.tokens / $0.images }.max() ?? 1
        return (points, .init(fixedMs: fit.fixedMs, perImageMs: fit.perImageMs, perTokenMs: fit.perTokenMs, maxBatchTokens: largestImage),
                try profiler.imageTokenRule())
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
