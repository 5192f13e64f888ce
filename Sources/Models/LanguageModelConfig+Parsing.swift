import Foundation

extension LanguageModelConfig {
    /// Architectures guessed from `model_type` when `architectures` is absent.
    private static let architectureByModelType = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"]

    /// Reads and parses `config.json`.
    public init(contentsOf url: URL) throws(ModelLoadingError) {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .missingConfig(path: url.path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .malformedConfig(path: url.path, detail: "cannot read: \(error.localizedDescription)")
        }
        try self.init(json: data, path: url.path)
    }

    /// Parses the JSON text of a `config.json`; `path` is used in error messages.
    public init(json data: Data, path: String = "config.json") throws(ModelLoadingError) {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw .malformedConfig(path: path, detail: "not valid JSON")
        }
        guard let json = object as? [String: Any] else { throw .malformedConfig(path: path, detail: "top level is not an object") }
        let reader = ConfigReader(json: json, path: path)

        modelType = try reader.string("model_type")
        if let list = json["architectures"] as? [Any], let first = list.first as? String {
            architecture = first
        } else if let type = modelType, let guess = Self.architectureByModelType[type] {
            architecture = guess
        } else {
            throw .malformedConfig(path: path, detail: "no 'architectures' entry or known 'model_type'")
        }
        vocabSize = try reader.positiveInt("vocab_size")
        hiddenSize = try reader.positiveInt("hidden_size")
        intermediateSize = try reader.positiveInt("intermediate_size")
        numLayers = try reader.positiveInt("num_hidden_layers")
        numHeads = try reader.positiveInt("num_attention_heads")
        numKVHeads = try reader.positiveInt("num_key_value_heads", default: numHeads)
        guard numHeads % numKVHeads == 0 else {
            throw .malformedConfig(path: path, detail: "num_attention_heads \(numHeads) is not a multiple of num_key_value_heads \(numKVHeads)")
        }
        if let explicit = try reader.optionalInt("head_dim") {
            guard explicit > 0 else { throw .malformedConfig(path: path, detail: "head_dim must be positive") }
            headDim = explicit
        } else {
            guard hiddenSize % numHeads == 0 else {
                throw .malformedConfig(path: path, detail: "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numHeads)")
            }
            headDim = hiddenSize / numHeads
        }
        guard headDim % 2 == 0 else { throw .malformedConfig(path: path, detail: "head_dim \(headDim) must be even for rotary embeddings") }
        rmsNormEps = Float(try reader.double("rms_norm_eps", default: 1e-6))
        maxPositionEmbeddings = try reader.positiveInt("max_position_embeddings", default: 2048)
        tieWordEmbeddings = try reader.bool("tie_word_embeddings", default: false)
        attentionBias = try reader.bool("attention_bias", default: false)
        mlpBias = try reader.bool("mlp_bias", default: false)
        useSlidingWindow = try reader.bool("use_sliding_window", default: false)
        let activation = try reader.string("hidden_act") ?? "silu"
        switch activation {
        case "silu", "swish": hiddenActivation = .silu
        case "gelu": hiddenActivation = .geluErf
        case "gelu_pytorch_tanh", "gelu_new": hiddenActivation = .geluTanh
        default: throw .unsupportedConfiguration(path: path, detail: "hidden_act '\(activation)' is not supported")
        }
        let modernDType = try reader.string("dtype")
        let legacyDType = try reader.string("torch_dtype")
        dtype = modernDType ?? legacyDType
        bosTokenId = try reader.optionalInt("bos_token_id")
        eosTokenIds = try reader.intList("eos_token_id")
        (ropeTheta, ropeScaling) = try Self.parseRope(reader)
    }

    /// Reads `rope_parameters` (transformers 5) or the older `rope_theta` + `rope_scaling`.
    private static func parseRope(_ reader: ConfigReader) throws(ModelLoadingError) -> (Double, RopeScaling) {
        let topTheta = try reader.double("rope_theta", default: 10000)
        let parameters: ConfigReader?
        if let nested = try reader.object("rope_parameters") {
            parameters = nested
        } else {
            parameters = try reader.object("rope_scaling")
        }
        guard let parameters else { return (topTheta, .none) }
        let theta = try parameters.double("rope_theta", default: topTheta)
        let modernType = try parameters.string("rope_type")
        let legacyType = try parameters.string("type")
        let type = modernType ?? legacyType ?? "default"
        switch type {
        case "default":
            return (theta, .none)
        case "linear":
            return (theta, .linear(factor: try parameters.positiveDouble("factor")))
        case "dynamic":
            return (theta, .dynamic(factor: try parameters.positiveDouble("factor")))
        case "llama3":
            let low = try parameters.positiveDouble("low_freq_factor")
            let high = try parameters.positiveDouble("high_freq_factor")
            guard high != low else {
                throw .malformedConfig(path: reader.path, detail: "rope high_freq_factor must differ from low_freq_factor")
            }
            return (theta, .llama3(factor: try parameters.positiveDouble("factor"), lowFreqFactor: low, highFreqFactor: high,
                                   originalMaxPositionEmbeddings: try parameters.positiveInt("original_max_position_embeddings")))
        default:
            throw .unsupportedConfiguration(path: reader.path, detail: "rope type '\(type)' is not supported (default, linear, llama3, dynamic)")
        }
    }
}

/// Typed access to a JSON object, with errors naming the file and key.
struct ConfigReader {
    let json: [String: Any]
    let path: String

    private func present(_ key: String) -> Any? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        return value
    }

    private func wrong(_ key: String, _ expected: String) -> ModelLoadingError {
        .malformedConfig(path: path, detail: "'\(key)' must be \(expected), found \(String(describing: json[key] ?? "nothing"))")
    }

    func optionalInt(_ key: String) throws(ModelLoadingError) -> Int? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, let integer = Int(exactly: number.doubleValue) else {
            throw wrong(key, "an integer")
        }
        return integer
    }

    func positiveInt(_ key: String, default fallback: Int? = nil) throws(ModelLoadingError) -> Int {
        guard let value = try optionalInt(key) ?? fallback else { throw .malformedConfig(path: path, detail: "missing '\(key)'") }
        guard value > 0 else { throw wrong(key, "a positive integer") }
        return value
    }

    func double(_ key: String, default fallback: Double) throws(ModelLoadingError) -> Double {
        guard let value = present(key) else { return fallback }
        guard let number = value as? NSNumber else { throw wrong(key, "a number") }
        return number.doubleValue
    }

    func positiveDouble(_ key: String) throws(ModelLoadingError) -> Double {
        guard present(key) != nil else { throw .malformedConfig(path: path, detail: "missing '\(key)' in rope parameters") }
        let value = try double(key, default: 0)
        guard value > 0 else { throw wrong(key, "a positive number") }
        return value
    }

    func bool(_ key: String, default fallback: Bool) throws(ModelLoadingError) -> Bool {
        guard let value = present(key) else { return fallback }
        guard let flag = value as? Bool else { throw wrong(key, "true or false") }
        return flag
    }

    func string(_ key: String) throws(ModelLoadingError) -> String? {
        guard let value = present(key) else { return nil }
        guard let text = value as? String else { throw wrong(key, "a string") }
        return text
    }

    /// An integer or a list of integers (as `eos_token_id` may be); empty when absent.
    func intList(_ key: String) throws(ModelLoadingError) -> [Int] {
        guard let value = present(key) else { return [] }
        if let list = value as? [Any] {
            var result: [Int] = []
            for item in list {
                guard let number = item as? NSNumber, let integer = Int(exactly: number.doubleValue) else {
                    throw wrong(key, "an integer or a list of integers")
                }
                result.append(integer)
            }
            return result
        }
        guard let single = try optionalInt(key) else { return [] }
        return [single]
    }

    func object(_ key: String) throws(ModelLoadingError) -> ConfigReader? {
        guard let value = present(key) else { return nil }
        guard let nested = value as? [String: Any] else { throw wrong(key, "an object") }
        return ConfigReader(json: nested, path: path)
    }
}
