import Testing
@testable import Grammar

/// JSON Schemas compile to grammars that accept exactly the compact JSON the schema allows.
@Suite struct JSONSchemaTests {
    private func automaton(_ schema: String) throws -> GrammarAutomaton {
        try GrammarAutomaton(JSONSchemaConverter.grammar(schema: schema))
    }

    @Test(arguments: [
        // (schema, accepted, rejected)
        (#"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}"#,
         [#"{"name":"Ann","age":31}"#, #"{"name":"","age":-4}"#],
         [#"{"age":31,"name":"Ann"}"#, #"{"name":"Ann"}"#, #"{"name":"Ann","age":3.5}"#, #"{"name":"Ann","age":31,"x":1}"#, #"{"name":Ann,"age":1}"#]),
        (#"{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"type":"number"}}}"#,
         ["{}", #"{"a":true}"#, #"{"b":null}"#, #"{"a":false,"c":1.5e3}"#, #"{"c":-0.25}"#],
         [#"{,"b":null}"#, #"{"a":true,}"#, #"{"b":null,"a":true}"#, #"{"c":01}"#]),
        (#"{"enum":["red","green",3,null]}"#, [#""red""#, #""green""#, "3", "null"], [#""blue""#, "4", #""Red""#]),
        (#"{"const":{"k":[1,"x"]}}"#, [#"{"k":[1,"x"]}"#], [#"{"k":[1]}"#]),
        (#"{"anyOf":[{"type":"integer"},{"type":"string","maxLength":2}]}"#, ["12", #""ab""#], [#""abc""#, "1.5", "true"]),
        (#"{"type":["string","null"]}"#, [#""x""#, "null"], ["1"]),
        (#"{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}"#, ["[1]", "[1,2,3]"], ["[]", "[1,2,3,4]", "[1,]"]),
        (#"{"type":"array","items":{"type":"integer"}}"#, ["[]", "[5]", "[1,2]"], ["[,1]"]),
        (#"{"type":"array","prefixItems":[{"type":"string"},{"type":"boolean"}],"items":false}"#, [#"["a",true]"#], [#"["a"]"#, #"["a",true,1]"#]),
        (#"{"type":"string","minLength":2,"maxLength":3}"#, [#""ab""#, #""abc""#, #""é\n""#], [#""a""#, #""abcd""#]),
        (#"{"type":"string","pattern":"^[a-z]+-[0-9]{2}$"}"#, [#""ab-12""#], [#""ab-1""#, #""AB-12""#]),
        (#"{"type":"string","format":"date"}"#, [#""2024-02-29""#], [#""2024-13-01""#, #""24-01-01""#]),
        (#"{"type":"string","format":"uuid"}"#, [#""123e4567-e89b-12d3-a456-426614174000""#], [#""123e4567""#]),
        (#"{"type":"string","pattern":"\"[^\"]*\""}"#, [#""\"hi\"""#], [#"""hi"""#]),
        (##"{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"]}},"$ref":"#/$defs/node"}"##,
         [#"{"v":1,"next":null}"#, #"{"v":1,"next":{"v":2,"next":null}}"#], [#"{"v":1,"next":{"v":2}}"#]),
        (#"{"type":"object","additionalProperties":{"type":"integer"}}"#, ["{}", #"{"a":1,"b":2}"#], [#"{"a":"x"}"#]),
        ("{}", ["1", #"{"a":[true,null,"x"]}"#, #""s""#], ["tru", "{a:1}"]),
    ] as [(String, [String], [String])])
    func schemasAcceptAndReject(schema: String, accepted: [String], rejected: [String]) throws {
        let a = try automaton(schema)
        for text in accepted { #expect(a.matches(text), "\(schema) should accept \(text)") }
        for text in rejected { #expect(!a.matches(text), "\(schema) should reject \(text)") }
    }

    @Test func pydanticStyleSchema() throws {
        // What `client.chat.completions.parse(response_format=Model)` sends for a nested Pydantic model.
        let schema = #"""
        {"$defs":{"Step":{"properties":{"explanation":{"title":"Explanation","type":"string"},"output":{"title":"Output","type":"string"}},
        "required":["explanation","output"],"title":"Step","type":"object","additionalProperties":false}},
        "properties":{"steps":{"items":{"$ref":"#/$defs/Step"},"title":"Steps","type":"array"},"final_answer":{"title":"Final Answer","type":"string"}},
        "required":["steps","final_answer"],"title":"MathReasoning","type":"object","additionalProperties":false}
        """#
        let a = try automaton(schema)
        #expect(a.matches(#"{"steps":[{"explanation":"a","output":"b"}],"final_answer":"c"}"#))
        #expect(!a.matches(#"{"steps":[{"explanation":"a"}],"final_answer":"c"}"#))
    }

    @Test(arguments: [
        (#"{"type":"integer","minimum":3}"#, "'minimum'"),
        (#"{"type":"string","format":"color"}"#, "format '\"color\"'"),
        (#"{"type":"object","patternProperties":{}}"#, "'patternProperties'"),
        (#"{"not":{"type":"string"}}"#, "'not'"),
        (#"{"$ref":"https://example.com/s.json"}"#, "local references"),
        (#"{"type":"strnig"}"#, "unknown type 'strnig'"),
        (#"{"type":"object""#, "not valid JSON"),
    ])
    func unsupportedKeywordsAreNamed(schema: String, fragment: String) {
        #expect(throws: GrammarError.self) { try JSONSchemaConverter.grammar(schema: schema) }
        do {
            _ = try JSONSchemaConverter.grammar(schema: schema)
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func anyJSONObject() throws {
        let a = try GrammarAutomaton(JSONSchemaConverter.anyObjectGrammar())
        #expect(a.matches(#"{"a":{"b":[1,2.5,"x\"y",false]}}"#))
        #expect(a.matches("{}"))
        #expect(!a.matches("[1]"))
        #expect(!a.matches(#"{"a":1"#))
        #expect(a.isPrefix(#"{"a":1"#))
    }
}
