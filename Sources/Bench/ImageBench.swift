import AsyncHTTPClient
import CoreUtilities
import Foundation
import NIOCore

/// Sends `POST /v1/images/generations` requests (`response_format: b64_json`) to any server that
/// has the route and times each to its last byte. A request of an add-on trace names its LoRAs
/// (scale 1) and ControlNets (each with the same control image) by the server's names.
///
/// ```swift
/// let client = ImageBenchClient(baseURL: "http://127.0.0.1:8000", model: "sd1-tiny", fields: ["size": "64x64"], client: http)
/// let outcome = await client.send(prompt: "a cat", seed: 1)
/// let styled = await client.send(prompt: "a cat", seed: 2, addOns: AddOnTraceEntry(timestamp: 0, baseModelId: "sd1-tiny",
///                                                                                 controlnets: ["edges"], loras: ["peft"]),
///                                controlImage: "data:image/png;base64,…")
/// ```
public struct ImageBenchClient: Sendable {
    public let baseURL: String
    public let model: String
    /// Members added to every request (`size`, `num_inference_steps`, …), as JSON text.
    public let fields: String
    public let client: HTTPClient

    public init(baseURL: String, model: String, fields: [String: Any], client: HTTPClient) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.model = model
        self.fields = String(decoding: (try? JSONSerialization.data(withJSONObject: fields)) ?? Data("{}".utf8), as: UTF8.self)
        self.client = client
    }

    /// With `addOns`, its base model is the request's `model`, and `controlImage` (a data URI)
    /// conditions each of its ControlNets.
    public func send(prompt: String, seed: Int, addOns: AddOnTraceEntry? = nil, controlImage: String? = nil) async -> ImageBenchOutcome {
        var body = (try? JSONSerialization.jsonObject(with: Data(fields.utf8))) as? [String: Any] ?? [:]
        body["model"] = addOns?.baseModelId ?? model
        body["prompt"] = prompt
        body["seed"] = seed
        body["response_format"] = "b64_json"
        if let addOns {
            if !addOns.loras.isEmpty { body["loras"] = addOns.loras.map { ["name": $0, "scale": 1.0] as [String: Any] } }
            if !addOns.controlnets.isEmpty { body["controlnets"] = addOns.controlnets.map { ["name": $0, "image": controlImage ?? ""] } }
        }
        var outcome = ImageBenchOutcome(success: false, error: nil, latency: 0, images: 0)
        let payload: Data
        do { payload = try JSONSerialization.data(withJSONObject: body) } catch {
            outcome.error = "\(error)"
            return outcome
        }
        let start = ContinuousClock.now
        do {
            var http = HTTPClientRequest(url: baseURL + "/v1/images/generations")
            http.method = .POST
            http.headers.add(name: "Content-Type", value: "application/json")
            http.body = .bytes(ByteBuffer(bytes: payload))
            let response = try await client.execute(http, timeout: .seconds(3600))
            let bytes = try await response.body.collect(upTo: 1 << 30)
            outcome.latency = (ContinuousClock.now - start).seconds
            let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
            guard response.status == .ok, let data = object?["data"] as? [[String: Any]],
                  data.allSatisfy({ ($0["b64_json"] as? String).map { !$0.isEmpty } ?? false }) else {
                outcome.error = "HTTP \(response.status.code): \(String(decoding: Data(bytes.readableBytesView).prefix(300), as: UTF8.self))"
                return outcome
            }
            outcome.images = data.count
            outcome.success = true
        } catch {
            outcome.error = "\(error)"
        }
        return outcome
    }
}

/// What one image request measured.
public struct ImageBenchOutcome: Sendable {
    public var success: Bool
    public var error: String?
    /// Seconds from sending to the last byte of the answer.
    public var latency: Double
    public var images: Int
}

/// The result of `tessera bench images`.
public struct ImageBenchReport: Sendable, Encodable {
    public var durationSeconds: Double
    public var completed: Int
    public var failed: Int
    public var images: Int
    public var requestThroughput: Double
    public var imageThroughput: Double
    public var latencyMilliseconds: LatencySummary
    public var p90LatencyMilliseconds: Double
    /// The first few errors, for the reader.
    public var errors: [String]
    /// The text requests of a mixed LMM + diffusion run (``MixedTraffic``), reported on their own.
    public var textRequests: BenchReport?

    enum CodingKeys: String, CodingKey {
        case durationSeconds = "duration", completed, failed, images, errors, textRequests = "text"
        case requestThroughput = "request_throughput", imageThroughput = "image_throughput"
        case latencyMilliseconds = "latency_ms", p90LatencyMilliseconds = "p90_latency_ms"
    }

    public init(outcomes: [ImageBenchOutcome], duration: Double) {
        let done = outcomes.filter(\.success)
        durationSeconds = duration
        completed = done.count
        failed = outcomes.count - done.count
        images = done.reduce(0) { $0 + $1.images }
        requestThroughput = duration > 0 ? Double(done.count) / duration : 0
        imageThroughput = duration > 0 ? Double(images) / duration : 0
        latencyMilliseconds = LatencySummary(seconds: done.map(\.latency))
        let sorted = done.map { $0.latency * 1000 }.sorted()
        p90LatencyMilliseconds = sorted.isEmpty ? 0 : LatencySummary.percentile(sorted, 90)
        errors = Array(outcomes.compactMap(\.error).prefix(5))
    }

    public var text: String {
        var lines = textRequests == nil ? [] : ["================= Image requests ================="]
        lines += [
            String(format: "Successful requests:          %d", completed),
            String(format: "Failed requests:              %d", failed),
            String(format: "Images generated:             %d", images),
            String(format: "Benchmark duration (s):       %.2f", durationSeconds),
            String(format: "Request throughput (req/s):   %.3f", requestThroughput),
            String(format: "Image throughput (images/s):  %.3f", imageThroughput),
            String(format: "Mean latency (ms):            %.1f", latencyMilliseconds.mean),
            String(format: "Median latency (ms):          %.1f", latencyMilliseconds.median),
            String(format: "P90 latency (ms):             %.1f", p90LatencyMilliseconds),
            String(format: "P99 latency (ms):             %.1f", latencyMilliseconds.p99),
        ]
        lines += errors.map { "error: \($0)" }
        if let textRequests { lines += ["================= Text requests ==================", textRequests.text] }
        return lines.joined(separator: "\n")
    }
}

extension ImageBenchClient {
    /// The LoRA and ControlNet names `GET /v1/adapters` lists, each kind in the server's order.
    public func adapters() async throws -> (loras: [String], controlNets: [String]) {
        let response = try await client.execute(HTTPClientRequest(url: baseURL + "/v1/adapters"), timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 24)
        guard response.status == .ok,
              let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any],
              let data = object["data"] as? [[String: Any]] else {
            throw AddOnTraceError("GET /v1/adapters answered HTTP \(response.status.code): \(String(decoding: Data(bytes.readableBytesView).prefix(300), as: UTF8.self))")
        }
        let names = { (kind: String) in data.filter { $0["type"] as? String == kind }.compactMap { $0["id"] as? String } }
        return (names("lora"), names("controlnet"))
    }
}
