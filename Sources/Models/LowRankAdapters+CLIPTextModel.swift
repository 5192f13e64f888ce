import Tensor

// LoRAs on the CLIP text encoders. The encoder runs once per request, so its adapters are merged
// into per-call copies of the touched matrices (W + Σ scale·B·A): the shared weights are never
// written, calls with different LoRAs can run at the same time, and nothing needs restoring.

extension CLIPTextModel {
    /// The linear layers LoRAs can adapt, by module path without transformers' `text_model.` level
    /// (`encoder.layers.0.self_attn.q_proj`, `encoder.layers.0.mlp.fc1`), with their [out, in] shapes.
    public var adaptableModules: [String: [Int]] {
        var modules: [String: [Int]] = [:]
        for index in layers.indices {
            let p = "encoder.layers.\(index)."
            for name in ["q_proj", "k_proj", "v_proj", "out_proj"] { modules[p + "self_attn." + name] = [hiddenSize, hiddenSize] }
            modules[p + "mlp.fc1"] = [intermediateSize, hiddenSize]
            modules[p + "mlp.fc2"] = [hiddenSize, intermediateSize]
        }
        return modules
    }

    /// The layers with `adapters` merged into copies of the matrices they touch.
    func layers(merging adapters: LowRankAdapters) -> [VisionEncoderLayer] {
        guard !adapters.isEmpty else { return layers }
        return layers.enumerated().map { index, layer in
            let p = "encoder.layers.\(index)."
            func merged(_ linear: Linear, _ path: String) -> Linear {
                let list = adapters[p + path]
                guard !list.isEmpty else { return linear }
                var values = linear.weight.toFloatArray()
                values.withUnsafeMutableBufferPointer { buffer in
                    for adapter in list { adapter.addDelta(to: buffer.baseAddress!) }
                }
                return Linear(weight: WeightMatrix(values: values, rows: linear.weight.rows, cols: linear.weight.cols), bias: linear.bias)
            }
            return VisionEncoderLayer(norm1: layer.norm1, norm2: layer.norm2,
                                      q: merged(layer.q, "self_attn.q_proj"), k: merged(layer.k, "self_attn.k_proj"),
                                      v: merged(layer.v, "self_attn.v_proj"), out: merged(layer.out, "self_attn.out_proj"),
                                      fc1: merged(layer.fc1, "mlp.fc1"), fc2: merged(layer.fc2, "mlp.fc2"))
        }
    }
}

extension VisionEncoderLayer {
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
