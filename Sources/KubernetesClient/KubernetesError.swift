/// What a Kubernetes call can fail with.
public enum KubernetesError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The API server answered with an error status (its `Status` body, or the HTTP code alone).
    case api(Status)
    /// No usable configuration: not in a cluster and no kubeconfig, or a config missing a field.
    case configuration(String)
    /// The server could not be reached or the connection broke.
    case transport(String)
    /// A body that does not decode as the expected object.
    case malformed(String)

    /// The HTTP status of an API error.
    public var code: Int? { if case let .api(status) = self { status.code } else { nil } }
    /// 409: an update based on a stale `resourceVersion`, or a create of an existing name.
    public var isConflict: Bool { code == 409 }
    /// 404.
    public var isNotFound: Bool { code == 404 }
    /// 410: a watch or list from a resource version the server no longer keeps.
    public var isGone: Bool { code == 410 }

    public var description: String {
        switch self {
        case let .api(status): "Kubernetes API \(status.code ?? 0) \(status.reason ?? ""): \(status.message ?? "")"
        case let .configuration(text): "Kubernetes configuration: \(text)"
        case let .transport(text): "Kubernetes API unreachable: \(text)"
        case let .malformed(text): "Kubernetes API answer not understood: \(text)"
        }
    }
}
