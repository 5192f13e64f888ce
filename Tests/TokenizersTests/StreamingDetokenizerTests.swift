import CoreUtilities
import Testing
@testable import Tokenizers

@Suite("Streaming detokenizer")
struct StreamingDetokenizerTests {
    /// Streams `ids` one at a time and returns every chunk, the last from `finish()`.
    private func stream(_ tokenizer: Tokenizer, _ ids: [Int], skipSpecialTokens: Bool) -> [String] {
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
        return ids.map { detokenizer.append($0) } + [detokenizer.finish()]
    }

    @Test("concatenated chunks equal decode on the corpus", arguments: Fixtures.allNames)
    func corpusMatchesDecode(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for entry in try Fixtures.expected(name).entries {
            for skip in [false, true] {
                let chunks = stream(tokenizer, entry.ids, skipSpecialTokens: skip)
                let expected = skip ? entry.decodedSkip : entry.decoded
                #expect(scalars(chunks.joined()) == scalars(expected), "\(name) skip=\(skip): \(entry.text.debugDescription)")
                // Text containing no U+FFFD must never show a transient one from a split character.
                if !expected.unicodeScalars.contains("\u{FFFD}") {
                    #expect(!chunks.contains { $0.unicodeScalars.contains("\u{FFFD}") }, "\(name): \(entry.text.debugDescription)")
                }
            }
        }
    }

    @Test("arbitrary id sequences, including invalid byte runs, match decode", arguments: Fixtures.allNames)
    func randomSequencesMatchDecode(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<200 {
            let count = Int(generator.next() % 12) + 1
            let ids = (0..<count).map { _ in Int(generator.next() % UInt64(tokenizer.vocabularySize)) }
            for skip in [false, true] {
                let streamed = stream(tokenizer, ids, skipSpecialTokens: skip).joined()
                #expect(scalars(streamed) == scalars(tokenizer.decode(ids, skipSpecialTokens: skip)), "\(name): \(ids)")
            }
        }
    }

    @Test("a character split over byte-fallback tokens is emitted whole", arguments: ["sentencepiece-style", "metaspace-style"])
    func byteFallbackCharacterIsHeldBack(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let ids = tokenizer.encode("a 🦀", addSpecialTokens: false)
        let byteIds = ids.filter { tokenizer.token(forId: $0)?.hasPrefix("<0x") == true }
        #expect(byteIds.count == 4, "the crab should need four byte tokens: \(ids.compactMap(tokenizer.token(forId:)))")
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        var chunks = ids.map { detokenizer.append($0) }
        chunks.append(detokenizer.finish())
        #expect(chunks.joined() == tokenizer.decode(ids))
        #expect(chunks.contains { $0.hasSuffix("🦀") })
        #expect(!chunks.contains { $0.unicodeScalars.contains("\u{FFFD}") })
    }

    @Test("a character split over byte-level tokens is emitted whole")
    func byteLevelCharacterIsHeldBack() throws {
        let tokenizer = try Fixtures.tokenizer("gpt2-style")
        let crab = Array("🦀".utf8).map { String(ByteLevelAlphabet.scalarForByte[Int($0)]) }
        let ids = try crab.map { try #require(tokenizer.id(forToken: $0)) }
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(ids.dropLast().map { detokenizer.append($0) } == ["", "", ""])
        #expect(detokenizer.append(ids[3]) == "🦀")
        #expect(detokenizer.finish() == "")
    }

    @Test("an incomplete character at the end comes out of finish as U+FFFD")
    func incompleteTailIsFlushed() throws {
        let tokenizer = try Fixtures.tokenizer("gpt2-style")
        let lead = try #require(tokenizer.id(forToken: String(ByteLevelAlphabet.scalarForByte[0xF0])))
        let a = try #require(tokenizer.id(forToken: "a"))
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(detokenizer.append(a) == "a")
        #expect(detokenizer.append(lead) == "")
        #expect(detokenizer.finish() == "\u{FFFD}")
        #expect(tokenizer.decode([a, lead]) == "a\u{FFFD}")
    }
}
