/// Why a diffusion model, its add-ons or a generation request could not be used.
public enum DiffusionError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case invalidConfig(file: String, detail: String)
    case unsupported(file: String, detail: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .missingFile(let path): "missing file: \(path)"
        case .invalidConfig(let file, let detail): "invalid \(file): \(detail)"
        case .unsupported(let file, let detail): "unsupported in \(file): \(detail)"
        case .invalidArgument(let message): message
        }
    }
}
