import Testing
@testable import Tokenizers

@Suite("JSON parser")
struct JSONParserTests {
    private func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test func parsesScalarsEscapesAndNesting() throws {
        let value = try parse(#" {"a": [1, -2.5e1, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83e\udd80"} "#)
        let array = try #require(value["a"]?.array)
        #expect(array.count == 5)
        #expect(array[0].int == 1)
        #expect(array[1].int == -25)
        #expect(array[2].bool == true)
        #expect(array[3].bool == false)
        #expect(array[4].isNull)
        #expect(value["s"]?.string.map(scalars) == scalars("q\"\\/\u{8}\u{C}\n\r\té🦀"))
    }

    @Test func keepsCanonicallyEquivalentKeysApart() throws {
        let value = try parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}")
        let members = try #require(value.members)
        #expect(members.count == 2)
        #expect(members.map { scalars($0.key) } == [[0xE9], [0x65, 0x301]])
    }

    @Test("rejects malformed documents", arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"unterminated", "\"bad \\x escape\"",
        "\"\\ud800 lone\"", "\"raw\tcontrol\"", "01x", "-", "1.", "tru", "[1] 2", "{1: 2}",
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }
}
