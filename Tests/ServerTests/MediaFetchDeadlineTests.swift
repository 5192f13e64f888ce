import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

/// Image downloads are bounded as a whole (connect, headers and body) and fail without telling the
/// client how the upstream connection failed.
@Suite struct MediaFetchDeadlineTests {
    /// An upstream that sends its headers at once, then a byte every half second.
    func trickling() -> some ApplicationProtocol {
        let router = Router()
        router.get("trickle") { _, _ in
            Response(status: .ok, headers: [.contentType: "image/png"], body: ResponseBody { writer in
                for _ in 0..<60 {
                    try await writer.write(ByteBuffer(string: "x"))
                    try await Task.sleep(for: .milliseconds(500))
                }
                try await writer.finish(nil)
            })
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    @Test func aTricklingBodyIsCutAtTheDeadline() async throws {
        try await trickling().test(.live) { client in
            let port = try #require(client.port)
            let fetcher = MediaFetcher(allowedDomains: ["127.0.0.1"], maxBytes: 1 << 20, timeout: .seconds(1))
            let error = await #expect(throws: APIError.self) {
                _ = try await fetcher.fetch(URL(string: "http://127.0.0.1:\(port)/trickle")!, param: "p")
            }
            // Cut by the deadline (the 30 s body would otherwise arrive whole).
            #expect(String(describing: error).contains("took longer than"), "\(String(describing: error))")
            try await fetcher.shutdown()
        }
    }

    @Test func connectionFailuresDoNotDescribeTheUpstream() async throws {
        // A port nothing listens on: the answer must not tell refused from filtered or open.
        let fetcher = MediaFetcher(allowedDomains: ["127.0.0.1"], maxBytes: 1 << 20, timeout: .seconds(5))
        do {
            _ = try await fetcher.fetch(URL(string: "http://127.0.0.1:1/x.png")!, param: "p")
            Issue.record("a fetch from a closed port succeeded")
        } catch {
            #expect(error.code == "image_fetch_failed" && error.status == .badRequest)
            // The HTTP client retries a refused connection until the deadline, so on a busy machine the
            // deadline may answer first; either way the message names only the parameter.
            #expect(["fetching 'p' failed", "fetching 'p' took longer than 5.0 seconds"].contains(error.message),
                    "\(error.message)")
        }
        try await fetcher.shutdown()
    }
}
