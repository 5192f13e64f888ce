import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small client for the Kubernetes API: the calls Tessera makes on Deployments (and their
/// `/scale`), Pods and Leases. Only APIs stable from Kubernetes 1.20 on: core/v1, apps/v1,
/// coordination.k8s.io/v1.
///
/// ```swift
/// let client = try KubernetesClient(try KubernetesConfig.load())
/// let scale = try await client.scale(deployment: "tessera-text-decode")
/// _ = try await client.setScale(deployment: "tessera-text-decode", replicas: scale.replicas + 1)
/// ```
public final class KubernetesClient: Sendable {
    public let config: KubernetesConfig
    private let http: HTTPClient

    public init(_ config: KubernetesConfig) throws(KubernetesError) {
        self.config = config
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = config.certificateAuthority {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            }
            if case let .clientCertificate(certificate, key) = config.credentials {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            }
        } catch {
            throw .configuration("certificates do not load: \(error)")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit { try? http.syncShutdown() }

    // MARK: Deployments and their /scale

    /// `GET …/deployments/NAME/scale`.
    public func scale(deployment: String, namespace: String? = nil) async throws(KubernetesError) -> Scale {
        try await send(.GET, deploymentPath(namespace, deployment) + "/scale")
    }

    /// `PATCH …/deployments/NAME/scale` with `spec.replicas` (a merge patch: no read-modify-write race
    /// with other fields).
    public func setScale(deployment: String, replicas: Int, namespace: String? = nil) async throws(KubernetesError) -> Scale {
        let patch: JSONObject = ["spec": ["replicas": .number(Double(replicas))]]
        return try await send(.PATCH, deploymentPath(namespace, deployment) + "/scale", body: patch, contentType: Self.mergePatch)
    }

    /// `GET …/deployments/NAME`.
    public func deployment(_ name: String, namespace: String? = nil) async throws(KubernetesError) -> Deployment {
        try await send(.GET, deploymentPath(namespace, name))
    }

    /// Creates the Deployment, or when one of that name exists, brings its labels and pod template
    /// to the given ones. The replica count of an existing Deployment is left alone: it belongs to
    /// whoever scales it.
    @discardableResult
    public func apply(_ deployment: Deployment) async throws(KubernetesError) -> Deployment {
        try await create(deployment, orPatchWith: Self.mergePatch) { () throws(KubernetesError) in
            let template = try Self.jsonObject(deployment.spec.template)
            return ["metadata": ["labels": Self.labels(deployment.metadata.labels)], "spec": ["template": template]]
        }
    }

    /// Creates the Deployment, or when one of that name exists (its pod template written by whoever
    /// deployed it, e.g. `kubectl apply -k`), sets only the arguments of its container `container`
    /// and adds the template's labels (a strategic merge patch: the container is matched by name;
    /// its image, environment, probes, volumes and everything else stay as they were written).
    @discardableResult
    public func apply(_ deployment: Deployment, adopting container: String) async throws(KubernetesError) -> Deployment {
        try await create(deployment, orPatchWith: Self.strategicMergePatch) { () throws(KubernetesError) in
            guard case let .array(containers)? = deployment.spec.template.spec["containers"],
                  let arguments = containers.first(where: { $0["name"] == .string(container) })?["args"] else {
                throw .configuration("the pod template of \(deployment.metadata.name ?? "") has no container \(container) with args")
            }
            return ["spec": ["template": [
                "metadata": ["labels": Self.labels(deployment.spec.template.metadata.labels)],
                "spec": ["containers": [["name": .string(container), "args": arguments]]],
            ]]]
        }
    }

    /// `POST`s the Deployment; when one of its name exists, `PATCH`es that one with `patch()` instead.
    private func create(
        _ deployment: Deployment, orPatchWith contentType: String, _ patch: () throws(KubernetesError) -> JSONObject
    ) async throws(KubernetesError) -> Deployment {
        let namespace = deployment.metadata.namespace
        do {
            return try await send(.POST, deploymentPath(namespace, nil), body: deployment)
        } catch where error.isConflict {
            guard let name = deployment.metadata.name else { throw error }
            return try await send(.PATCH, deploymentPath(namespace, name), body: try patch(), contentType: contentType)
        }
    }

    private static func labels(_ labels: [String: String]?) -> JSONObject {
        var object: JSONObject = [:]
        for (key, value) in labels ?? [:] { object[key] = .string(value) }
        return object
    }

    // MARK: Pods

    /// `GET …/pods?labelSelector=…`.
    public func pods(matching selector: LabelSelector, namespace: String? = nil) async throws(KubernetesError) -> PodList {
        try await send(.GET, podPath(namespace, nil), query: [("labelSelector", selector.string)])
    }

    /// `GET …/pods?watch=1&…` from `resourceVersion`, with bookmarks. The stream ends when the server
    /// closes the watch (after about `timeoutSeconds`); it throws a ``KubernetesError`` with code 410
    /// when the version is too old, which means: list again.
    public func watchPods(
        matching selector: LabelSelector, resourceVersion: String, timeoutSeconds: Int = 240, namespace: String? = nil
    ) -> AsyncThrowingStream<WatchEvent<Pod>, any Error> {
        let query = [
            ("labelSelector", selector.string), ("watch", "1"), ("allowWatchBookmarks", "true"),
            ("resourceVersion", resourceVersion), ("timeoutSeconds", String(timeoutSeconds)),
        ]
        let path = podPath(namespace, nil)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await self.execute(.GET, path, query: query, body: nil, contentType: nil,
                                                          timeout: .seconds(Int64(timeoutSeconds) + 30))
                    guard response.status == .ok else {
                        let body = try await self.collect(response)
                        throw KubernetesError.api(Self.status(response.status, body))
                    }
                    var lines = JSONLines()
                    for try await chunk in response.body {
                        for line in lines.append(chunk.readableBytesView) {
                            continuation.yield(try WatchEvent<Pod>.decode(line))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: Self.wrap(error))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Sets labels on a pod (a nil value removes the label). Labels outside a Deployment's selector
    /// change without the pod being replaced.
    @discardableResult
    public func patchLabels(pod: String, _ labels: [String: String?], namespace: String? = nil) async throws(KubernetesError) -> Pod {
        var fields: JSONObject = [:]
        for (key, value) in labels { fields[key] = value.map { .string($0) } ?? .null }
        return try await send(.PATCH, podPath(namespace, pod), body: ["metadata": ["labels": fields]] as JSONObject,
                              contentType: Self.mergePatch)
    }

    /// Deletes a pod; `gracePeriodSeconds: 0` kills it at once (SIGKILL, no preStop).
    public func deletePod(_ name: String, gracePeriodSeconds: Int? = nil, namespace: String? = nil) async throws(KubernetesError) {
        let query = gracePeriodSeconds.map { [("gracePeriodSeconds", String($0))] } ?? []
        let _: JSONObject = try await send(.DELETE, podPath(namespace, name), query: query)
    }

    // MARK: Leases

    /// `GET …/leases/NAME`, nil when there is none.
    public func lease(_ name: String, namespace: String? = nil) async throws(KubernetesError) -> Lease? {
        do { return try await send(.GET, leasePath(namespace, name)) } catch where error.isNotFound { return nil }
    }

    /// Creates a lease; 409 when another writer created it first.
    public func createLease(_ lease: Lease) async throws(KubernetesError) -> Lease {
        try await send(.POST, leasePath(lease.metadata.namespace, nil), body: lease)
    }

    /// Replaces a lease; its `metadata.resourceVersion` is the precondition, so the update fails with
    /// 409 when anyone wrote the lease since it was read.
    public func updateLease(_ lease: Lease) async throws(KubernetesError) -> Lease {
        guard let name = lease.metadata.name, lease.metadata.resourceVersion != nil else {
            throw .configuration("a lease update needs the name and resourceVersion it was read with")
        }
        return try await send(.PUT, leasePath(lease.metadata.namespace, name), body: lease)
    }

    // MARK: Requests

    static let mergePatch = "application/merge-patch+json"
    static let strategicMergePatch = "application/strategic-merge-patch+json"

    private func deploymentPath(_ namespace: String?, _ name: String?) -> String {
        "/apis/apps/v1/namespaces/\(namespace ?? config.namespace)/deployments" + (name.map { "/" + $0 } ?? "")
    }

    private func podPath(_ namespace: String?, _ name: String?) -> String {
        "/api/v1/namespaces/\(namespace ?? config.namespace)/pods" + (name.map { "/" + $0 } ?? "")
    }

    private func leasePath(_ namespace: String?, _ name: String?) -> String {
        "/apis/coordination.k8s.io/v1/namespaces/\(namespace ?? config.namespace)/leases" + (name.map { "/" + $0 } ?? "")
    }

    private func send<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = []
    ) async throws(KubernetesError) -> Response {
        try await send(method, path, query: query, body: nil as JSONObject?, contentType: nil)
    }

    private func send<Response: Decodable, Body: Encodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Body?,
        contentType: String? = "application/json"
    ) async throws(KubernetesError) -> Response {
        do {
            let bytes = try body.map { try JSONEncoder().encode($0) }
            let response = try await execute(method, path, query: query, body: bytes, contentType: contentType, timeout: .seconds(30))
            let data = try await collect(response)
            guard (200..<300).contains(response.status.code) else { throw KubernetesError.api(Self.status(response.status, data)) }
            do { return try JSONDecoder().decode(Response.self, from: data) } catch {
                throw KubernetesError.malformed("\(method) \(path): \(error)")
            }
        } catch {
            throw Self.wrap(error)
        }
    }

    private func execute(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], body: Data?, contentType: String?,
        timeout: TimeAmount
    ) async throws -> HTTPClientResponse {
        var components = URLComponents()
        components.path = path
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        // URLComponents leaves `+` and `,` alone in queries; label values need them encoded.
        let target = (components.percentEncodedPath) + (components.percentEncodedQuery.map {
            "?" + $0.replacingOccurrences(of: "+", with: "%2B")
        } ?? "")
        var request = HTTPClientRequest(url: config.server + target)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if case let .bearerToken(token) = config.credentials { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return try await http.execute(request, timeout: timeout)
    }

    private func collect(_ response: HTTPClientResponse) async throws -> Data {
        Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
    }

    static func status(_ code: HTTPResponseStatus, _ body: Data) -> Status {
        var status = (try? JSONDecoder().decode(Status.self, from: body)) ?? Status(code: Int(code.code))
        if status.code == nil { status.code = Int(code.code) }
        if status.message == nil { status.message = String(decoding: body.prefix(512), as: UTF8.self) }
        return status
    }

    private static func wrap(_ error: any Error) -> KubernetesError {
        if let error = error as? KubernetesError { return error }
        return .transport("\(error)")
    }

    static func jsonObject(_ value: some Encodable) throws(KubernetesError) -> JSONObject {
        do { return try JSONDecoder().decode(JSONObject.self, from: JSONEncoder().encode(value)) } catch {
            throw .malformed("\(error)")
        }
    }
}

/// Splits a chunked body into its newline-terminated lines (a watch sends one JSON event per line,
/// and chunks may cut a line anywhere).
struct JSONLines {
    private var partial: [UInt8] = []

    mutating func append(_ bytes: some Sequence<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !partial.isEmpty { lines.append(partial) }
                partial.removeAll(keepingCapacity: true)
            } else {
                partial.append(byte)
            }
        }
        return lines
    }
}
