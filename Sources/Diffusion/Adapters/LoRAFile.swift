import Foundation
import Tensor

/// A LoRA file as people have them, read into per-module low-rank pairs (Hu et al., 2021).
///
/// Formats (recognised per tensor name):
/// - diffusers / PEFT, as `save_lora_weights` writes it: `unet.<module>.lora_A.weight` and
///   `.lora_B.weight`, `text_encoder.<module>…`, `text_encoder_2.<module>…`; alpha from the
///   `lora_adapter_metadata` header entry (`<component>.lora_alpha`, `<component>.alpha_pattern`,
///   `<component>.use_rslora`), from a `<component>.<module>.alpha` tensor, or else the rank
///   (scale 1), as diffusers does;
/// - the older diffusers names: `<module>.lora.down.weight` / `.lora.up.weight`,
///   `<module>.lora_linear_layer.down/up.weight` and attention processors'
///   `<attention>.processor.to_q_lora.down.weight` (`to_q`, `to_k`, `to_v`, `to_out` → `to_out.0`);
/// - kohya (sd-scripts): `lora_unet_<module with _ for .>.lora_down.weight`, `.lora_up.weight`
///   and a scalar `.alpha`; `lora_te_` / `lora_te1_` for the text encoder, `lora_te2_` for SDXL's
///   second one. The underscored names are matched against the model's own module paths when the
///   file is bound (see `LoRAWeights`), so `down_blocks_0_…_to_out_0` finds `down_blocks.0.….to_out.0`;
///   kohya's SDXL files name UNet modules after the original LDM UNet (`input_blocks_4_1_…`,
///   `middle_block_…`, `output_blocks_…`, `time_embed_0`, `label_emb_0_0`, `out_2`), translated on
///   binding by `LDMBlockNames`.
///
/// Text-encoder module paths are kept without transformers' `text_model.` level
/// (`encoder.layers.0.self_attn.q_proj`). Not supported, with an error naming the tensor: DoRA
/// (`dora_scale`, `lora_magnitude_vector`, `use_dora`), LoHa/LoKr, LyCORIS's CP-decomposed
/// convolutions (`lora_mid`) and bias LoRAs.
///
/// ```swift
/// let lora = try LoRAFile(url: URL(fileURLWithPath: "pixel-art.safetensors"))
/// lora.modules.count                       // one entry per adapted layer
/// ```
public struct LoRAFile: Sendable {
    /// Which model of the pipeline a module belongs to.
    public enum Component: String, Sendable, CaseIterable {
        case unet
        case textEncoder = "text_encoder"
        case textEncoder2 = "text_encoder_2"
    }

    /// One adapted layer: W += scale · (alpha / rank) · up · down.
    public struct Module: Sendable {
        public let component: Component
        /// The diffusers module path, or for kohya files the underscored name (resolved on binding).
        public let name: String
        public let isKohyaName: Bool
        /// down (A): [rank, in] or [rank, in, kh, kw]; up (B): [out, rank] or [out, rank, 1, 1].
        public let downShape: [Int]
        public let down: [Float]
        public let upShape: [Int]
        public let up: [Float]
        /// alpha / rank (alpha / √rank with rsLoRA): what the request's scale multiplies.
        public let alphaOverRank: Float
        /// The tensor names, for error messages.
        public let downTensor: String

        public var rank: Int { downShape[0] }
    }

    public let path: String
    public let modules: [Module]

    public init(url: URL) throws(DiffusionError) {
        path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch { throw .invalidConfig(file: path, detail: "\(error)") }
        modules = try Self.read(file)
    }

    private struct Pair {
        var down: String?
        var up: String?
        var alpha: String?
    }

    private static func read(_ file: SafetensorsFile) throws(DiffusionError) -> [Module] {
        let path = file.path
        func fail(_ tensor: String, _ detail: String) -> DiffusionError {
            .invalidConfig(file: path, detail: "tensor '\(tensor)': \(detail)")
        }
        let metadata = try AdapterMetadata(file)
        // Group tensors by (component, module name, kohya?).
        var pairs: [String: Pair] = [:]
        var keys: [String: (Component, String, Bool)] = [:]
        for name in file.tensors.keys.sorted() {
            let (component, rest, kohya) = try split(name, fail)
            guard let (module, role) = role(of: rest, kohya: kohya) else {
                if rest.contains("dora_scale") || rest.contains("lora_magnitude_vector") {
                    throw fail(name, "DoRA is not supported")
                }
                if rest.contains("hada_") || rest.contains("lokr_") { throw fail(name, "LoHa/LoKr adapters are not supported (only LoRA)") }
                if rest.contains(".lora_mid.") { throw fail(name, "LyCORIS CP-decomposed convolutions (lora_mid) are not supported") }
                throw fail(name, "not a LoRA tensor name this loader knows (lora_A/lora_B, lora.down/up, lora_down/lora_up, alpha)")
            }
            let key = "\(component.rawValue)|\(module)|\(kohya)"
            keys[key] = (component, module, kohya)
            switch role {
            case .down: pairs[key, default: Pair()].down = name
            case .up: pairs[key, default: Pair()].up = name
            case .alpha: pairs[key, default: Pair()].alpha = name
            }
        }
        var modules: [Module] = []
        for key in pairs.keys.sorted() {
            let pair = pairs[key]!, (component, module, kohya) = keys[key]!
            guard let downName = pair.down, let upName = pair.up else {
                let present = pair.down ?? pair.up ?? pair.alpha!
                throw fail(present, "module '\(module)' has no \(pair.down == nil ? "down (lora_A)" : "up (lora_B)") tensor")
            }
            let down = try tensor(file, downName, fail), up = try tensor(file, upName, fail)
            guard [2, 4].contains(down.shape.count), down.shape.count == up.shape.count else {
                throw fail(downName, "shape \(down.shape) with up \(up.shape): expected [rank, in] and [out, rank] (or 4-D convolutions)")
            }
            let rank = down.shape[0]
            guard rank > 0, up.shape[1] == rank, up.shape.count == 2 || up.shape[2 ... 3] == [1, 1] else {
                throw fail(upName, "shape \(up.shape) does not fit down \(down.shape) (rank \(rank))")
            }
            var alpha: Float
            if let alphaName = pair.alpha {
                let values = try tensor(file, alphaName, fail).values
                guard values.count == 1, values[0].isFinite else { throw fail(alphaName, "alpha must be one finite number") }
                alpha = values[0]
            } else {
                alpha = try metadata.alpha(component: component, module: module, rank: rank, file: path)
            }
            let divisor = metadata.rsLoRA(component) ? Float(rank).squareRoot() : Float(rank)
            if metadata.dora(component) { throw fail(downName, "DoRA (use_dora) is not supported") }
            modules.append(Module(component: component, name: module, isKohyaName: kohya, downShape: down.shape, down: down.values,
                                  upShape: up.shape, up: up.values, alphaOverRank: alpha / divisor, downTensor: downName))
        }
        guard !modules.isEmpty else { throw .invalidConfig(file: path, detail: "no LoRA tensors") }
        return modules
    }

    private static func tensor(_ file: SafetensorsFile, _ name: String,
                               _ fail: (String, String) -> DiffusionError) throws(DiffusionError) -> (shape: [Int], values: [Float]) {
        do {
            let info = try file.info(name)
            let values = try file.floats(name)
            guard values.allSatisfy(\.isFinite) else { throw fail(name, "holds a non-finite value") }
            return (info.shape, values)
        } catch let error as DiffusionError {
            throw error
        } catch {
            throw fail(name, "\(error)")
        }
    }

    /// (component, the rest of the name, kohya?).
    private static func split(_ name: String, _ fail: (String, String) -> DiffusionError) throws(DiffusionError) -> (Component, String, Bool) {
        for (prefix, component) in [("lora_unet_", Component.unet), ("lora_te1_", .textEncoder), ("lora_te2_", .textEncoder2), ("lora_te_", .textEncoder)]
            where name.hasPrefix(prefix) {
            var rest = String(name.dropFirst(prefix.count))
            if component != .unet, rest.hasPrefix("text_model_") { rest.removeFirst("text_model_".count) }
            return (component, rest, true)
        }
        for component in [Component.textEncoder2, .textEncoder, .unet] where name.hasPrefix(component.rawValue + ".") {
            var rest = String(name.dropFirst(component.rawValue.count + 1))
            if component != .unet, rest.hasPrefix("text_model.") { rest.removeFirst("text_model.".count) }
            return (component, rest, false)
        }
        // A PEFT state dict saved without the component prefix is a UNet's, as diffusers reads it.
        return (.unet, name, false)
    }

    private enum Role { case down, up, alpha }

    /// The module path and what the tensor is, or nil for names no format uses.
    private static func role(of rest: String, kohya: Bool) -> (String, Role)? {
        let suffixes: [(String, Role)] = kohya
            ? [(".lora_down.weight", .down), (".lora_up.weight", .up), (".alpha", .alpha)]
            : [(".lora_A.weight", .down), (".lora_B.weight", .up), (".lora.down.weight", .down), (".lora.up.weight", .up),
               (".lora_linear_layer.down.weight", .down), (".lora_linear_layer.up.weight", .up), (".alpha", .alpha)]
        // Old text-encoder attention LoRAs: `….self_attn.to_q_lora.down.weight`.
        let processor: [(String, Role)] = kohya ? [] : [("_lora.down.weight", .down), ("_lora.up.weight", .up)]
        for (suffix, role) in processor where rest.hasSuffix(suffix) {
            let module = processorModule(String(rest.dropLast(suffix.count - "_lora".count)))
            return module.isEmpty ? nil : (module, role)
        }
        for (suffix, role) in suffixes where rest.hasSuffix(suffix) {
            var module = String(rest.dropLast(suffix.count))
            if !kohya { module = processorModule(module) }
            return module.isEmpty ? nil : (module, role)
        }
        return nil
    }

    /// `….attn1.processor.to_q_lora` (old attention-processor LoRAs) → `….attn1.to_q`; the text
    /// encoder's `….self_attn.to_q_lora` → `….self_attn.q_proj`.
    private static func processorModule(_ module: String) -> String {
        let names = ["to_q_lora": "to_q", "to_k_lora": "to_k", "to_v_lora": "to_v", "to_out_lora": "to_out.0"]
        let textNames = ["to_q_lora": "q_proj", "to_k_lora": "k_proj", "to_v_lora": "v_proj", "to_out_lora": "out_proj"]
        guard let dot = module.lastIndex(of: "."), let mapped = names[String(module[module.index(after: dot)...])] else {
            return module
        }
        var parent = String(module[..<dot])
        if parent.hasSuffix(".processor") { parent.removeLast(".processor".count) }
        if parent.hasSuffix("self_attn"), let text = textNames[String(module[module.index(after: dot)...])] { return parent + "." + text }
        return parent + "." + mapped
    }
}

/// The `lora_adapter_metadata` header entry diffusers writes beside PEFT LoRAs.
private struct AdapterMetadata {
    let values: [String: Any]

    init(_ file: SafetensorsFile) throws(DiffusionError) {
        guard let text = file.metadata["lora_adapter_metadata"] else {
            values = [:]
            return
        }
        guard let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .invalidConfig(file: file.path, detail: "the lora_adapter_metadata header entry is not a JSON object")
        }
        values = object
    }

    func rsLoRA(_ component: LoRAFile.Component) -> Bool { values["\(component.rawValue).use_rslora"] as? Bool ?? false }
    func dora(_ component: LoRAFile.Component) -> Bool { values["\(component.rawValue).use_dora"] as? Bool ?? false }

    /// PEFT's alpha for `module`: an `alpha_pattern` entry whose key is the module path or a
    /// dotted suffix of it, else `lora_alpha`, else the rank.
    func alpha(component: LoRAFile.Component, module: String, rank: Int, file: String) throws(DiffusionError) -> Float {
        let prefix = component.rawValue
        if let patterns = values["\(prefix).alpha_pattern"] as? [String: Any] {
            for key in patterns.keys.sorted(by: { $0.count > $1.count }) where module == key || module.hasSuffix("." + key) {
                guard let value = (patterns[key] as? NSNumber)?.floatValue else {
                    throw .invalidConfig(file: file, detail: "lora_adapter_metadata: \(prefix).alpha_pattern[\(key)] is not a number")
                }
                return value
            }
        }
        guard let entry = values["\(prefix).lora_alpha"] else { return Float(rank) }
        guard let value = (entry as? NSNumber)?.floatValue, value.isFinite else {
            throw .invalidConfig(file: file, detail: "lora_adapter_metadata: \(prefix).lora_alpha is not a number")
        }
        return value
    }
}
