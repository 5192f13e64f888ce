/// Why a chat template could not be parsed or rendered.
public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
    /// The template text is not valid Jinja.
    case syntax(message: String, line: Int)
    /// The template is valid Jinja but uses a tag, filter, test or function this implementation lacks.
    case unsupported(construct: String, line: Int)
    /// The template called `raise_exception(message)`, e.g. to reject roles that do not alternate.
    case raised(message: String)
    /// Evaluation failed: an undefined variable was dereferenced, types did not match, and so on.
    case runtime(message: String, line: Int)
    /// Input JSON could not be turned into a ``TemplateValue``.
    case invalidJSON(message: String)
    /// A model directory has no chat template (or not the one asked for), or it cannot be read.
    case notFound(message: String)

    public var description: String {
        switch self {
        case let .syntax(message, line): return "template syntax error on line \(line): \(message)"
        case let .unsupported(construct, line): return "unsupported template construct on line \(line): \(construct)"
        case let .raised(message): return message
        case let .runtime(message, line): return "template error on line \(line): \(message)"
        case let .invalidJSON(message): return "invalid JSON: \(message)"
        case let .notFound(message): return message
        }
    }
}
