import AsyncHTTPClient
import CoreUtilities
import Foundation
import NIOCore

/// What one benchmark request measured.
public struct BenchOutcome: Sendable {
    public var success: Bool
    public var error: String?
    public var promptTokens: Int
    public var outputTokens: Int
    /// Seconds from sending to the first generated text.
    public var ttft: Double
    /// Seconds between successive chunks that carried text.
    public var itl: [Double]
    /// Seconds from sending to the last byte.
    public var latency: Double
}

/// Sends streaming chat or text completion requests to any OpenAI-compatible server and times them.
///
/// The requests ask for `ignore_eos` so that outputs have the requested length (vLLM and
/// llama-server honour it; other servers ignore it) and for usage in the last chunk.
public struct BenchClient: Sendable {
    public enum Endpoint: String, Sendable { case chat = "/v1/chat/completions", completions = "/v1/completions" }

    public let baseURL: String
    public let model: String
    public let endpoint: Endpoint
    public let client: HTTPClient
    /// A JSON object whose members are added to every request (e.g. `response_format`), as its text.
    public let extraBody: String?

    public init(baseURL: String, model: String, endpoint: Endpoint, client: HTTPClient, extraBody: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.model = model
        self.endpoint = endpoint
        self.client = client
        self.extraBody = extraBody
    }

    /// The members of `--extra-body`, or nil when it is not a JSON object.
    public static func extraMembers(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// `--extra-body`'s members appended as written (a schema's text, and so its grammar, stays the same).
    static func splicing(_ extra: String?, into payload: Data) -> Data {
        guard let extra, extraMembers(extra) != nil else { return payload }
        let inner = extra.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst().dropLast()
        guard !inner.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return payload }
        var out = payload
        out.removeLast()
        out.append(contentsOf: Array(("," + inner + "}").utf8))
        return out
    }

    func body(_ request: BenchRequest) -> [String: Any] {
        var body: [String: Any] = [
            "model": model, "stream": true, "stream_options": ["include_usage": true], "max_tokens": request.outputTokens,
            "temperature": 0, "ignore_eos": true,
        ]
        switch endpoint {
        case .completions:
            body["prompt"] = request.prompt
        case .chat:
            var parts: [[String: Any]] = request.images.map {
                ["type": "image_url", "image_url": ["url": "data:image/png;base64," + $0.base64EncodedString()]]
            }
            parts.append(["type": "text", "text": request.prompt])
            body["messages"] = [["role": "user", "content": request.images.isEmpty ? request.prompt as Any : parts as Any]]
        }
        if let sloClass = request.sloClass { body["slo_class"] = sloClass }
        for key in (extraBody.flatMap(Self.extraMembers) ?? [:]).keys { body[key] = nil }
        return body
    }

    public func send(_ request: BenchRequest) async -> BenchOutcome {
        var outcome = BenchOutcome(success: false, promptTokens: request.promptTokens, outputTokens: 0, ttft: 0, itl: [], latency: 0)
        // The body is serialized before the clock starts: for a request with a large image that takes
        // the client tens of milliseconds, which are no part of the server's latency.
        let payload: Data
        do {
            payload = try Self.splicing(extraBody, into: JSONSerialization.data(withJSONObject: body(request)))
        } catch {
            outcome.error = "\(error)"
            return outcome
        }
        let start = ContinuousClock.now
        do {
            var http = HTTPClientRequest(url: baseURL + endpoint.rawValue)
            http.method = .POST
            http.headers.add(name: "Content-Type", value: "application/json")
            http.body = .bytes(ByteBuffer(bytes: payload))
            let response = try await client.execute(http, timeout: .hours(1))
            guard response.status.code == 200 else {
                var buffer = try await response.body.collect(upTo: 1 << 20)
                outcome.error = "HTTP \(response.status.code): \(buffer.readString(length: buffer.readableBytes) ?? "")"
                return outcome
            }
            var parser = SSEParser()
            var last: ContinuousClock.Instant?
            var chunks = 0
            for try await buffer in response.body {
                for event in parser.feed(buffer.readableBytesView) {
                    guard event != "[DONE]", let object = try? JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any] else { continue }
                    if let error = object["error"] { outcome.error = "\(error)" }
                    if let usage = object["usage"] as? [String: Any], let tokens = usage["completion_tokens"] as? Int {
                        outcome.outputTokens = tokens
                        if let prompt = usage["prompt_tokens"] as? Int { outcome.promptTokens = prompt }
                    }
                    guard Self.hasText(object) else { continue }
                    let now = ContinuousClock.now
                    if let last { outcome.itl.append((now - last).seconds) } else { outcome.ttft = (now - start).seconds }
                    last = now
                    chunks += 1
                }
            }
            outcome.latency = (ContinuousClock.now - start).seconds
            if outcome.outputTokens == 0 { outcome.outputTokens = chunks }
            outcome.success = outcome.error == nil && chunks > 0
            if chunks == 0, outcome.error == nil { outcome.error = "the stream carried no text" }
        } catch {
            outcome.error = "\(error)"
        }
        return outcome
    }

    /// Whether a chunk carries generated text (`choices[].delta.content` or `choices[].text`).
    static func hasText(_ chunk: [String: Any]) -> Bool {
        guard let choices = chunk["choices"] as? [[String: Any]] else { return false }
        return choices.contains { choice in
            let text = (choice["delta"] as? [String: Any])?["content"] as? String ?? choice["text"] as? String
            return !(text ?? "").isEmpty
        }
    }
}

/// Splits a byte stream into SSE `data:` payloads.
struct SSEParser {
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        pending.append(contentsOf: bytes)
        var events: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending[..<newline]
            pending.removeSubrange(...newline)
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("data:") { events.append(text.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
        }
        return events
    }
}

extension BenchClient.Endpoint {
    /// `chat` or `completions`.
    public init?(name: String) {
        switch name {
        case "chat": self = .chat
        case "completions": self = .completions
        default: return nil
        }
    }
}
