import Cluster
import Foundation
import Models
import ServingAPI
import Tensor

/// The stages after this one of a layer-split (pipeline-parallel) model, as this stage sees them:
/// UELLM's HELR deployment (arXiv 2409.14961 §4.3) run live. The first stage's engine schedules
/// and samples as a single-process engine does; each later stage runs its layers over the hidden
/// states it is handed, into its own KV cache under the first stage's block tables (as vLLM's
/// pipeline workers follow its one scheduler), so freeing a request's blocks frees them on every stage.
public protocol PipelineLink: Sendable {
    /// The KV blocks every later stage holds: the first stage's engine uses no more.
    var kvBlocks: Int { get }
    /// Runs the later stages over `hidden` (one row per token of `batch`, after this stage's units)
    /// and returns the batch's logits, as `CausalLanguageModel.forward(batch:cache:)` does.
    func forward(_ batch: [BatchSequence], copies: [BlockCopy], hidden: Matrix) throws -> [[Float]]
}

/// What a pipeline's first stage runs: its units (the embedding first) and the rest of the pipeline.
public struct PipelineFirstStage: Sendable {
    public var units: DecoderSlice
    public var next: any PipelineLink

    public init(units: DecoderSlice, next: any PipelineLink) {
        self.units = units
        self.next = next
    }
}

/// A later stage of a layer-split model: its units of the decoder and the KV of its layers, driven
/// one step at a time by the stage before it.
///
/// ```swift
/// let stage = try PipelineStage(directory: model, units: DecoderSlice(units: 2 ..< 4), kvCacheMemoryBytes: 64 << 20,
///                               blockSize: 16, next: nil)
/// let logits = try stage.run(batch, copies: [], hidden: hidden)
/// ```
public final class PipelineStage: @unchecked Sendable {
    public let model: DecoderLanguageModel
    let cache: PagedKVCache
    let next: (any PipelineLink)?

    /// Loads `units` of the model in `directory` with as many KV blocks as `kvCacheMemoryBytes`
    /// holds for its layers and every later stage holds too.
    public init(directory: URL, units: DecoderSlice, kvCacheMemoryBytes: Int, blockSize: Int, quantization: DType? = nil,
                next: (any PipelineLink)?) throws {
        model = try Self.loadDecoder(directory: directory, quantization: quantization).slice(units)
        guard units.hasHead(numLayers: model.config.numLayers) == (next == nil) else {
            throw ForwardError.invalidStage(detail: "units \(units) \(next == nil ? "need a next stage for the LM head" : "end with the LM head; no stage follows")")
        }
        let blocks = Self.blockCount(model, memory: kvCacheMemoryBytes, blockSize: blockSize, next: next)
        cache = PagedKVCache(config: model.config, blockCount: blocks, blockSize: blockSize, layers: model.kvLayers)
        self.next = next
    }

    public var kvBlocks: Int { cache.blockCount }

    /// One step: the first stage's partial-block copies, this stage's units over `hidden`, then the rest.
    public func run(_ batch: [BatchSequence], copies: [BlockCopy], hidden: Matrix) throws -> [[Float]] {
        for c in copies { cache.copy(block: c.source, to: c.destination, positions: c.positions) }
        return try Self.handOn(model.forward(batch: batch, hidden: hidden, cache: cache), batch, copies: copies, to: next)
    }

    /// Logits from a last stage; otherwise what the following stages make of the hidden states.
    static func handOn(_ output: DecoderLanguageModel.StageOutput, _ batch: [BatchSequence], copies: [BlockCopy],
                       to next: (any PipelineLink)?) throws -> [[Float]] {
        switch output {
        case let .logits(logits): return logits
        case let .hidden(hidden):
            guard let next else { throw ForwardError.invalidStage(detail: "the hidden states have no next stage") }
            return try next.forward(batch, copies: copies, hidden: hidden)
        }
    }

    /// Blocks of `memory` for the stage's layers, capped by the later stages'; a stage without
    /// layers (only the LM head) holds no KV and takes the later stages' count.
    static func blockCount(_ model: DecoderLanguageModel, memory: Int, blockSize: Int, next: (any PipelineLink)?) -> Int {
        let perBlock = PagedKVCache.bytesPerBlock(config: model.config, blockSize: blockSize, layers: model.kvLayers)
        let own = perBlock == 0 ? Int(Int32.max) : memory / perBlock
        return min(own, next?.kvBlocks ?? .max)
    }

    /// The decoder of a model folder: a text model whole, or a vision-language model's language model.
    static func loadDecoder(directory: URL, quantization: DType?) throws -> DecoderLanguageModel {
        let model: any CausalLanguageModel = ModelLoader.visionLanguageArchitectures.contains(try ModelLoader.architecture(directory: directory))
            ? try ModelLoader.loadVisionLanguageDecoder(directory: directory)
            : try ModelLoader.load(directory: directory, quantization: quantization)
        guard let decoder = model as? DecoderLanguageModel else {
            throw ForwardError.invalidStage(detail: "\(type(of: model)) cannot be split into pipeline stages")
        }
        return decoder
    }

    /// HELR's placement units of the model in `directory` (see ``DecoderSlice``) as its float32
    /// weights load: what a front end splits over a pipeline's stages.
    public static func placementUnits(directory: URL) throws -> [LayerPlacement.Layer] {
        let c = try ModelLoader.languageModelConfig(directory: directory)
        return PipelineSplit.units(of: PipelineSplit.DecoderShape(
            layers: c.numLayers, hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize, vocabSize: c.vocabSize,
            queryWidth: c.numHeads * c.headDim, kvWidth: c.numKVHeads * c.headDim))
    }
}
