import Foundation
import Models
import Tensor

/// One LoRA of a request and its strength (diffusers' `cross_attention_kwargs={"scale": s}` for one
/// LoRA, `set_adapters(names, adapter_weights)` for several): the scale multiplies the LoRA on the
/// UNet and on the text encoders alike.
public struct LoRARequest: Sendable {
    public var file: LoRAFile
    public var scale: Float

    public init(file: LoRAFile, scale: Float = 1) {
        self.file = file
        self.scale = scale
    }
}

/// How a request's LoRAs are applied.
public enum LoRAMode: String, Sendable {
    /// As rows' unmerged adapters, y = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ (for k×k convolutions, LoCon,
    /// conv(x, W) + scale·conv1×1(conv(x, A), B)): weights untouched, so rows with different LoRAs
    /// share one UNet call.
    case unmerged
    /// Merged into the UNet's and the text encoders' weights in place for the whole request
    /// (W += scale·(alpha/r)·B·A) and restored from a pristine copy afterwards: no per-step cost, but
    /// the pipeline serves nothing else meanwhile.
    case merged
}

/// A request's LoRAs bound to one pipeline's models: every module resolved to a layer of the
/// UNet or a text encoder (kohya's underscored names through the model's own module paths, kohya's
/// SDXL names through `LDMBlockNames` first) and
/// shape-checked, as unmerged adapters with scale · alpha / rank.
///
/// ```swift
/// let weights = try LoRAWeights([LoRARequest(file: lora, scale: 0.8)], unet: unet, textEncoders: [.textEncoder: encoder])
/// let merged = weights.merge(into: pipeline) // UNet and text encoders; or: rows carry weights.unet unmerged
/// defer { merged.restore() }                 // bit-identical weights again
/// ```
public struct LoRAWeights: Sendable {
    /// The UNet's adapters by module path.
    public let unet: LowRankAdapters
    /// The text encoders' adapters by module path (`encoder.layers.0.self_attn.q_proj`).
    public let textEncoders: [LoRAFile.Component: LowRankAdapters]

    public init(_ loras: [LoRARequest], unet model: UNet2DConditionModel,
                textEncoders encoders: [LoRAFile.Component: CLIPTextModel]) throws(DiffusionError) {
        var unetShapes: [String: [Int]] = [:]
        for name in model.parameters.names where name.hasSuffix(".weight") {
            let shape = model.parameters.parameter(name)!.shape
            if shape.count == 2 || shape.count == 4 { unetShapes[String(name.dropLast(".weight".count))] = shape }
        }
        var shapes: [LoRAFile.Component: [String: [Int]]] = [.unet: unetShapes]
        for (component, encoder) in encoders { shapes[component] = encoder.adaptableModules }
        let ldmNames = LDMBlockNames(unetPaths: unetShapes.keys)
        var kohyaNames: [LoRAFile.Component: [String: String]] = [:]
        for (component, table) in shapes {
            kohyaNames[component] = Dictionary(table.keys.map { ($0.replacingOccurrences(of: ".", with: "_"), $0) }, uniquingKeysWith: { a, _ in a })
        }
        var adapters: [LoRAFile.Component: LowRankAdapters] = [:]
        for lora in loras {
            guard lora.scale.isFinite else { throw .invalidArgument("LoRA \(lora.file.path): scale must be a finite number") }
            for module in lora.file.modules {
                func fail(_ detail: String) -> DiffusionError {
                    .invalidConfig(file: lora.file.path, detail: "tensor '\(module.downTensor)': \(detail)")
                }
                guard let table = shapes[module.component] else {
                    throw fail("the pipeline has no \(module.component.rawValue) for this LoRA module")
                }
                let kohyaName = module.component == .unet ? ldmNames.diffusersName(module.name) : module.name
                let path = module.isKohyaName ? kohyaNames[module.component]?[kohyaName] : module.name
                guard let path, let shape = table[path] else {
                    throw fail("\(module.component.rawValue) has no layer '\(module.name)'")
                }
                let outputs = shape[0], inputs = shape.dropFirst().reduce(1, *)
                let downInputs = module.downShape.dropFirst().reduce(1, *)
                guard module.upShape[0] == outputs, downInputs == inputs,
                      shape.count == 2 ? module.downShape.count == 2 : module.downShape.count == 4 && Array(module.downShape[2...]) == Array(shape[2...]) else {
                    throw fail("down \(module.downShape) and up \(module.upShape) do not fit the layer's weight \(shape)")
                }
                let adapter = LowRankAdapter(down: WeightMatrix(values: module.down, rows: module.rank, cols: inputs),
                                             up: WeightMatrix(values: module.up, rows: outputs, cols: module.rank),
                                             scale: lora.scale * module.alphaOverRank)
                adapters[module.component, default: LowRankAdapters()].add(adapter, to: path)
            }
        }
        unet = adapters[.unet] ?? LowRankAdapters()
        textEncoders = adapters.filter { $0.key != .unet }
    }

    /// Merges the UNet adapters into `model`'s weights in place; `restore()` the result when done.
    /// No forward pass may run on `model` meanwhile.
    public func merge(into model: UNet2DConditionModel) -> MergedLoRAs {
        Self.merge([(unet, { model.parameters.parameter($0 + ".weight")! })])
    }

    /// Merges every adapter into `pipeline`'s weights in place: the UNet's and the text encoders'
    /// (whose prompts are then encoded without adapters); `restore()` the result when done. No
    /// forward pass may run on the pipeline meanwhile.
    public func merge(into pipeline: StableDiffusionPipeline) -> MergedLoRAs {
        let encoders = pipeline.textEncoders
        return Self.merge([(unet, { pipeline.unet.parameters.parameter($0 + ".weight")! })]
            + textEncoders.sorted { $0.key.rawValue < $1.key.rawValue }.map { component, adapters in
                (adapters, { encoders[component]!.adaptableWeight($0)! })
            })
    }

    /// Adds each adapter's delta to the weight its path names, keeping the untouched values first.
    private static func merge(_ targets: [(LowRankAdapters, (String) -> Parameter)]) -> MergedLoRAs {
        var pristine: [(Parameter, [Float])] = []
        for (adapters, weightOf) in targets {
            for path in adapters.byModule.keys.sorted() {
                let weight = weightOf(path)
                pristine.append((weight, weight.values()))
                for adapter in adapters[path] { adapter.addDelta(to: weight.data) }
                weight.markModified()
            }
        }
        return MergedLoRAs(pristine: pristine)
    }
}

/// The untouched values of the weights a merge wrote, to put back exactly (subtracting the delta
/// again would not give the same bits).
public final class MergedLoRAs: @unchecked Sendable {
    private var pristine: [(Parameter, [Float])]

    init(pristine: [(Parameter, [Float])]) { self.pristine = pristine }

    /// Puts every touched weight back as it was; calling it again does nothing.
    public func restore() {
        for (parameter, values) in pristine { parameter.assign(values) }
        pristine = []
    }
}
