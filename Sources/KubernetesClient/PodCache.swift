/// The pods matching a selector as a list-then-watch sees them: a list replaces the whole set, each
/// watch event changes one pod, bookmarks move the resource version on, and an expired version
/// (410 Gone) asks for a new list. ``PodInformer`` drives it against the API server.
///
/// ```swift
/// var cache = PodCache()
/// let changes = cache.replace(with: try await client.pods(matching: selector))
/// for try await event in client.watchPods(matching: selector, resourceVersion: cache.resourceVersion!) {
///     guard case let .changes(changes) = try cache.apply(event) else { break }   // .relist
/// }
/// ```
public struct PodCache: Sendable {
    public private(set) var pods: [String: Pod] = [:]
    /// Where the next watch starts; nil before the first list and after a 410.
    public private(set) var resourceVersion: String?

    public enum Change: Sendable, Hashable {
        /// Added, or changed in a way that matters (phase, readiness, address, labels, restarts).
        case updated(Pod)
        case removed(Pod)
    }

    public enum Step: Sendable, Hashable {
        case changes([Change])
        /// The watch's version expired: list again.
        case relist
    }

    public init() {}

    /// Takes a fresh list: pods missing from it are removed, new or changed ones updated.
    public mutating func replace(with list: PodList) -> [Change] {
        var changes: [Change] = []
        let fresh = Dictionary(list.items.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        for (name, pod) in pods.sorted(by: { $0.key < $1.key }) where fresh[name] == nil { changes.append(.removed(pod)) }
        for (name, pod) in fresh.sorted(by: { $0.key < $1.key }) where Self.differs(pods[name], pod) { changes.append(.updated(pod)) }
        pods = fresh
        resourceVersion = list.metadata.resourceVersion
        return changes
    }

    /// Applies one watch event. An `ERROR` other than 410 is thrown as the API error it carries.
    public mutating func apply(_ event: WatchEvent<Pod>) throws(KubernetesError) -> Step {
        switch event {
        case let .added(pod), let .modified(pod):
            resourceVersion = pod.metadata.resourceVersion ?? resourceVersion
            let changed = Self.differs(pods[pod.name], pod)
            pods[pod.name] = pod
            return .changes(changed ? [.updated(pod)] : [])
        case let .deleted(pod):
            resourceVersion = pod.metadata.resourceVersion ?? resourceVersion
            let known = pods.removeValue(forKey: pod.name)
            return .changes(known == nil ? [] : [.removed(pod)])
        case let .bookmark(version):
            if !version.isEmpty { resourceVersion = version }
            return .changes([])
        case let .error(status):
            if status.code == 410 {
                resourceVersion = nil
                return .relist
            }
            throw .api(status)
        }
    }

    /// A watch failed to start with 410: the version is gone.
    public mutating func expire() { resourceVersion = nil }

    /// Whether `new` is worth telling about compared with `old`; resource-version-only changes
    /// (status heartbeats of the kubelet) are not.
    static func differs(_ old: Pod?, _ new: Pod) -> Bool {
        guard let old else { return true }
        var a = old, b = new
        a.metadata.resourceVersion = nil
        b.metadata.resourceVersion = nil
        return a != b
    }
}
