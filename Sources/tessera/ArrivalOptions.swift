import ArgumentParser
import AsyncHTTPClient
import Bench

/// When a load test sends its requests, shared by `bench serve` and `bench images` (see ``ArrivalSchedule``).
struct ArrivalOptions: ParsableArguments {
    @Option(name: .customLong("request-rate"), help: "Requests per second, or inf to send all at once.")
    var requestRate = "inf"

    @Option(help: "Gamma shape of the arrival gaps: 1 is Poisson, lower is burstier.")
    var burstiness = 1.0

    @Option(name: .customLong("max-concurrency"), help: "Most requests in flight at once.")
    var maxConcurrency: Int?

    func validate() throws {
        guard rate != nil else { throw ValidationError("--request-rate must be a positive number or inf") }
        guard burstiness > 0 else { throw ValidationError("--burstiness must be > 0") }
        if let maxConcurrency, maxConcurrency < 1 { throw ValidationError("--max-concurrency must be at least 1") }
    }

    private var rate: Double? { Self.rate(requestRate) }

    /// A positive number of requests per second, or `inf`; nil for anything else.
    static func rate(_ text: String) -> Double? {
        if text == "inf" { return .infinity }
        guard let value = Double(text), value > 0 else { return nil }
        return value
    }

    /// The send times of a run whose data was drawn from `seed` (the gaps use the next seed), at
    /// `rate` (a ``rate(_:)`` text) instead of --request-rate when given.
    func schedule(seed: UInt64, rate: String? = nil) -> ArrivalSchedule {
        ArrivalSchedule(rate: rate.flatMap(Self.rate) ?? self.rate ?? .infinity, burstiness: burstiness, seed: seed &+ 1)
    }

    /// An HTTP client with connections for every request that may be in flight at once (at least 8).
    func httpClient(requests: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, maxConcurrency ?? requests)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
