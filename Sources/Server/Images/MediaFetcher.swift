import AsyncHTTPClient
import Foundation
import NIOCore

/// Downloads images from `http(s)` URLs, only from allowed hosts, within a size and a time limit.
///
/// Redirects are not followed: they could lead to a host outside the allow-list.
public final class MediaFetcher: Sendable {
    /// Lower-cased host names that image URLs may point at; empty refuses every URL.
    public let allowedDomains: Set<String>
    public let maxBytes: Int
    public let timeout: Duration
    private let client: HTTPClient

    public init(allowedDomains: [String], maxBytes: Int, timeout: Duration) {
        self.allowedDomains = Set(allowedDomains.map { $0.lowercased() })
        self.maxBytes = maxBytes
        self.timeout = timeout
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(Int64(max(1, timeout.components.seconds))))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await client.shutdown() }

    /// Throws a 400 for a host outside the list, a failed or slow download, or one over `maxBytes`.
    func fetch(_ url: URL, param: String) async throws(APIError) -> Data {
        let host = url.host?.lowercased() ?? ""
        guard allowedDomains.contains(host) else {
            throw .invalidRequest(
                "images from '\(APIError.excerpt(host))' are not allowed in '\(param)'; the server allows "
                    + (allowedDomains.isEmpty ? "no remote hosts (see --allowed-media-domains)" : allowedDomains.sorted().joined(separator: ", ")),
                param: param, code: "media_url_not_allowed")
        }
        // One deadline for connecting, the headers and the whole body: a trickling upstream cannot
        // hold a request past `timeout`.
        let download = Task { () async throws -> Data in
            let response = try await client.execute(HTTPClientRequest(url: url.absoluteString), timeout: .nanoseconds(timeout.nanoseconds))
            guard response.status.code == 200 else {
                throw APIError.invalidRequest(
                    "fetching '\(param)' returned HTTP \(response.status.code)", param: param, code: "image_fetch_failed")
            }
            if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
                throw tooLarge(param)
            }
            var data = Data()
            for try await chunk in response.body {
                data.append(contentsOf: chunk.readableBytesView)
                if data.count > maxBytes { throw tooLarge(param) }
            }
            return data
        }
        let limit = timeout
        let watchdog = Task {
            try await Task.sleep(for: limit)
            download.cancel()
        }
        defer { watchdog.cancel() }
        do {
            return try await withTaskCancellationHandler { try await download.value } onCancel: { download.cancel() }
        } catch let error as APIError {
            throw error
        } catch {
            // The cause stays out of the answer: connection errors would tell a client which
            // ports of an allowed host are open.
            let reason = download.isCancelled && !Task.isCancelled ? "took longer than \(limit)" : "failed"
            throw .invalidRequest("fetching '\(param)' \(reason)", param: param, code: "image_fetch_failed")
        }
    }

    private func tooLarge(_ param: String) -> APIError {
        .invalidRequest("the image at '\(param)' is larger than \(maxBytes) bytes", param: param, code: "image_too_large")
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
