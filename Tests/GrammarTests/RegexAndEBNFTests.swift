import Testing
@testable import Grammar

@Suite struct RegexAndEBNFTests {
    @Test(arguments: [
        (#"[0-9]{3}-[0-9]{4}"#, ["555-1234"], ["5551234", "555-123", "555-12345"]),
        (#"(cat|dog)s?"#, ["cat", "dogs"], ["cow", "catss"]),
        (#"\d+(\.\d+)?"#, ["3", "3.14"], ["3.", ".5"]),
        (#"[^a-c]x"#, ["dx", "éx"], ["ax", "x"]),
        (#"\w+@\w+\.com"#, ["a_1@b.com"], ["a@b.org"]),
        (#"^(?:ab){2,}$"#, ["abab", "ababab"], ["ab"]),
        (#"a.c"#, ["abc", "a€c"], ["a\nc", "ac"]),
        (#"\u00e9+"#, ["é", "éé"], ["e"]),
    ])
    func regexes(pattern: String, accepted: [String], rejected: [String]) throws {
        let a = try GrammarAutomaton(Grammar(root: RegexParser.parse(pattern)))
        for text in accepted { #expect(a.matches(text), "\(pattern) should accept \(text)") }
        for text in rejected { #expect(!a.matches(text), "\(pattern) should reject \(text)") }
    }

    @Test(arguments: [#"(a"#, #"a{3,2}"#, #"(?=a)"#, #"\1"#, #"*a"#, #"[a"#])
    func badRegexesAreErrors(pattern: String) {
        #expect(throws: GrammarError.self) { try RegexParser.parse(pattern) }
    }

    @Test func ebnfGrammar() throws {
        let source = #"""
        # a list of answers
        root   ::= answer ("," ws answer)*
        answer ::= "yes" | "no" | [0-9]+ | "\"" [^"]* "\""
        ws     ::= [ \t]?
        """#
        let a = try GrammarAutomaton(EBNFParser.parse(source))
        for text in ["yes", "no, 42", #"yes,"x y",no"#] { #expect(a.matches(text), "\(text)") }
        for text in ["maybe", "yes,,no", "yes ,no"] { #expect(!a.matches(text), "\(text)") }
    }

    @Test func recursiveEBNF() throws {
        let a = try GrammarAutomaton(EBNFParser.parse(#"root ::= "(" root ")" | "x""#))
        #expect(a.matches("((x))"))
        #expect(!a.matches("((x)"))
    }

    @Test(arguments: [
        (#"root ::= other"#, "undefined rule 'other'"),
        (#"start ::= "a""#, "no 'root' rule"),
        (#"root ::= "a" root ::= "b""#, "defined twice"),
        (#"root ::= "a"#, "unterminated"),
    ])
    func badGrammarsAreNamed(source: String, fragment: String) {
        do {
            _ = try EBNFParser.parse(source)
            Issue.record("\(source) parsed")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func choices() throws {
        let a = try GrammarAutomaton(GrammarSpec.choice(["positive", "negative"]).grammar())
        #expect(a.matches("positive"))
        #expect(!a.matches("neutral"))
    }
}
