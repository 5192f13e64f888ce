import Tensor

/// Why a model directory cannot be loaded. Messages name the file and, where relevant, the tensor.
public enum ModelLoadingError: Error, Equatable, CustomStringConvertible {
    case missingConfig(path: String)
    case malformedConfig(path: String, detail: String)
    case unsupportedArchitecture(name: String, path: String)
    case unsupportedConfiguration(path: String, detail: String)
    /// Neither `<stem>.safetensors` nor `<stem>.safetensors.index.json` exists (stem `model`, or
    /// `diffusion_pytorch_model` in a diffusers component).
    case missingWeights(directory: String, fileStem: String)
    /// A diffusers `config.json` names a class Tessera does not implement.
    case unsupportedClass(name: String, path: String, supported: [String])
    case malformedIndex(path: String, detail: String)
    /// The shard file that should hold `tensor` does not exist.
    case missingShard(path: String, tensor: String)
    case missingTensor(name: String, path: String)
    case shapeMismatch(tensor: String, path: String, expected: [Int], actual: [Int])
    case unsupportedDType(tensor: String, path: String, dtype: String)
    /// A weights file is unreadable, truncated or has a corrupt header.
    case invalidWeightsFile(SafetensorsError)
    /// A GGUF file is unreadable, truncated or malformed.
    case invalidGGUF(GGUFError)

    public var description: String {
        switch self {
        case let .missingConfig(path): "missing model config \(path)"
        case let .malformedConfig(path, detail): "malformed model config \(path): \(detail)"
        case let .unsupportedArchitecture(name, path): "unsupported architecture '\(name)' in \(path) (supported: LlamaForCausalLM, Qwen2ForCausalLM, GGUF llama and qwen2; "
            + "vision-language: LlavaForConditionalGeneration, Qwen2VLForConditionalGeneration; vision towers: CLIPVisionModel, SiglipVisionModel)"
        case let .unsupportedConfiguration(path, detail): "unsupported configuration in \(path): \(detail)"
        case let .missingWeights(directory, stem): "no \(stem).safetensors or \(stem).safetensors.index.json in \(directory)"
        case let .unsupportedClass(name, path, supported): "unsupported class '\(name)' in \(path) (supported: \(supported.joined(separator: ", ")))"
        case let .malformedIndex(path, detail): "malformed weight index \(path): \(detail)"
        case let .missingShard(path, tensor): "weight shard \(path) (holding '\(tensor)') does not exist"
        case let .missingTensor(name, path): "tensor '\(name)' is missing from \(path)"
        case let .shapeMismatch(tensor, path, expected, actual): "tensor '\(tensor)' in \(path) has shape \(actual), expected \(expected)"
        case let .unsupportedDType(tensor, path, dtype): "tensor '\(tensor)' in \(path) has unsupported dtype \(dtype) (supported: F32, F16, BF16; in GGUF also Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)"
        case let .invalidWeightsFile(error): error.description
        case let .invalidGGUF(error): error.description
        }
    }
}
