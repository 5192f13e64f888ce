import CoreUtilities
import Foundation

/// Reads the Azure LMM inference trace 2025 (AzurePublicDataset, `AzureLMMInferenceTrace_multimodal.csv`,
/// the production trace of ModServe, arXiv 2502.00937), whose schema is
/// `TIMESTAMP,NumImages,ContextTokens,GeneratedTokens`.
///
/// The trace has no image sizes or contents, so each image gets a size drawn from
/// ``SyntheticTraceGenerator/shareGPT4oImageSizes`` and a fresh hash, both from a seeded generator
/// (the trace's authors likewise used ShareGPT-4o images). `ContextTokens` becomes the text tokens.
/// Arrivals are seconds since the first row; timestamps are `YYYY-MM-DD HH:MM:SS[.frac][Z|±hh:mm]`
/// read as UTC.
public struct AzureLMMTraceLoader: Sendable {
    public var seed: UInt64

    public init(seed: UInt64 = 0) {
        self.seed = seed
    }

    public func parse(_ text: String, file: String = "<azure-lmm>") throws -> Trace {
        var rng = SplitMix64(seed: seed)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.first?.trimmingCharacters(in: .whitespacesAndNewlines) else { return Trace(requests: []) }
        let columns = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let ts = columns.firstIndex(of: "TIMESTAMP"), let ni = columns.firstIndex(of: "NumImages"),
              let ct = columns.firstIndex(of: "ContextTokens"), let gt = columns.firstIndex(of: "GeneratedTokens") else {
            throw SimulationError.invalidTraceLine(file, 1, "expected columns TIMESTAMP, NumImages, ContextTokens, GeneratedTokens")
        }
        var raw: [(Double, Int, Int, Int)] = []
        for (n, line) in lines.dropFirst().enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let f = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == columns.count, let time = Self.parseTimestamp(f[ts]), let images = Int(f[ni]),
                  let context = Int(f[ct]), let generated = Int(f[gt]), images >= 0, context >= 0, generated >= 0 else {
                throw SimulationError.invalidTraceLine(file, n + 2, "expected a timestamp and three non-negative integers")
            }
            raw.append((time, images, context, generated))
        }
        let start = raw.map(\.0).min() ?? 0
        let sizes = SyntheticTraceGenerator.shareGPT4oImageSizes
        let requests = raw.map { row in
            let images = (0..<row.1).map { _ -> TraceImage in
                let s = sizes[rng.weightedIndex(sizes.map(\.weight))]
                return TraceImage(width: s.width, height: s.height, hash: rng.next())
            }
            return TraceRequest(arrival: row.0 - start, textTokens: row.2, images: images, outputTokens: max(1, row.3))
        }
        return Trace(requests: requests)
    }

    /// Seconds since 1970-01-01 UTC of `YYYY-MM-DD[ T]HH:MM:SS[.frac][Z|±hh:mm]`, or nil.
    public static func parseTimestamp(_ s: String) -> Double? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-")
        guard date.count == 3, let y = Int(date[0]), let m = Int(date[1]), let d = Int(date[2]), (1...12).contains(m), (1...31).contains(d) else { return nil }
        var time = String(parts[1])
        var offset = 0.0
        if time.hasSuffix("Z") { time.removeLast() }
        if let signIndex = time.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = time[time.index(after: signIndex)...].split(separator: ":")
            guard zone.count == 2, let zh = Double(zone[0]), let zm = Double(zone[1]) else { return nil }
            offset = (zh * 3600 + zm * 60) * (time[signIndex] == "+" ? 1 : -1)
            time = String(time[..<signIndex])
        }
        let hms = time.split(separator: ":")
        guard hms.count == 3, let hh = Double(hms[0]), let mm = Double(hms[1]), let ss = Double(hms[2]) else { return nil }
        // Days from the civil date (H. Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days) * 86400 + hh * 3600 + mm * 60 + ss - offset
    }
}
