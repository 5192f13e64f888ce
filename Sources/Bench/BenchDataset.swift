import CoreUtilities
import Foundation
import Imaging
import Tokenizers

/// One benchmark request: the prompt, its images (encoded), and how many tokens to ask for.
public struct BenchRequest: Sendable {
    public var prompt: String
    /// PNG bytes, sent as `data:` URIs.
    public var images: [Data]
    public var promptTokens: Int
    public var outputTokens: Int
    /// Seconds after the start of the run to send it (trace replay); nil follows the arrival schedule.
    public var arrival: Double?
    /// Sent as `slo_class` when set.
    public var sloClass: String?
}

/// Where benchmark prompts come from.
public enum BenchDatasetKind: Sendable, Equatable {
    /// Random token ids decoded to text (random words when no tokenizer is given).
    case random
    /// `random` plus random images.
    case randomMultimodal
    /// A JSONL file of `{"prompt": "…", "max_tokens": N}` lines (`max_tokens` optional). Lines of a
    /// simulator trace also work: `output_tokens` stands for `max_tokens`, and when every line has an
    /// `arrival` (seconds from the start) the requests are sent at those times.
    case file(String)

    public init(_ name: String) {
        switch name {
        case "random": self = .random
        case "random-mm": self = .randomMultimodal
        default: self = .file(name)
        }
    }
}

public enum BenchDatasetError: Error, CustomStringConvertible {
    case unreadable(String, String)
    case badLine(Int, String)
    case empty(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read dataset \(path): \(reason)"
        case let .badLine(line, reason): "dataset line \(line): \(reason)"
        case let .empty(path): "dataset \(path) has no prompts"
        }
    }
}

/// Builds the benchmark's requests, reproducibly from a seed.
public struct BenchDataset: Sendable {
    public var kind: BenchDatasetKind
    public var count: Int
    public var inputTokens: Int
    public var outputTokens: Int
    /// Lengths vary uniformly in [len·(1−r), len·(1+r)].
    public var rangeRatio: Double
    public var imagesPerRequest: Int
    public var imageWidth: Int
    public var imageHeight: Int
    /// Probability that an image repeats one sent before (exercises the prefix and encoder caches).
    public var imageReuse: Double
    public var seed: UInt64

    public init(
        kind: BenchDatasetKind, count: Int, inputTokens: Int = 1024, outputTokens: Int = 128, rangeRatio: Double = 0,
        imagesPerRequest: Int = 1, imageWidth: Int = 512, imageHeight: Int = 512, imageReuse: Double = 0, seed: UInt64 = 0
    ) {
        self.kind = kind
        self.count = count
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.rangeRatio = rangeRatio
        self.imagesPerRequest = imagesPerRequest
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.imageReuse = imageReuse
        self.seed = seed
    }

    public func make(tokenizer: Tokenizer?) throws -> [BenchRequest] {
        var random = SeededRandom(seed: seed)
        switch kind {
        case .random, .randomMultimodal:
            var pool: [Data] = []
            return try (0..<count).map { _ in
                let input = length(inputTokens, &random)
                let (prompt, tokens) = randomText(tokens: input, tokenizer: tokenizer, &random)
                var images: [Data] = []
                if kind == .randomMultimodal {
                    for _ in 0..<imagesPerRequest {
                        if !pool.isEmpty, Double(random.nextUnitFloat()) < imageReuse {
                            images.append(pool[Int(random.next() % UInt64(pool.count))])
                        } else {
                            let image = try randomImage(&random)
                            pool.append(image)
                            images.append(image)
                        }
                    }
                }
                return BenchRequest(prompt: prompt, images: images, promptTokens: tokens, outputTokens: length(outputTokens, &random))
            }
        case let .file(path):
            return try load(path, tokenizer: tokenizer)
        }
    }

    private func length(_ mean: Int, _ random: inout SeededRandom) -> Int {
        let low = max(1, Int((Double(mean) * (1 - rangeRatio)).rounded(.down)))
        let high = max(low, Int((Double(mean) * (1 + rangeRatio)).rounded(.down)))
        return low + Int(random.next() % UInt64(high - low + 1))
    }

    /// Random ids decoded to text, as vLLM's random dataset makes them; without a tokenizer, random words.
    private func randomText(tokens: Int, tokenizer: Tokenizer?, _ random: inout SeededRandom) -> (String, Int) {
        guard let tokenizer else {
            let words = (0..<tokens).map { _ in Self.words[Int(random.next() % UInt64(Self.words.count))] }
            return (words.joined(separator: " "), tokens)
        }
        var ids: [Int] = []
        while ids.count < tokens {
            let id = Int(random.next() % UInt64(tokenizer.vocabularySize))
            if !tokenizer.specialTokenIds.contains(id) { ids.append(id) }
        }
        let text = tokenizer.decode(ids, skipSpecialTokens: true)
        return (text, tokenizer.encode(text, addSpecialTokens: false).count)
    }

    private func randomImage(_ random: inout SeededRandom) throws -> Data {
        var pixels = [UInt8](repeating: 0, count: imageWidth * imageHeight * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: random.next()) }
        // Random pixels barely compress, so the PNG is about as large as a photo of the same size.
        return Data(try PNGEncoder.encode(rgb: pixels, width: imageWidth, height: imageHeight))
    }

    private func load(_ path: String, tokenizer: Tokenizer?) throws -> [BenchRequest] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw BenchDatasetError.unreadable(path, "\(error)") }
        var requests: [BenchRequest] = []
        for (number, line) in text.split(separator: "\n").enumerated() where !line.allSatisfy(\.isWhitespace) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let prompt = object["prompt"] as? String
            else { throw BenchDatasetError.badLine(number + 1, "expected an object with a string \"prompt\"") }
            let output = (object["max_tokens"] as? Int) ?? (object["output_tokens"] as? Int) ?? outputTokens
            guard output >= 1 else { throw BenchDatasetError.badLine(number + 1, "max_tokens must be at least 1") }
            var arrival: Double?
            if let value = object["arrival"] {
                guard let seconds = (value as? NSNumber)?.doubleValue, seconds.isFinite, seconds >= 0 else {
                    throw BenchDatasetError.badLine(number + 1, "arrival must be a non-negative number of seconds")
                }
                arrival = seconds
            }
            let tokens = tokenizer?.encode(prompt, addSpecialTokens: false).count ?? prompt.split(separator: " ").count
            requests.append(BenchRequest(prompt: prompt, images: [], promptTokens: tokens, outputTokens: output, arrival: arrival))
            if requests.count == count { break }
        }
        guard !requests.isEmpty else { throw BenchDatasetError.empty(path) }
        // Replay arrival times only when the whole file has them; a mix would interleave two clocks.
        if requests.contains(where: { $0.arrival == nil }) {
            for i in requests.indices { requests[i].arrival = nil }
        }
        return requests
    }

    private static let words = [
        "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school", "state",
        "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week", "company", "system",
        "program", "question", "work", "government", "number", "night", "point", "home", "water", "room", "mother", "area",
        "money", "story", "fact", "month", "lot", "right", "study", "book", "eye", "job", "word", "business", "issue",
    ]
}
