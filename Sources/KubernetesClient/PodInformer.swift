import Foundation

/// Keeps a ``PodCache`` current against the API server: list, watch from the list's version,
/// watch again from the last version seen when a watch ends, list again on 410 Gone, and retry
/// after a pause when the server cannot be reached.
///
/// ```swift
/// let informer = PodInformer(client: client, selector: LabelSelector(["app.kubernetes.io/name": "tessera"]))
/// for await update in informer.updates() { print(update.pods.keys.sorted()) }
/// ```
public struct PodInformer: Sendable {
    public let client: KubernetesClient
    public let selector: LabelSelector
    public let namespace: String?
    /// Pause before trying again after an error.
    public var retryDelay: Duration = .seconds(1)
    /// How long each watch request stays open.
    public var watchSeconds = 240

    public struct Update: Sendable {
        public var changes: [PodCache.Change]
        /// Every matching pod after the changes.
        public var pods: [String: Pod]
        /// True for the update that follows a (re)list.
        public var isRelist: Bool
    }

    public init(client: KubernetesClient, selector: LabelSelector, namespace: String? = nil) {
        self.client = client
        self.selector = selector
        self.namespace = namespace
    }

    /// Updates until the consuming task is cancelled; lists again whenever the watch falls behind.
    public func updates() -> AsyncStream<Update> {
        AsyncStream { continuation in
            let task = Task {
                var cache = PodCache()
                while !Task.isCancelled {
                    do {
                        if cache.resourceVersion == nil {
                            let list = try await client.pods(matching: selector, namespace: namespace)
                            let changes = cache.replace(with: list)
                            continuation.yield(Update(changes: changes, pods: cache.pods, isRelist: true))
                        }
                        let events = client.watchPods(matching: selector, resourceVersion: cache.resourceVersion ?? "",
                                                      timeoutSeconds: watchSeconds, namespace: namespace)
                        watch: for try await event in events {
                            switch try cache.apply(event) {
                            case let .changes(changes):
                                if !changes.isEmpty { continuation.yield(Update(changes: changes, pods: cache.pods, isRelist: false)) }
                            case .relist: break watch
                            }
                        }
                    } catch let error as KubernetesError where error.isGone {
                        cache.expire()
                    } catch {
                        // Unreachable or refused: list afresh after a pause (events may have been missed).
                        cache.expire()
                        try? await Task.sleep(for: retryDelay)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
