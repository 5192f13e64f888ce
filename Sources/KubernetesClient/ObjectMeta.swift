import Foundation

/// The `metadata` of every Kubernetes object: the fields Tessera reads or writes.
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    /// Set once deletion has started; the object is going away.
    public var deletionTimestamp: String?

    public init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil, resourceVersion: String? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.resourceVersion = resourceVersion
    }
}

/// The `metadata` of a list: where a watch that follows the list starts.
public struct ListMeta: Codable, Sendable, Hashable {
    public var resourceVersion: String?
    public var `continue`: String?
}

/// `metav1.Status`, the body of every API error (and of a watch's `ERROR` event).
public struct Status: Codable, Sendable, Hashable, Error {
    public var status: String?
    public var message: String?
    public var reason: String?
    public var code: Int?

    public init(code: Int, reason: String? = nil, message: String? = nil) {
        self.status = "Failure"
        self.code = code
        self.reason = reason
        self.message = message
    }
}

/// `matchLabels` selectors, the only kind Tessera writes; ``string`` is the `labelSelector` query form.
public struct LabelSelector: Codable, Sendable, Hashable {
    public var matchLabels: [String: String]

    public init(_ matchLabels: [String: String]) { self.matchLabels = matchLabels }

    /// `a=1,b=2` with keys sorted, as the API's `labelSelector` parameter takes it.
    public var string: String {
        matchLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    public func matches(_ labels: [String: String]?) -> Bool {
        matchLabels.allSatisfy { labels?[$0.key] == $0.value }
    }
}
