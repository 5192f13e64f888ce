/// Errors of the cluster policies on bad input.
public enum ClusterError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A parameter is outside its valid range.
    case invalidArgument(String)
    /// No assignment satisfies the memory limits.
    case infeasible(String)

    public var description: String {
        switch self {
        case let .invalidArgument(message), let .infeasible(message): message
        }
    }
}
