import Cluster
import Foundation

/// Latency of each serving stage as a function of batch shape, for one instance type.
///
/// Stored as JSON (format `tessera-cost-model/1`), written by hand from published measurements or
/// by a profiler. All times are milliseconds:
/// - encode batch: `fixedMs + perImageMs·images + perTokenMs·imageTokens`
/// - prefill batch: `fixedMs + perTokenMs·T + perTokenSquaredMs·Σ len²`, with image tokens counted
///   at `imageTokenWeight` (1 for decoder-only models; small for cross-attention models)
/// - decode step: `fixedMs + perSequenceMs·batch + perContextTokenMs·Σ context`
/// - a step that mixes prefill chunks with decodes is one batched forward pass, as the engine runs
///   it: the larger of the two fixed costs once, plus both variable parts (``stepSeconds``). A
///   profiled file fits one fixed cost shared by all three shapes, so there it is exact.
/// - optional `smallStep`: steps of at most `maxTokens` tokens in all, which an engine runs with
///   other kernels (the CPU backend streams 16-bit weights row by row for them, and widens the
///   weights for SGEMM above): `fixedMs + perTokenMs·tokens + perAttendedTokenMs·(Σcontext + Σ chunk·(before + chunk))`.
/// - transfer: `latencyMs + bytes / bandwidth`
///
/// A profiled file (`tessera profile`) also carries the measured points in `measurements`; files
/// without it (hand-derived ones) stay valid.
///
/// ```json
/// {"format": "tessera-cost-model/1", "model": "Qwen2.5-VL-7B", "hardware": "A100-80GB", ...}
/// ```
public struct CostModel: Sendable, Hashable, Codable {
    public static let formatTag = "tessera-cost-model/1"

    public struct Encode: Sendable, Hashable, Codable {
        public var fixedMs: Double
        public var perImageMs: Double
        public var perTokenMs: Double
        public var maxBatchTokens: Int

        public init(fixedMs: Double, perImageMs: Double, perTokenMs: Double, maxBatchTokens: Int) {
            self.fixedMs = fixedMs
            self.perImageMs = perImageMs
            self.perTokenMs = perTokenMs
            self.maxBatchTokens = maxBatchTokens
        }
    }

    public struct Prefill: Sendable, Hashable, Codable {
        public var fixedMs: Double
        public var perTokenMs: Double
        public var perTokenSquaredMs: Double
        public var imageTokenWeight: Double
        public var maxBatchTokens: Int
        public var maxBatchRequests: Int

        public init(fixedMs: Double, perTokenMs: Double, perTokenSquaredMs: Double, imageTokenWeight: Double, maxBatchTokens: Int, maxBatchRequests: Int) {
            self.fixedMs = fixedMs
            self.perTokenMs = perTokenMs
            self.perTokenSquaredMs = perTokenSquaredMs
            self.imageTokenWeight = imageTokenWeight
            self.maxBatchTokens = maxBatchTokens
            self.maxBatchRequests = maxBatchRequests
        }
    }

    public struct Decode: Sendable, Hashable, Codable {
        public var fixedMs: Double
        public var perSequenceMs: Double
        public var perContextTokenMs: Double
        public var maxBatch: Int

        public init(fixedMs: Double, perSequenceMs: Double, perContextTokenMs: Double, maxBatch: Int) {
            self.fixedMs = fixedMs
            self.perSequenceMs = perSequenceMs
            self.perContextTokenMs = perContextTokenMs
            self.maxBatch = maxBatch
        }
    }

    /// Forward passes of at most `maxTokens` tokens, priced on their own (see the type's doc).
    public struct SmallStep: Sendable, Hashable, Codable {
        public var maxTokens: Int
        public var fixedMs: Double
        public var perTokenMs: Double
        public var perAttendedTokenMs: Double

        public init(maxTokens: Int, fixedMs: Double, perTokenMs: Double, perAttendedTokenMs: Double) {
            self.maxTokens = maxTokens
            self.fixedMs = fixedMs
            self.perTokenMs = perTokenMs
            self.perAttendedTokenMs = perAttendedTokenMs
        }
    }

    public struct Transfer: Sendable, Hashable, Codable {
        public var latencyMs: Double
        public var bandwidthGBps: Double
        public var bytesPerImageToken: Double
        public var bytesPerKVToken: Double

        public init(latencyMs: Double, bandwidthGBps: Double, bytesPerImageToken: Double, bytesPerKVToken: Double) {
            self.latencyMs = latencyMs
            self.bandwidthGBps = bandwidthGBps
            self.bytesPerImageToken = bytesPerImageToken
            self.bytesPerKVToken = bytesPerKVToken
        }
    }

    public struct Memory: Sendable, Hashable, Codable {
        /// KV cache per LLM instance, tokens.
        public var kvCapacityTokens: Int
        /// Encoder-output cache per instance, image tokens.
        public var encoderCacheTokens: Int
        /// KV prefix cache kept for reuse per instance, tokens (carved out of spare KV space).
        public var prefixCacheTokens: Int

        public init(kvCapacityTokens: Int, encoderCacheTokens: Int, prefixCacheTokens: Int) {
            self.kvCapacityTokens = kvCapacityTokens
            self.encoderCacheTokens = encoderCacheTokens
            self.prefixCacheTokens = prefixCacheTokens
        }
    }

    public struct Lifecycle: Sendable, Hashable, Codable {
        /// New instance to ready: container start plus weight load.
        public var startupSeconds: Double
        /// Role or group change of a running instance (EPD reports < 0.7 s).
        public var roleSwitchSeconds: Double

        public init(startupSeconds: Double, roleSwitchSeconds: Double) {
            self.startupSeconds = startupSeconds
            self.roleSwitchSeconds = roleSwitchSeconds
        }
    }

    public var format: String
    public var model: String
    public var hardware: String
    public var gpusPerInstance: Int
    /// Where every number comes from.
    public var sources: [String]
    public var notes: String?
    public var imageTokens: ImageTokenRule
    public var encode: Encode
    public var prefill: Prefill
    public var decode: Decode
    /// Absent when one set of coefficients prices every step (the hand-derived GPU files).
    public var smallStep: SmallStep?
    public var transfer: Transfer
    public var memory: Memory
    public var lifecycle: Lifecycle
    /// Image workers (a diffusion model); absent in language-model-only files.
    public var diffusion: Diffusion?
    /// The points a profiler measured and fitted this model to; absent in hand-derived files.
    public var measurements: Measurements?

    public init(format: String = CostModel.formatTag, model: String, hardware: String, gpusPerInstance: Int, sources: [String],
                notes: String?, imageTokens: ImageTokenRule, encode: Encode, prefill: Prefill, decode: Decode, smallStep: SmallStep? = nil,
                transfer: Transfer, memory: Memory, lifecycle: Lifecycle, diffusion: Diffusion? = nil, measurements: Measurements? = nil) {
        self.format = format
        self.model = model
        self.hardware = hardware
        self.gpusPerInstance = gpusPerInstance
        self.sources = sources
        self.notes = notes
        self.imageTokens = imageTokens
        self.encode = encode
        self.prefill = prefill
        self.decode = decode
        self.smallStep = smallStep
        self.transfer = transfer
        self.memory = memory
        self.lifecycle = lifecycle
        self.diffusion = diffusion
        self.measurements = measurements
    }

    /// Seconds to encode a batch.
    public func encodeSeconds(images: Int, tokens: Int) -> Double {
        guard tokens > 0 else { return 0 }
        return (encode.fixedMs + encode.perImageMs * Double(images) + encode.perTokenMs * Double(tokens)) / 1000
    }

    /// Seconds to prefill a batch with `tokens` effective tokens and `squaredLengths` = Σ len².
    public func prefillSeconds(tokens: Double, squaredLengths: Double) -> Double {
        stepSeconds(prefillTokens: tokens, squaredLengths: squaredLengths, decodeBatch: 0, contextTokens: 0)
    }

    /// Seconds of one decode step.
    public func decodeStepSeconds(batch: Int, contextTokens: Int) -> Double {
        if let small = smallStep, batch <= small.maxTokens {
            return (small.fixedMs + small.perTokenMs * Double(batch) + small.perAttendedTokenMs * Double(contextTokens)) / 1000
        }
        return (decode.fixedMs + decode.perSequenceMs * Double(batch) + decode.perContextTokenMs * Double(contextTokens)) / 1000
    }

    /// How much longer each decode step of `batch` sequences gets than the one before, as every
    /// sequence's context grows by one token.
    public func decodeStepGrowthSeconds(batch: Int) -> Double {
        let perContextTokenMs = smallStep.flatMap { batch <= $0.maxTokens ? $0.perAttendedTokenMs : nil } ?? decode.perContextTokenMs
        return perContextTokenMs * Double(batch) / 1000
    }

    /// Seconds of one engine step that runs `prefillTokens` prompt tokens (`squaredLengths` = Σ
    /// chunk·(tokens before it + chunk)) and one token for each of `decodeBatch` sequences holding
    /// `contextTokens` tokens of context in all, in a single forward pass: one fixed cost, not one per
    /// kind of work.
    public func stepSeconds(prefillTokens: Double, squaredLengths: Double, decodeBatch: Int, contextTokens: Int) -> Double {
        let prefills = prefillTokens > 0, decodes = decodeBatch > 0
        guard prefills || decodes else { return 0 }
        if let small = smallStep, prefillTokens + Double(decodeBatch) <= Double(small.maxTokens) {
            let attended = squaredLengths + Double(contextTokens)
            return (small.fixedMs + small.perTokenMs * (prefillTokens + Double(decodeBatch)) + small.perAttendedTokenMs * attended) / 1000
        }
        guard prefills else { return decodeStepSeconds(batch: decodeBatch, contextTokens: contextTokens) }
        guard decodes else { return (prefill.fixedMs + prefill.perTokenMs * prefillTokens + prefill.perTokenSquaredMs * squaredLengths) / 1000 }
        let prefillMs = prefill.perTokenMs * prefillTokens + prefill.perTokenSquaredMs * squaredLengths
        let decodeMs = decode.perSequenceMs * Double(decodeBatch) + decode.perContextTokenMs * Double(contextTokens)
        return (max(prefill.fixedMs, decode.fixedMs) + prefillMs + decodeMs) / 1000
    }

    /// Seconds to move `bytes` between instances.
    public func transferSeconds(bytes: Double) -> Double {
        guard bytes > 0 else { return 0 }
        return transfer.latencyMs / 1000 + bytes / (transfer.bandwidthGBps * 1e9)
    }

    /// Loads and validates a cost-model file.
    public static func load(from url: URL) throws -> CostModel {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SimulationError.unreadableFile(url.path, String(describing: error)) }
        let model: CostModel
        do { model = try JSONDecoder().decode(CostModel.self, from: data) } catch {
            throw SimulationError.invalidFile(url.path, String(describing: error))
        }
        try model.validate()
        return model
    }

    /// Rejects files a simulation cannot run on.
    public func validate() throws {
        guard format == Self.formatTag else { throw SimulationError.invalidConfig("cost model format must be \(Self.formatTag), got \(format)") }
        let nonNegative = [encode.fixedMs, encode.perImageMs, encode.perTokenMs, prefill.fixedMs, prefill.perTokenMs,
                           prefill.perTokenSquaredMs, prefill.imageTokenWeight, decode.fixedMs, decode.perSequenceMs,
                           decode.perContextTokenMs, transfer.latencyMs, transfer.bytesPerImageToken, transfer.bytesPerKVToken,
                           lifecycle.startupSeconds, lifecycle.roleSwitchSeconds]
        guard nonNegative.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw SimulationError.invalidConfig("cost model coefficients must be finite and non-negative") }
        guard decode.fixedMs + decode.perSequenceMs > 0, prefill.perTokenMs > 0, transfer.bandwidthGBps > 0 else {
            throw SimulationError.invalidConfig("decode step, prefill per-token time and bandwidth must be positive")
        }
        guard encode.maxBatchTokens > 0, prefill.maxBatchTokens > 0, prefill.maxBatchRequests > 0, decode.maxBatch > 0,
              memory.kvCapacityTokens > 0, gpusPerInstance > 0 else {
            throw SimulationError.invalidConfig("batch limits, KV capacity and GPUs per instance must be positive")
        }
        if let small = smallStep {
            guard small.maxTokens > 0, [small.fixedMs, small.perTokenMs, small.perAttendedTokenMs].allSatisfy({ $0 >= 0 && $0.isFinite }),
                  small.fixedMs + small.perTokenMs > 0 else {
                throw SimulationError.invalidConfig("smallStep needs a positive token limit and finite, non-negative coefficients, not all zero")
            }
        }
        do { try imageTokens.validate() } catch { throw SimulationError.invalidConfig(error.description) }
        try diffusion?.validate()
    }

    /// Per-instance capacities the planners use (ModServe's profiled "MC"), at a reference batch:
    /// encode at its token budget, prefill at its token budget with `meanPrompt`-token prompts,
    /// decode at half the batch limit with `meanContext` tokens of context each, and whole requests
    /// for a monolithic instance at the given mean request shape.
    /// Capacities of one live worker for `tessera serve --topology … --profile`, where no trace gives
    /// the mean request: `promptTokens` text tokens and one `imageSize` image in, `outputTokens` out.
    public func servingCapacity(promptTokens: Int = 256, outputTokens: Int = 128, imageSize: (width: Int, height: Int) = (448, 448)) -> InstanceCapacity {
        let image = Double(imageTokens.tokens(width: imageSize.width, height: imageSize.height))
        return capacity(meanImageTokens: image, meanImages: 1, meanPrompt: Double(promptTokens) + image, meanOutput: Double(outputTokens))
    }

    public func capacity(meanImageTokens: Double, meanImages: Double, meanPrompt: Double, meanOutput: Double) -> InstanceCapacity {
        let encodeTokens = Double(encode.maxBatchTokens)
        let imagesPerBatch = meanImageTokens > 0 ? max(1, encodeTokens / meanImageTokens * meanImages) : 1
        let encodeRate = encodeTokens / max(encodeSeconds(images: Int(imagesPerBatch.rounded()), tokens: Int(encodeTokens)), 1e-9)
        let prompt = max(1, meanPrompt)
        let prefillRequests = max(1, Double(prefill.maxBatchTokens) / prompt)
        let prefillRate = Double(prefill.maxBatchTokens) / max(prefillSeconds(tokens: Double(prefill.maxBatchTokens), squaredLengths: prefillRequests * prompt * prompt), 1e-9)
        let batch = max(1, decode.maxBatch / 2)
        let context = Int(prompt + meanOutput / 2)
        let step = decodeStepSeconds(batch: batch, contextTokens: batch * context)
        let decodeRate = Double(batch) / step
        let perRequest = meanImageTokens / encodeRate + prompt / prefillRate + max(1, meanOutput) / decodeRate
        return InstanceCapacity(
            encodeTokensPerSecond: encodeRate, prefillTokensPerSecond: prefillRate, decodeTokensPerSecond: decodeRate,
            requestsPerSecond: 1 / perRequest, kvTransferSecondsPerToken: transfer.bytesPerKVToken / (transfer.bandwidthGBps * 1e9),
            decodeStepSeconds: (decode.fixedMs + decode.perContextTokenMs * Double(context)) / 1000,
            decodeStepSecondsPerSequence: (decode.perSequenceMs + decode.perContextTokenMs * Double(context)) / 1000,
            controlNetSecondsPerCall: diffusion.map { $0.controlNetFixedMs / 1000 },
            controlNetSecondsPerCallPixel: diffusion.map { $0.controlNetPerPixelMs / 1000 },
            controlNetSecondsPerCallPixelSquared: diffusion.map { $0.controlNetPerPixelSquaredMs / 1000 })
    }
}
