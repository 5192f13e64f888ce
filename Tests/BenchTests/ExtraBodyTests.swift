import Foundation
import Testing
@testable import Bench

/// `--extra-body` travels as written: a server that keys compiled grammars by a schema's text must
/// see the same text on every request, and re-encoding a dictionary reorders its keys.
@Suite struct ExtraBodyTests {
    @Test func extraMembersAreSplicedVerbatimAndOverrideTheBase() throws {
        let extra = #"{"max_tokens": 7, "response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "number"}, "m": {"type": "boolean"}}}}}}"#
        let base = try JSONSerialization.data(withJSONObject: ["model": "m", "stream": true] as [String: Any])
        let payload = BenchClient.splicing(extra, into: base)
        let text = try #require(String(data: payload, encoding: .utf8))
        #expect(text.contains(#""properties": {"z": {"type": "string"}, "a": {"type": "number"}, "m": {"type": "boolean"}}"#))
        let object = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        #expect(object["model"] as? String == "m")
        #expect(object["max_tokens"] as? Int == 7)
        #expect(BenchClient.splicing("{ }", into: base) == base)
        #expect(BenchClient.splicing("not json", into: base) == base)
    }
}
