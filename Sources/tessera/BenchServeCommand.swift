import ArgumentParser
import AsyncHTTPClient
import Foundation
import Models
import Bench
import Tokenizers

/// `tessera bench serve`: load-test any OpenAI-compatible server (Tessera, vLLM, llama.cpp's llama-server).
struct BenchServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Benchmark an OpenAI-compatible server: TTFT, TPOT, ITL, E2E, throughput and goodput."
    )

    @OptionGroup var target: BenchTargetOptions

    @Option(help: "The model name to send.")
    var model: String

    @Option(help: "random, random-mm, or a JSONL file of {\"prompt\", \"max_tokens\"} lines (a simulator trace with prompts replays its arrival times).")
    var dataset = "random"

    @Option(help: "chat (/v1/chat/completions) or completions (/v1/completions); random-mm needs chat.")
    var endpoint = "chat"

    @Option(name: .customLong("num-prompts"))
    var numPrompts = 100

    @OptionGroup var arrivals: ArrivalOptions

    @Option(name: .customLong("input-len"), help: "Prompt tokens of random datasets.")
    var inputLength = 256

    @Option(name: .customLong("output-len"), help: "Tokens to generate per request.")
    var outputLength = 64

    @Option(name: .customLong("range-ratio"), help: "Lengths vary uniformly by this fraction around --input-len and --output-len.")
    var rangeRatio = 0.0

    @Option(name: .customLong("images-per-request"))
    var imagesPerRequest = 1

    @Option(name: .customLong("image-size"), help: "WIDTHxHEIGHT of random images.")
    var imageSize = "448x448"

    @Option(name: .customLong("image-reuse"), help: "Probability that an image repeats an earlier one.")
    var imageReuse = 0.0

    @Option(help: "SLOs for goodput, e.g. ttft:500,tpot:50 (milliseconds; ttft, tpot, e2el).")
    var goodput: String?

    @Option(help: "A model folder (tokenizer.json) or GGUF file whose tokenizer makes random prompts of exact token lengths (default: random words).")
    var tokenizer: String?

    @Option(help: "Seed for prompts, images and arrival times.")
    var seed: UInt64 = 0

    @Option(name: .customLong("slo-mix"),
            help: "Send slo_class by shares and report each class's TTFT attainment: NAME=TTFT_MS:SHARE,… (e.g. tight=2000:1,relaxed=60000:1).")
    var sloMix: String?

    func validate() throws {
        guard numPrompts >= 1 else { throw ValidationError("--num-prompts must be at least 1") }
        guard inputLength >= 1, outputLength >= 1, (0..<1).contains(rangeRatio) else {
            throw ValidationError("--input-len and --output-len must be at least 1, --range-ratio in [0, 1)")
        }
        guard imagesPerRequest >= 0, (0...1).contains(imageReuse), parsedImageSize != nil else {
            throw ValidationError("--images-per-request must be >= 0, --image-reuse in [0, 1], --image-size WIDTHxHEIGHT")
        }
        guard let kind = BenchClient.Endpoint(name: endpoint) else { throw ValidationError("--endpoint must be chat or completions") }
        if BenchDatasetKind(dataset) == .randomMultimodal, kind != .chat { throw ValidationError("random-mm needs --endpoint chat") }
        if let goodput { _ = try GoodputObjectives(parsing: goodput) }
        if let sloMix { _ = try SLOMix(parsing: sloMix) }
    }

    private var parsedImageSize: (Int, Int)? { Self.dimensions(imageSize) }

    /// `WIDTHxHEIGHT` as two positive numbers; nil otherwise.
    static func dimensions(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[1] >= 1 else { return nil }
        return (parts[0], parts[1])
    }

    func run() async throws {
        let tokenizer = try self.tokenizer.map { try ModelLoader.loadTokenizer(at: URL(fileURLWithPath: $0)) }
        let (width, height) = parsedImageSize ?? (448, 448)
        var requests = try BenchDataset(
            kind: BenchDatasetKind(dataset), count: numPrompts, inputTokens: inputLength, outputTokens: outputLength,
            rangeRatio: rangeRatio, imagesPerRequest: imagesPerRequest, imageWidth: width, imageHeight: height,
            imageReuse: imageReuse, seed: seed
        ).make(tokenizer: tokenizer)
        let mix = try sloMix.map { try SLOMix(parsing: $0) }
        let classes = mix?.assign(count: requests.count) ?? []
        for (i, name) in classes.enumerated() { requests[i].sloClass = name }
        let objectives = try goodput.map { try GoodputObjectives(parsing: $0) }

        let http = arrivals.httpClient(requests: numPrompts)
        let client = BenchClient(baseURL: target.baseURL, model: model, endpoint: BenchClient.Endpoint(name: endpoint) ?? .chat, client: http,
                                 extraBody: target.extraBody)
        let runner = BenchRunner(
            client: client, schedule: arrivals.schedule(seed: seed), maxConcurrency: arrivals.maxConcurrency)
        let progress = ProgressBar(total: requests.count)
        let (outcomes, duration) = await runner.run(requests) { progress.update($0) }
        try await http.shutdown()

        var report = BenchReport(outcomes: outcomes, duration: duration, objectives: objectives)
        report.sloAttainment = mix?.attainment(classes: classes, outcomes: outcomes)
        print(report.text)
        try target.finish(report, completed: report.completed)
    }
}
