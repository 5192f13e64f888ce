import ArgumentParser
import AsyncHTTPClient
import Bench
import CoreUtilities
import Foundation

/// `tessera bench images`: load-test any server with `POST /v1/images/generations`.
struct BenchImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Benchmark /v1/images/generations: Poisson or gamma arrivals or an add-on trace, latency percentiles, throughput.",
        discussion: """
            Prompts are random words from --seed; request i asks for seed --seed + i, so two runs send the same work.
            The load average is printed before and after the run.

            --katz-trace draws an add-on trace with the Katz/SwiftDiffusion mix over the adapters the server lists
            (GET /v1/adapters): 98% of requests name 1-3 ControlNets, 95% 1-2 LoRAs, each name Zipf-popular by its
            place in the list; --trace FILE replays one (JSON lines or an array of {timestamp, base_model_id,
            controlnets[], loras[]}: sent at its timestamps, base_model_id as the model); --trace-out FILE writes the
            trace that was sent. ControlNets are conditioned on --control-image.
            """
    )

    @OptionGroup var target: BenchTargetOptions

    @Option(help: "The image model name to send.")
    var model: String

    @Option(name: .customLong("num-requests"))
    var numRequests = 20

    @OptionGroup var arrivals: ArrivalOptions

    @Option(help: "WIDTHxHEIGHT of every image.")
    var size = "512x512"

    @Option(help: "num_inference_steps of every request (omitted when not given).")
    var steps: Int?

    @Option(help: "guidance_scale of every request (omitted when not given).")
    var guidance: Double?

    @Option(help: "Images per request (n).")
    var n = 1

    @Option(help: "Seed of prompts and arrivals; request i sends seed + i.")
    var seed = 0

    @Flag(name: .customLong("katz-trace"), help: "Draw --num-requests add-on requests with the Katz mix over the server's adapters.")
    var katzTrace = false

    @Option(help: "Replay this add-on trace (its length is the number of requests).")
    var trace: String?

    @Option(name: .customLong("trace-out"), help: "Write the add-on trace sent, as JSON lines.")
    var traceOut: String?

    @Option(name: .customLong("zipf-exponent"), help: "Popularity skew of --katz-trace's add-on names.")
    var zipfExponent = 1.1

    @Option(name: .customLong("control-image"), help: "PNG or JPEG file that conditions every ControlNet a trace names.")
    var controlImage: String?

    func validate() throws {
        guard numRequests >= 1, n >= 1, seed >= 0 else { throw ValidationError("--num-requests and -n must be at least 1, --seed >= 0") }
        if katzTrace, trace != nil { throw ValidationError("--katz-trace draws a trace, --trace replays one: give one of them") }
        guard zipfExponent > 0 else { throw ValidationError("--zipf-exponent must be positive") }
    }

    /// The --trace file's requests.
    func replayedTrace() throws -> [AddOnTraceEntry]? {
        guard let trace else { return nil }
        let entries = try AddOnTrace.load(Data(contentsOf: URL(fileURLWithPath: trace)))
        guard !entries.isEmpty else { throw ValidationError("the trace \(trace) has no requests") }
        return entries
    }

    /// --katz-trace's requests, over the adapters the server lists.
    func drawKatzTrace(_ client: ImageBenchClient) async throws -> [AddOnTraceEntry] {
        let (loras, controlNets) = try await client.adapters()
        guard !loras.isEmpty || !controlNets.isEmpty else { throw ValidationError("--katz-trace: the server lists no adapters (GET /v1/adapters)") }
        return AddOnTrace.synthetic(count: numRequests, model: model, controlNets: controlNets, loras: loras, zipfExponent: zipfExponent,
                                    arrivals: arrivals.schedule(seed: UInt64(seed)), seed: UInt64(seed))
    }

    func run() async throws {
        var fields = target.extraBody.flatMap(BenchClient.extraMembers) ?? [:]
        fields["size"] = size
        fields["n"] = n
        if let steps { fields["num_inference_steps"] = steps }
        if let guidance { fields["guidance_scale"] = guidance }
        let replayed = try replayedTrace()
        let http = arrivals.httpClient(requests: replayed?.count ?? numRequests)
        let client = ImageBenchClient(baseURL: target.baseURL, model: model, fields: fields, client: http)
        let addOns: [AddOnTraceEntry]?
        do { addOns = katzTrace ? try await drawKatzTrace(client) : replayed } catch {
            try await http.shutdown()
            throw error
        }
        if controlImage == nil, let addOns, addOns.contains(where: { !$0.controlnets.isEmpty }) {
            try await http.shutdown()
            throw ValidationError("the trace names ControlNets: give the image that conditions them with --control-image FILE")
        }
        let image = try controlImage.map { path in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            return "data:image/\(path.lowercased().hasSuffix(".png") ? "png" : "jpeg");base64," + bytes.base64EncodedString()
        }
        if let addOns {
            if let traceOut { try AddOnTrace.encode(addOns).write(to: URL(fileURLWithPath: traceOut)) }
            print(AddOnTrace.summary(addOns))
        }
        let count = addOns?.count ?? numRequests
        var words = SeededRandom(seed: UInt64(seed))
        let vocabulary = ["a", "red", "cube", "cat", "on", "the", "table", "blue", "sky", "tree", "painting", "photo", "of", "house", "river"]
        let prompts = (0 ..< count).map { _ in
            (0 ..< 8).map { _ in vocabulary[Int(words.next() % UInt64(vocabulary.count))] }.joined(separator: " ")
        }
        print("load average before: \(Self.loadAverage)")
        let progress = ProgressBar(total: count)
        let seed = seed
        let (outcomes, duration) = await BenchRunner.run(
            schedule: arrivals.schedule(seed: UInt64(seed)), maxConcurrency: arrivals.maxConcurrency,
            arrivals: addOns?.map { $0.timestamp as Double? } ?? [Double?](repeating: nil, count: count),
            send: { await client.send(prompt: prompts[$0], seed: seed + $0, addOns: addOns?[$0], controlImage: image) },
            progress: { progress.update($0) })
        try await http.shutdown()
        let report = ImageBenchReport(outcomes: outcomes, duration: duration)
        print(report.text)
        print("load average after: \(Self.loadAverage)")
        try target.finish(report, completed: report.completed)
    }

    static var loadAverage: String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }
}
