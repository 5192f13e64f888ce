import Foundation
import Testing
@testable import CoreUtilities

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

    @Test func integersStayIntegersAndOversizedOnesBecomeDoubles() throws {
        let value = try parse("[1, -0, 2.0, 2e3, 123456789012345678901234567890]")
        let items = try #require(value.array)
        guard case .int(1) = items[0], case .int(0) = items[1], case .double(2) = items[2], case .double(2000) = items[3],
              case .double = items[4] else {
            Issue.record("unexpected number cases \(items)")
            return
        }
        #expect(items[2].int == 2 && items[4].int == nil && items[4].double == 1.2345678901234568e29)
    }

    @Test func keepsCanonicallyEquivalentKeysApart() throws {
        let value = try parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}")
        let members = try #require(value.members)
        #expect(members.count == 2)
        #expect(members.map { scalars($0.key) } == [[0xE9], [0x65, 0x301]])
    }

    @Test("rejects malformed documents", arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"unterminated", "\"bad \\x escape\"",
        "\"\\ud800 lone\"", "\"raw\tcontrol\"", "01x", "01", "-0.", "-", "1.", "tru", "[1] 2", "{1: 2}",
        // Past Double's range: infinity has no JSON spelling to write it back with.
        "1e309", "[-1.5e400]",
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }
}

/// A string's Unicode scalar values, so canonically equivalent strings compare unequal.
private func scalars(_ string: String) -> [UInt32] {
    string.unicodeScalars.map(\.value)
}

extension JSONParserTests {
    @Test func serializesCompactlyInDocumentOrder() throws {
        let value = try parse(#"{ "z": [1, 2.5, 1E2, -0.1], "a": {"q": "x\"\n\u0001"}, "n": null, "t": true }"#)
        #expect(value.serialized == #"{"z":[1,2.5,100.0,-0.1],"a":{"q":"x\"\n\u0001"},"n":null,"t":true}"#)
        #expect(try parse(value.serialized).serialized == value.serialized)
    }

    /// The compact form escapes only what JSON requires; the Python form writes what `json.dumps` does.
    @Test func quotesAsJSONAndAsPythonsJSONDumps() {
        let text = "a\"\\\n\u{8}\u{C}\u{1}é😀"
        #expect(JSONValue.quote(text) == #""a\"\\\n\u0008\u000c\u0001é😀""#)
        #expect(JSONValue.quote(text, python: true) == #""a\"\\\n\b\f\u0001é😀""#)
        #expect(JSONValue.quote(text, python: true, ensureASCII: true) == #""a\"\\\n\b\f\u0001\u00e9\ud83d\ude00""#)
    }

    @Test func valueAtPathIndexesObjectsAndArrays() throws {
        let value = try parse(#"{"tools": [{"function": {"name": "f"}}, {"function": {"name": "g"}}]}"#)
        #expect(value.value(at: ["tools", "1", "function", "name"])?.string == "g")
        #expect(value.value(at: ["tools", "2"]) == nil)
        #expect(value.value(at: ["tools", "x"]) == nil)
        #expect(value.value(at: [])?.serialized == value.serialized)
    }

    @Test func decodesFromADecoder() throws {
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a": [1, 1.5, "s", null, false, {"b": {}}]}"#.utf8))
        #expect(decoded.value(at: ["a"])?.serialized == #"[1,1.5,"s",null,false,{"b":{}}]"#)
    }
}
