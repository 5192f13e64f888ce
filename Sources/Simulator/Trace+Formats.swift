import Foundation

extension Trace {
    /// Parses JSONL: one ``TraceRequest`` object per non-empty line.
    public static func parseJSONL(_ text: String, file: String = "<trace>") throws -> Trace {
        let decoder = JSONDecoder()
        var requests: [TraceRequest] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            let request: TraceRequest
            do { request = try decoder.decode(TraceRequest.self, from: Data(trimmed.utf8)) } catch {
                throw SimulationError.invalidTraceLine(file, n + 1, "not a trace request: \(error)")
            }
            try request.validate(file: file, line: n + 1)
            requests.append(request)
        }
        return Trace(requests: requests)
    }

    /// JSONL text of the trace, one request per line, keys sorted.
    public func jsonl() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try requests.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
    }

    /// CSV header of ``csv()``.
    public static let csvHeader = "arrival,text_tokens,output_tokens,slo_class,images"

    /// Parses the CSV form: `arrival,text_tokens,output_tokens,slo_class,images`, where `images`
    /// is `WxH@hash` entries separated by `;` (empty for text-only requests).
    public static func parseCSV(_ text: String, file: String = "<trace>") throws -> Trace {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let header = lines.first, header == csvHeader else {
            throw SimulationError.invalidTraceLine(file, 1, "expected header '\(csvHeader)'")
        }
        lines.removeFirst()
        var requests: [TraceRequest] = []
        for (n, line) in lines.enumerated() where !line.isEmpty {
            let lineNumber = n + 2
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5, let arrival = Double(fields[0]), let text = Int(fields[1]), let output = Int(fields[2]) else {
                throw SimulationError.invalidTraceLine(file, lineNumber, "expected 5 fields: number, integer, integer, text, images")
            }
            var images: [TraceImage] = []
            for entry in fields[4].split(separator: ";") {
                let parts = entry.split(separator: "@")
                let size = parts.first?.split(separator: "x") ?? []
                guard parts.count == 2, size.count == 2, let w = Int(size[0]), let h = Int(size[1]), let hash = UInt64(parts[1]) else {
                    throw SimulationError.invalidTraceLine(file, lineNumber, "image '\(entry)' is not WxH@hash")
                }
                images.append(TraceImage(width: w, height: h, hash: hash))
            }
            let request = TraceRequest(arrival: arrival, textTokens: text, images: images, outputTokens: output,
                                       sloClass: fields[3].isEmpty ? nil : fields[3])
            try request.validate(file: file, line: lineNumber)
            requests.append(request)
        }
        return Trace(requests: requests)
    }

    /// CSV text of the trace (prompts are not kept in CSV).
    public func csv() -> String {
        var out = Self.csvHeader + "\n"
        for r in requests {
            let images = r.images.map { "\($0.width)x\($0.height)@\($0.hash)" }.joined(separator: ";")
            out += "\(r.arrival),\(r.textTokens),\(r.outputTokens),\(r.sloClass ?? ""),\(images)\n"
        }
        return out
    }

    /// Loads a trace file by format: `jsonl`, `csv` or `azure-lmm` (see ``AzureLMMTraceLoader``).
    public static func load(from url: URL, format: String, seed: UInt64 = 0) throws -> Trace {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch { throw SimulationError.unreadableFile(url.path, String(describing: error)) }
        switch format {
        case "jsonl": return try parseJSONL(text, file: url.path)
        case "csv": return try parseCSV(text, file: url.path)
        case "azure-lmm": return try AzureLMMTraceLoader(seed: seed).parse(text, file: url.path)
        default: throw SimulationError.invalidConfig("unknown trace format '\(format)' (jsonl, csv, azure-lmm)")
        }
    }
}
