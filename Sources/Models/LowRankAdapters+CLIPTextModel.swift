import Tensor

// LoRAs on the CLIP text encoders, in two forms. Unmerged: `encode(_:adapters:)` merges them into
// per-call copies of the touched matrices (W + Σ scale·B·A), so the shared weights are never written
// and calls with different LoRAs can run at the same time. Merged in place: the adaptable weights are
// owned float32 `Parameter`s (`adaptableWeight(_:)`), written as the UNet's are and restored from a
// pristine copy; no encoder call may run meanwhile.

extension CLIPTextModel {
    /// The linear layers LoRAs can adapt, by module path without transformers' `text_model.` level
    /// (`encoder.layers.0.self_attn.q_proj`, `encoder.layers.0.mlp.fc1`), with their [out, in] shapes.
    public var adaptableModules: [String: [Int]] { adaptableWeights.mapValues(\.shape) }

    /// The float32 weight of the adaptable layer `path` (see `adaptableModules`), to merge a LoRA into
    /// in place; nil for other paths.
    public func adaptableWeight(_ path: String) -> Parameter? { adaptableWeights[path] }

    /// `layers` with every adaptable matrix replaced by an owned float32 copy, and those copies by module path.
    static func owningAdaptableWeights(_ layers: [VisionEncoderLayer]) -> ([VisionEncoderLayer], [String: Parameter]) {
        var weights: [String: Parameter] = [:]
        let owned = layers.enumerated().map { index, layer in
            layer.mapLinears { linear, path in
                let name = "encoder.layers.\(index).\(path)"
                let parameter = Parameter(name: name + ".weight", shape: [linear.weight.rows, linear.weight.cols],
                                          values: linear.weight.toFloatArray())
                weights[name] = parameter
                return Linear(weight: parameter.matrix, bias: linear.bias)
            }
        }
        return (owned, weights)
    }

    /// The layers with `adapters` merged into copies of the matrices they touch.
    func layers(merging adapters: LowRankAdapters) -> [VisionEncoderLayer] {
        guard !adapters.isEmpty else { return layers }
        return layers.enumerated().map { index, layer in
            layer.mapLinears { linear, path in
                let list = adapters["encoder.layers.\(index).\(path)"]
                guard !list.isEmpty else { return linear }
                var values = linear.weight.toFloatArray()
                values.withUnsafeMutableBufferPointer { buffer in
                    for adapter in list { adapter.addDelta(to: buffer.baseAddress!) }
                }
                return Linear(weight: WeightMatrix(values: values, rows: linear.weight.rows, cols: linear.weight.cols), bias: linear.bias)
            }
        }
    }
}

extension VisionEncoderLayer {
    /// The layer with each linear replaced by `transform(linear, path)`, the path as
    /// transformers names it inside the layer (`self_attn.q_proj`, `mlp.fc1`).
    func mapLinears(_ transform: (Linear, String) -> Linear) -> VisionEncoderLayer {
        VisionEncoderLayer(norm1: norm1, norm2: norm2,
                           q: transform(q, "self_attn.q_proj"), k: transform(k, "self_attn.k_proj"),
                           v: transform(v, "self_attn.v_proj"), out: transform(out, "self_attn.out_proj"),
                           fc1: transform(fc1, "mlp.fc1"), fc2: transform(fc2, "mlp.fc2"))
    }

    init(norm1: LayerNormWeights, norm2: LayerNormWeights, q: Linear, k: Linear, v: Linear, out: Linear, fc1: Linear, fc2: Linear) {
        self.norm1 = norm1
        self.norm2 = norm2
        self.q = q
        self.k = k
        self.v = v
        self.out = out
        self.fc1 = fc1
        self.fc2 = fc2
    }
}
