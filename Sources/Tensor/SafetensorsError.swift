/// Why a safetensors file or one of its tensors cannot be used. Every case names the file.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be opened or mapped.
    case unreadable(path: String, reason: String)
    /// The file ends before its header or tensor data does.
    case truncated(path: String, detail: String)
    /// The JSON header is not a valid safetensors header.
    case malformedHeader(path: String, detail: String)
    /// A header entry is inconsistent (bad shape, offsets outside the data, size mismatch).
    case invalidTensor(path: String, tensor: String, detail: String)
    /// The tensor is not in the file.
    case missingTensor(path: String, tensor: String)
    /// The tensor's dtype is not F32, F16 or BF16.
    case unsupportedDType(path: String, tensor: String, dtype: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read safetensors file \(path): \(reason)"
        case let .truncated(path, detail): "truncated safetensors file \(path): \(detail)"
        case let .malformedHeader(path, detail): "malformed safetensors header in \(path): \(detail)"
        case let .invalidTensor(path, tensor, detail): "invalid tensor '\(tensor)' in \(path): \(detail)"
        case let .missingTensor(path, tensor): "tensor '\(tensor)' not found in \(path)"
        case let .unsupportedDType(path, tensor, dtype):
            "tensor '\(tensor)' in \(path) has unsupported dtype \(dtype) (supported: F32, F16, BF16)"
        }
    }
}
