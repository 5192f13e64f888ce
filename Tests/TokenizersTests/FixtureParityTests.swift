import Foundation
import Testing
@testable import Tokenizers

@Suite("Parity with the tokenizers library on the fixture corpus")
struct FixtureParityTests {
    @Test("corpus is non-trivial", arguments: Fixtures.allNames)
    func expectedCoversCorpus(name: String) throws {
        let expected = try Fixtures.expected(name)
        #expect(expected.name == name)
        #expect(expected.entries.count >= 60)
    }

    @Test("encode with special tokens", arguments: Fixtures.allNames)
    func encodeWithSpecialTokens(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for entry in try Fixtures.expected(name).entries {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(name): \(entry.text.debugDescription)")
        }
    }

    @Test("encode without special tokens", arguments: Fixtures.allNames)
    func encodeWithoutSpecialTokens(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for entry in try Fixtures.expected(name).entries {
            #expect(tokenizer.encode(entry.text, addSpecialTokens: false) == entry.idsNoSpecial,
                    "\(name): \(entry.text.debugDescription)")
        }
    }

    @Test("decode keeping and skipping special tokens", arguments: Fixtures.allNames)
    func decode(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for entry in try Fixtures.expected(name).entries {
            #expect(scalars(tokenizer.decode(entry.ids)) == scalars(entry.decoded),
                    "\(name): \(entry.text.debugDescription)")
            #expect(scalars(tokenizer.decode(entry.ids, skipSpecialTokens: true)) == scalars(entry.decodedSkip),
                    "\(name): \(entry.text.debugDescription)")
        }
    }

    @Test("token ↔ id lookups agree with the reference tokens", arguments: Fixtures.names)
    func tokenLookups(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for entry in try Fixtures.expected(name).entries {
            let tokens = try #require(entry.tokens)
            #expect(entry.ids.map(tokenizer.token(forId:)) == tokens, "\(name): \(entry.text.debugDescription)")
            #expect(tokens.map(tokenizer.id(forToken:)) == entry.ids, "\(name): \(entry.text.debugDescription)")
        }
        #expect(tokenizer.token(forId: tokenizer.vocabularySize) == nil)
        #expect(tokenizer.token(forId: -1) == nil)
        #expect(tokenizer.id(forToken: "definitely not a token ✗✗✗") == nil)
    }

    @Test("vocabulary size counts added tokens", arguments: Fixtures.componentNames)
    func vocabularySize(name: String) throws {
        let expected = try #require(try Fixtures.expected(name).vocabSize)
        #expect(try Fixtures.tokenizer(name).vocabularySize == expected)
    }
}
