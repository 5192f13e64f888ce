/// Latency classes a benchmark sends (`slo_class` in each request) and judges by: every class a
/// TTFT objective and a share of the requests, as `NAME=TTFT_MS:SHARE,…`.
///
/// ```swift
/// let mix = try SLOMix(parsing: "tight=2000:0.5,relaxed=60000:0.5")
/// let classes = mix.assign(count: 100)   // interleaved: tight, relaxed, tight, …
/// ```
public struct SLOMix: Sendable, Equatable {
    public struct Class: Sendable, Equatable {
        public var name: String
        public var ttftSeconds: Double
        public var share: Double
    }

    public var classes: [Class]

    public init(parsing text: String) throws(BenchDatasetError) {
        classes = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            let values = parts.count == 2 ? parts[1].split(separator: ":").compactMap { Double($0) } : []
            guard parts.count == 2, !parts[0].isEmpty, values.count == 2, values[0] > 0, values[1] > 0 else {
                throw .badLine(0, "SLO mix item '\(item)' is not NAME=TTFT_MS:SHARE")
            }
            classes.append(Class(name: String(parts[0]), ttftSeconds: values[0] / 1000, share: values[1]))
        }
        guard !classes.isEmpty else { throw .badLine(0, "empty SLO mix") }
    }

    /// The class of each of `count` requests: each class gets its share, spread evenly through the
    /// run (the class furthest behind its share goes next), so every class sees the same load.
    public func assign(count: Int) -> [String] {
        let total = classes.reduce(0) { $0 + $1.share }
        var sent = [Int](repeating: 0, count: classes.count)
        return (0 ..< count).map { i in
            func deficit(_ c: Int) -> Double { Double(i + 1) * classes[c].share / total - Double(sent[c]) }
            var next = 0
            for c in classes.indices where deficit(c) > deficit(next) { next = c }
            sent[next] += 1
            return classes[next].name
        }
    }

    /// Per class: the fraction of its requests that succeeded within its TTFT objective.
    public func attainment(classes assigned: [String], outcomes: [BenchOutcome]) -> [String: Double] {
        var result: [String: Double] = [:]
        for c in classes {
            let mine = zip(assigned, outcomes).filter { $0.0 == c.name }.map(\.1)
            result[c.name] = mine.isEmpty ? 0 : Double(mine.count { $0.success && $0.ttft <= c.ttftSeconds }) / Double(mine.count)
        }
        return result
    }
}
