/// Why a schema, regex or grammar cannot be used to constrain generation; `message` is what an
/// API client should read (it names the unsupported keyword or the position of a syntax error).
public struct GrammarError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
