import CoreUtilities
import Foundation

/// One request of an add-on trace in the fields of the Katz/SwiftDiffusion production trace
/// (arXiv 2407.02031 §2): when it arrives (seconds from the start), its base model, and the
/// ControlNets and LoRAs it names.
///
/// ```json
/// {"timestamp": 0.42, "base_model_id": "sd1-tiny", "controlnets": ["edges"], "loras": ["peft", "kohya"]}
/// ```
public struct AddOnTraceEntry: Codable, Sendable, Equatable {
    public var timestamp: Double
    public var baseModelId: String
    public var controlnets: [String]
    public var loras: [String]

    enum CodingKeys: String, CodingKey {
        case timestamp, controlnets, loras
        case baseModelId = "base_model_id"
    }

    public init(timestamp: Double, baseModelId: String, controlnets: [String], loras: [String]) {
        self.timestamp = timestamp
        self.baseModelId = baseModelId
        self.controlnets = controlnets
        self.loras = loras
    }
}

/// Add-on traces for `tessera bench images`: read from a file (a JSON array or JSON lines of
/// ``AddOnTraceEntry``), or drawn with the paper's mix over the add-ons a server registered.
///
/// The synthetic mix follows Katz et al. §2: almost every request carries add-ons — 98% one to
/// three ControlNets, 95% one or two LoRAs — and popularity has a long tail, so each name is drawn
/// Zipf-popular (exponent `zipfExponent`, rank = the order given) without repeats in a request.
///
/// ```swift
/// let trace = AddOnTrace.synthetic(count: 100, model: "sd15", controlNets: ["canny", "depth"], loras: ["a", "b", "c"],
///                                  arrivals: ArrivalSchedule(rate: 2, burstiness: 1, seed: 1), seed: 0)
/// ```
public enum AddOnTrace {
    /// Probability that a request names ControlNets (then 1 to `maxControlNets`, uniformly).
    public static let controlNetProbability = 0.98
    public static let maxControlNets = 3
    /// Probability that a request names LoRAs (then 1 to `maxLoRAs`, uniformly).
    public static let loraProbability = 0.95
    public static let maxLoRAs = 2

    public static func synthetic(count: Int, model: String, controlNets: [String], loras: [String], zipfExponent: Double = 1.1,
                                 arrivals: ArrivalSchedule, seed: UInt64) -> [AddOnTraceEntry] {
        var random = SeededRandom(seed: seed)
        var arrivals = arrivals
        var time = 0.0
        return (0 ..< count).map { _ in
            let controls = draw(&random, from: controlNets, probability: controlNetProbability, most: maxControlNets, exponent: zipfExponent)
            let adapters = draw(&random, from: loras, probability: loraProbability, most: maxLoRAs, exponent: zipfExponent)
            let entry = AddOnTraceEntry(timestamp: time, baseModelId: model, controlnets: controls, loras: adapters)
            time += arrivals.nextGap()
            return entry
        }
    }

    /// With `probability`, 1 to `most` distinct names (no more than there are), Zipf by rank.
    static func draw(_ random: inout SeededRandom, from names: [String], probability: Double, most: Int, exponent: Double) -> [String] {
        guard !names.isEmpty, uniform(&random) < probability else { return [] }
        let count = min(names.count, 1 + Int(random.next() % UInt64(most)))
        var weights = names.indices.map { 1 / pow(Double($0 + 1), exponent) }
        var chosen: [String] = []
        while chosen.count < count {
            // The first name whose cumulative weight passes a uniform draw (chosen names weigh 0).
            var target = uniform(&random) * weights.reduce(0, +)
            var index = weights.firstIndex { $0 > 0 }!
            while target >= weights[index], let next = weights[(index + 1)...].firstIndex(where: { $0 > 0 }) {
                target -= weights[index]
                index = next
            }
            chosen.append(names[index])
            weights[index] = 0
        }
        return chosen
    }

    private static func uniform(_ random: inout SeededRandom) -> Double {
        Double(random.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// The entries of a JSON array or of JSON lines, sorted by timestamp.
    public static func load(_ data: Data) throws -> [AddOnTraceEntry] {
        let decoder = JSONDecoder()
        let entries: [AddOnTraceEntry]
        if let array = try? decoder.decode([AddOnTraceEntry].self, from: data) {
            entries = array
        } else {
            let blank = Set(" \t\r".utf8)
            entries = try data.split(separator: UInt8(ascii: "\n")).filter { line in line.contains { !blank.contains($0) } }
                .map { try decoder.decode(AddOnTraceEntry.self, from: Data($0)) }
        }
        return entries.sorted { $0.timestamp < $1.timestamp }
    }

    /// How many requests name ControlNets and LoRAs, and how many of each on average.
    public static func summary(_ entries: [AddOnTraceEntry]) -> String {
        let count = Double(max(1, entries.count))
        let controlled = entries.filter { !$0.controlnets.isEmpty }.count, styled = entries.filter { !$0.loras.isEmpty }.count
        return String(format: "add-on trace: %d requests, %.0f%% with ControlNets (%.2f a request), %.0f%% with LoRAs (%.2f a request), %d distinct add-ons",
                      entries.count, 100 * Double(controlled) / count, Double(entries.reduce(0) { $0 + $1.controlnets.count }) / count,
                      100 * Double(styled) / count, Double(entries.reduce(0) { $0 + $1.loras.count }) / count,
                      Set(entries.flatMap { $0.controlnets.map { "c/" + $0 } + $0.loras.map { "l/" + $0 } }).count)
    }

    /// JSON lines, one entry a line.
    public static func encode(_ entries: [AddOnTraceEntry]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Data(try entries.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined().utf8)
    }
}

/// Why an add-on trace could not be read or drawn.
public struct AddOnTraceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
