import ArgumentParser
import Bench
import Foundation

/// The server a load test sends to, what it adds to every request and where its result goes,
/// shared by `bench serve` and `bench images`.
struct BenchTargetOptions: ParsableArguments {
    @Option(name: .customLong("base-url"), help: "The server, e.g. http://127.0.0.1:8000.")
    var baseURL: String

    @Option(name: .customLong("extra-body"), help: "A JSON object merged into every request, e.g. '{\"seed\": 1}'.")
    var extraBody: String?

    @Option(name: .customLong("result-json"), help: "Write the result as JSON to this file.")
    var resultJSON: String?

    func validate() throws {
        if let extraBody, BenchClient.extraMembers(extraBody) == nil { throw ValidationError("--extra-body must be a JSON object") }
    }

    /// Writes `report` to --result-json when given; a run in which no request completed fails.
    func finish(_ report: some Encodable, completed: Int) throws {
        if let resultJSON {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: resultJSON))
        }
        if completed == 0 { throw ExitCode.failure }
    }
}
