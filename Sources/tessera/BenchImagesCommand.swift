import ArgumentParser
import AsyncHTTPClient
import Bench
import CoreUtilities
import Foundation

/// `tessera bench images`: load-test any server with `POST /v1/images/generations`.
struct BenchImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Benchmark /v1/images/generations: Poisson or gamma arrivals or an add-on trace, mixed with text requests if asked; latency percentiles, throughput.",
        discussion: """
            Prompts are random words from --seed; request i asks for seed --seed + i, so two runs send the same work.
            The load average is printed before and after the run.

            --katz-trace draws an add-on trace with the Katz/SwiftDiffusion mix over the adapters the server lists
            (GET /v1/adapters): 98% of requests name 1-3 ControlNets, 95% 1-2 LoRAs, each name Zipf-popular by its
            place in the list; --trace FILE replays one (JSON lines or an array of {timestamp, base_model_id,
            controlnets[], loras[]}: sent at its timestamps, base_model_id as the model); --trace-out FILE writes the
            trace that was sent (without a trace, its arrivals with no add-ons). ControlNets are conditioned on --control-image.

            Mixed LMM + diffusion traffic: --text-model NAME with --text-requests N adds N streaming text requests
            (--text-endpoint chat or completions, random prompts of --text-input-len words asking for --text-output-len
            tokens, --text-images random images each for a vision-language model) on their own arrival process
            (--text-request-rate, default --request-rate), interleaved with the image requests by time against the
            same server; each kind's latency is reported separately (the JSON's `text` member: TTFT, TPOT, ITL, E2E).
            The text requests and their arrivals are those of `bench serve --dataset random --seed SEED+2` with the same
            lengths and rate (--dataset random-mm --images-per-request K with --text-images K), its text-only baseline.
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

    @Option(name: .customLong("trace-out"), help: "Write the add-on trace sent (without add-ons: the arrivals), as JSON lines.")
    var traceOut: String?

    @Option(name: .customLong("zipf-exponent"), help: "Popularity skew of --katz-trace's add-on names.")
    var zipfExponent = 1.1

    @Option(name: .customLong("control-image"), help: "PNG or JPEG file that conditions every ControlNet a trace names.")
    var controlImage: String?

    @Option(name: .customLong("text-model"), help: "Mixed traffic: the language model name of the text requests.")
    var textModel: String?

    @Option(name: .customLong("text-requests"), help: "Mixed traffic: text requests sent among the image requests.")
    var textRequests = 0

    @Option(name: .customLong("text-request-rate"), help: "Text requests per second, or inf (default: --request-rate).")
    var textRequestRate: String?

    @Option(name: .customLong("text-endpoint"), help: "chat (/v1/chat/completions) or completions (/v1/completions).")
    var textEndpoint = "chat"

    @Option(name: .customLong("text-input-len"), help: "Words in each text request's random prompt.")
    var textInputLength = 64

    @Option(name: .customLong("text-output-len"), help: "Tokens each text request asks for.")
    var textOutputLength = 32

    @Option(name: .customLong("text-images"), help: "Random images in each text request (chat), for a vision-language model.")
    var textImages = 0

    @Option(name: .customLong("text-image-size"), help: "WIDTHxHEIGHT of the text requests' random images.")
    var textImageSize = "224x224"

    func validate() throws {
        guard numRequests >= 1, n >= 1, seed >= 0 else { throw ValidationError("--num-requests and -n must be at least 1, --seed >= 0") }
        if katzTrace, trace != nil { throw ValidationError("--katz-trace draws a trace, --trace replays one: give one of them") }
        guard zipfExponent > 0 else { throw ValidationError("--zipf-exponent must be positive") }
        guard textRequests >= 0, textInputLength >= 1, textOutputLength >= 1, textImages >= 0 else {
            throw ValidationError("--text-requests and --text-images must not be negative, --text-input-len and --text-output-len at least 1")
        }
        if (textModel == nil) != (textRequests == 0) { throw ValidationError("mixed traffic takes both --text-model and --text-requests N") }
        if let textRequestRate, ArrivalOptions.rate(textRequestRate) == nil {
            throw ValidationError("--text-request-rate must be a positive number or inf")
        }
        guard let endpoint = BenchClient.Endpoint(name: textEndpoint) else { throw ValidationError("--text-endpoint must be chat or completions") }
        if textImages > 0, endpoint != .chat { throw ValidationError("--text-images needs --text-endpoint chat") }
        guard textImageDimensions != nil else { throw ValidationError("--text-image-size must be WIDTHxHEIGHT") }
    }

    private var textImageDimensions: (width: Int, height: Int)? { BenchServeCommand.dimensions(textImageSize) }

    /// The text requests of a mixed run (none without --text-model).
    func textDataset() throws -> [BenchRequest] {
        guard textRequests > 0, let (width, height) = textImageDimensions else { return [] }
        return try BenchDataset(kind: textImages > 0 ? .randomMultimodal : .random, count: textRequests, inputTokens: textInputLength,
                                outputTokens: textOutputLength, imagesPerRequest: textImages, imageWidth: width, imageHeight: height,
                                seed: UInt64(seed) &+ 2).make(tokenizer: nil)
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
        let texts = try textDataset()
        let http = arrivals.httpClient(requests: (replayed?.count ?? numRequests) + texts.count)
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
        if let addOns { print(AddOnTrace.summary(addOns)) }
        let count = addOns?.count ?? numRequests
        let imageTimes = addOns?.map(\.timestamp) ?? MixedTraffic.times(count: count, schedule: arrivals.schedule(seed: UInt64(seed)))
        if let traceOut {
            // Without add-ons, the same form with none: a trace the simulator's workload can be made from.
            let sent = addOns ?? imageTimes.map { AddOnTraceEntry(timestamp: $0, baseModelId: model, controlnets: [], loras: []) }
            try AddOnTrace.encode(sent).write(to: URL(fileURLWithPath: traceOut))
        }
        var words = SeededRandom(seed: UInt64(seed))
        let vocabulary = ["a", "red", "cube", "cat", "on", "the", "table", "blue", "sky", "tree", "painting", "photo", "of", "house", "river"]
        let prompts = (0 ..< count).map { _ in
            (0 ..< 8).map { _ in vocabulary[Int(words.next() % UInt64(vocabulary.count))] }.joined(separator: " ")
        }
        // Each kind on its own arrival process, interleaved by time. The text requests and their arrivals are
        // those of `bench serve --seed SEED+2`, so a text-only run of them is the baseline.
        let order = MixedTraffic.interleave(
            images: imageTimes,
            text: MixedTraffic.times(count: texts.count, schedule: arrivals.schedule(seed: UInt64(seed) &+ 2, rate: textRequestRate)))
        let textClient = BenchClient(baseURL: target.baseURL, model: textModel ?? model, endpoint: BenchClient.Endpoint(name: textEndpoint) ?? .chat, client: http)
        print("load average before: \(Self.loadAverage)")
        let progress = ProgressBar(total: order.count)
        let seed = seed
        let (outcomes, duration) = await BenchRunner.run(
            schedule: arrivals.schedule(seed: UInt64(seed)), maxConcurrency: arrivals.maxConcurrency, arrivals: order.map(\.time),
            send: { (i: Int) -> MixedTraffic.Outcome in
                switch order[i].kind {
                case let .image(k): .image(await client.send(prompt: prompts[k], seed: seed + k, addOns: addOns?[k], controlImage: image))
                case let .text(k): .text(await textClient.send(texts[k]))
                }
            },
            progress: { progress.update($0) })
        try await http.shutdown()
        let report = MixedTraffic.report(outcomes, duration: duration)
        print(report.text)
        print("load average after: \(Self.loadAverage)")
        // A mixed run in which either kind completed nothing failed.
        try target.finish(report, completed: min(report.completed, report.textRequests?.completed ?? .max))
    }

    static var loadAverage: String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }
}
