import ArgumentParser
import AsyncHTTPClient
import Bench
import CoreUtilities
import Foundation

/// `tessera bench images`: load-test any server with `POST /v1/images/generations`.
struct BenchImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Benchmark /v1/images/generations: Poisson or gamma arrivals, latency percentiles, throughput.",
        discussion: """
            Prompts are random words from --seed; request i asks for seed --seed + i, so two runs send the same work.
            The load average is printed before and after the run.
            """
    )

    @Option(name: .customLong("base-url"), help: "The server, e.g. http://127.0.0.1:8000.")
    var baseURL: String

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

    @Option(name: .customLong("extra-body"), help: "A JSON object merged into every request, e.g. '{\"scheduler\": \"euler-a\"}'.")
    var extraBody: String?

    @Option(name: .customLong("result-json"), help: "Write the result as JSON to this file.")
    var resultJSON: String?

    func validate() throws {
        guard numRequests >= 1, n >= 1, seed >= 0 else { throw ValidationError("--num-requests and -n must be at least 1, --seed >= 0") }
        if let extraBody, BenchClient.extraMembers(extraBody) == nil { throw ValidationError("--extra-body must be a JSON object") }
    }

    func run() async throws {
        var fields = extraBody.flatMap(BenchClient.extraMembers) ?? [:]
        fields["size"] = size
        fields["n"] = n
        if let steps { fields["num_inference_steps"] = steps }
        if let guidance { fields["guidance_scale"] = guidance }
        var words = SeededRandom(seed: UInt64(seed))
        let vocabulary = ["a", "red", "cube", "cat", "on", "the", "table", "blue", "sky", "tree", "painting", "photo", "of", "house", "river"]
        let prompts = (0 ..< numRequests).map { _ in
            (0 ..< 8).map { _ in vocabulary[Int(words.next() % UInt64(vocabulary.count))] }.joined(separator: " ")
        }
        print("load average before: \(Self.loadAverage)")
        let http = arrivals.httpClient(requests: numRequests)
        let client = ImageBenchClient(baseURL: baseURL, model: model, fields: fields, client: http)
        let progress = ProgressBar(total: numRequests)
        let seed = seed
        let (outcomes, duration) = await BenchRunner.run(
            schedule: arrivals.schedule(seed: UInt64(seed)), maxConcurrency: arrivals.maxConcurrency,
            arrivals: [Double?](repeating: nil, count: numRequests),
            send: { await client.send(prompt: prompts[$0], seed: seed + $0) }, progress: { progress.update($0) })
        try await http.shutdown()
        let report = ImageBenchReport(outcomes: outcomes, duration: duration)
        print(report.text)
        print("load average after: \(Self.loadAverage)")
        if let resultJSON {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: resultJSON))
        }
        if report.completed == 0 { throw ExitCode.failure }
    }

    static var loadAverage: String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }
}
