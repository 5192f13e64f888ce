import Foundation
import Testing
@testable import ChatTemplates

@Suite struct TemplateValueTests {
    @Test func jsonKeepsKeyOrderAndPythonNumberTypes() throws {
        let value = try TemplateValue(json: #"{"z": 1, "a": [1.0, 2e3, -0, true, null], "m": {"é": "\u00e9\ud83d\udc4b\n"}}"#)
        #expect(value == [
            "z": 1,
            "a": [1.0, 2000.0, 0, true, nil],
            "m": ["é": "é👋\n"],
        ])
        // tojson reproduces the document order, like json.dumps on a dict from json.loads.
        let rendered = try ChatTemplate("{{ v|tojson }}").render(["v": value])
        #expect(rendered == #"{"z": 1, "a": [1.0, 2000.0, 0, true, null], "m": {"é": "é👋\n"}}"#)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "tru", "[1] 2", "\"\u{01}\"", "1.", "-"])
    func malformedJSONIsATypedError(_ text: String) {
        #expect(throws: ChatTemplateError.self) { try TemplateValue(json: text) }
    }

    @Test func deeplyNestedJSONIsRefused() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: ChatTemplateError.self) { try TemplateValue(json: text) }
    }

    @Test func anyConversionSortsDictionaryKeys() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"b": [1, 2.5, false], "a": "x", "c": null}"#.utf8))
        #expect(try TemplateValue(any: parsed) == ["a": "x", "b": [1, 2.5, false], "c": nil])
        #expect(throws: ChatTemplateError.self) { try TemplateValue(any: Date()) }
    }

    @Test func conversationHelperPassesWhatTransformersPasses() throws {
        let template = try ChatTemplate(
            "{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}")
        let text = try template.render(
            messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true, extra: ["bos_token": "<s>"])
        #expect(text == "TrueTrueTrue<s>hi")
        let withTools = try template.render(messages: [], tools: [["type": "function"]], addGenerationPrompt: false)
        #expect(withTools == "FalseTrueFalse")
    }

    @Test func clockDrivesStrftimeNow() throws {
        let template = try ChatTemplate("{{ strftime_now('%d %b %Y %H:%M') }}")
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))
        let clock = Clock(now: Date(timeIntervalSince1970: 1_700_000_000), timeZone: tokyo)
        #expect(try template.render([:], clock: clock) == "15 Nov 2023 07:13")
    }
}
