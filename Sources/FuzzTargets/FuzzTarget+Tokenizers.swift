import Foundation
import Synchronization
import Tokenizers

extension FuzzTarget {
    /// The fixture tokenizers, one per pre-tokenizer and model family (`fixtures/tokenizers/*-style`).
    static func fixtureTokenizerFolders(_ fixtures: URL) -> [URL] {
        files(in: fixtures.appendingPathComponent("tokenizers")).filter { $0.lastPathComponent.hasSuffix("-style") }
    }

    /// `tokenizer.json` from an untrusted model folder: any bytes load or are refused with an
    /// error, and a tokenizer that loads encodes and decodes text with ids inside its vocabulary.
    static func tokenizerJSON(fixtures: URL) -> FuzzTarget {
        FuzzTarget(name: "tokenizer-json", seeds: fixtureTokenizerFolders(fixtures).map { $0.appendingPathComponent("tokenizer.json") }) { bytes in
            guard let tokenizer = try? Tokenizer(tokenizerJSON: Data(bytes)) else { return }
            exercise(tokenizer, text: "Hello wörld 12345 \u{1F600} <|endoftext|>  tabs\tand\nlines")
        }
    }

    /// Encoding arbitrary text (and decoding arbitrary ids) with each fixture tokenizer: the first
    /// byte picks the tokenizer, the rest is the text, read as UTF-8 with invalid sequences replaced.
    static func tokenizer(fixtures: URL) -> FuzzTarget {
        let tokenizers = Loaded(fixtureTokenizerFolders(fixtures))
        return FuzzTarget(name: "tokenizer") { bytes in
            let all = tokenizers.value
            guard let first = bytes.first, !all.isEmpty else { return }
            let tokenizer = all[Int(first) % all.count]
            let rest = bytes.dropFirst()
            exercise(tokenizer, text: String(decoding: rest, as: UTF8.self))
            // The same bytes as little-endian 16-bit ids, some outside the vocabulary.
            let ids = stride(from: rest.startIndex, to: rest.endIndex - 1, by: 2).map { Int(rest[$0]) | Int(rest[$0 + 1]) << 8 }
            _ = tokenizer.decode(ids)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
            var stream = StreamingDetokenizer(tokenizer: tokenizer)
            for id in ids { _ = stream.append(id) }
            _ = stream.finish()
        }
    }

    /// Encodes `text` every way the server does; ids stay inside the vocabulary, and streaming
    /// detokenization yields what decoding all ids at once does.
    static func exercise(_ tokenizer: Tokenizer, text: String) {
        for (special, added) in [(true, true), (false, true), (false, false)] {
            let ids = tokenizer.encode(text, addSpecialTokens: special, matchAddedTokens: added)
            precondition(ids.allSatisfy { (0..<tokenizer.vocabularySize).contains($0) }, "an id outside the vocabulary")
            let whole = tokenizer.decode(ids)
            var stream = StreamingDetokenizer(tokenizer: tokenizer)
            var streamed = ids.map { stream.append($0) }.joined()
            streamed += stream.finish()
            precondition(streamed == whole, "streamed text \(streamed.debugDescription) differs from decoded \(whole.debugDescription)")
        }
    }
}

/// The fixture tokenizers, loaded on first use (each fuzz process loads them once).
final class Loaded: Sendable {
    private let folders: [URL]
    private let tokenizers = Mutex<[Tokenizer]?>(nil)
    init(_ folders: [URL]) { self.folders = folders }

    var value: [Tokenizer] {
        tokenizers.withLock { cached in
            if let cached { return cached }
            let loaded = folders.compactMap { try? Tokenizer.load(directory: $0) }
            cached = loaded
            return loaded
        }
    }
}
