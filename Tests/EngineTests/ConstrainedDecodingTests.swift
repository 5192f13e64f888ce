import Foundation
import CoreUtilities
import Grammar
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

/// Constrained decoding on the random-weight fixtures: whatever the model prefers, the mask keeps
/// the output inside the grammar, so random schemas always give JSON that validates.
@Suite struct ConstrainedDecodingTests {
    func engine(_ name: String) throws -> LLMEngine {
        var config = EngineConfig()
        config.blockSize = 4
        config.kvCacheMemoryBytes = 8 << 20
        return try LLMEngine(directory: Fixtures.directory(name), config: config)
    }

    func run(_ engine: LLMEngine, _ parameters: SamplingParameters, prompt: String = "Answer:") async throws -> (String, FinishReason?) {
        var text = "", finish: FinishReason?
        for try await event in try engine.submit(InferenceRequest(prompt: .text(prompt), parameters: parameters)) {
            switch event {
            case let .delta(d): text += d.text
            case let .finished(info): finish = info.reason
            }
        }
        return (text, finish)
    }

    @Test(arguments: Fixtures.names)
    func randomSchemasAlwaysValidate(_ name: String) async throws {
        let engine = try engine(name)
        var generator = SchemaGenerator(seed: 0x5EED ^ UInt64(name.utf8.count))
        var stopped = 0, total = 0
        for round in 0 ..< 12 {
            let schema = generator.schema(depth: 0)
            let text = schema.serialized
            var p = SamplingParameters(temperature: 1, seed: UInt64(round), maxTokens: 200)
            p.grammar = .jsonSchema(text)
            let (output, finish) = try await run(engine, p)
            total += 1
            let automaton = try GrammarAutomaton(JSONSchemaConverter.grammar(schema: text))
            #expect(automaton.isPrefix(output), "\(name): \(output) leaves \(text)")
            guard finish == .stop else { continue }
            stopped += 1
            let value = try #require(try? JSONDecoder().decode(JSON.self, from: Data(output.utf8)), "\(name): \(output) is not JSON")
            #expect(schema.validates(value), "\(name): \(output) does not validate against \(text)")
        }
        #expect(stopped * 2 >= total, "\(name): only \(stopped) of \(total) outputs completed")
        await engine.shutdown(gracePeriod: .seconds(5))
    }

    @Test(arguments: Fixtures.names)
    func onlyTheMaskMakesOutputValid(_ name: String) async throws {
        let engine = try engine(name)
        let schema = #"{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}"#
        var p = SamplingParameters(temperature: 0, maxTokens: 30)
        let (free, _) = try await run(engine, p)
        #expect((try? JSONSerialization.jsonObject(with: Data(free.utf8))) == nil, "unconstrained: \(free)")
        p.grammar = .jsonSchema(schema)
        let (constrained, finish) = try await run(engine, p)
        #expect(finish == .stop)
        #expect(constrained == #"{"ok":true}"# || constrained == #"{"ok":false}"#, "\(constrained)")
        await engine.shutdown(gracePeriod: .seconds(5))
    }

    @Test func regexChoiceAndGrammar() async throws {
        let engine = try engine("llama-sp")
        for seed in 0 ..< 4 {
            var p = SamplingParameters(temperature: 1, seed: UInt64(seed), maxTokens: 40)
            p.grammar = .regex("[0-9]{3}-[a-z]{2,4}")
            let (code, _) = try await run(engine, p)
            #expect(code.wholeMatch(of: /[0-9]{3}-[a-z]{2,4}/) != nil, "\(code)")
            p.grammar = .choice(["red", "green", "blue"])
            let (color, finish) = try await run(engine, p)
            #expect(["red", "green", "blue"].contains(color) && finish == .stop, "\(color)")
            p.grammar = .ebnf(#"root ::= "(" item ("," item){0,2} ")"  item ::= [a-c] | root"#)
            let (tree, _) = try await run(engine, p)
            #expect(try GrammarAutomaton(EBNFParser.parse(#"root ::= "(" item ("," item){0,2} ")"  item ::= [a-c] | root"#)).isPrefix(tree))
        }
        await engine.shutdown(gracePeriod: .seconds(5))
    }

    /// logit_bias comes before the mask: a +100 bias on a token the grammar forbids changes nothing,
    /// and without a grammar it wins every step.
    @Test func logitBiasBeforeTheMask() async throws {
        let engine = try engine("llama-gqa")
        let x = try #require(engine.servedModel.tokenizer.encode("x", addSpecialTokens: false).last)
        var p = SamplingParameters(temperature: 0, maxTokens: 4, ignoreStopTokens: true)
        p.logitBias = [x: 100]
        let (biased, _) = try await run(engine, p)
        #expect(biased.allSatisfy { $0 == "x" } && !biased.isEmpty, "\(biased)")
        p.grammar = .choice(["yes", "no"])
        let (answer, _) = try await run(engine, p)
        #expect(answer == "yes" || answer == "no")
        await engine.shutdown(gracePeriod: .seconds(5))
    }

    @Test func badSchemaIsTheClientsError() throws {
        let engine = try engine("llama-gqa")
        var p = SamplingParameters(maxTokens: 4)
        p.grammar = .jsonSchema(#"{"type":"integer","multipleOf":3}"#)
        #expect(throws: EngineError.invalidRequest("unsupported JSON Schema keyword 'multipleOf' at #")) {
            try engine.submit(InferenceRequest(prompt: .text("a"), parameters: p))
        }
    }
}

/// Any JSON value, decoded independently of the grammar code.
indirect enum JSON: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSON]), object([String: JSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSON].self)) }
    }
}

/// Random schemas small enough that a 256-token context holds their largest instance most of the time.
struct SchemaGenerator {
    var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func pick(_ n: Int) -> Int { Int(random.nextUnitFloat() * Float(n)) % n }

    mutating func schema(depth: Int) -> TestSchema {
        let kinds = depth >= 2 ? 6 : 9
        switch pick(kinds) {
        case 0: return .string(maxLength: 1 + pick(5), pattern: nil)
        case 1: return .string(maxLength: nil, pattern: ["[a-z]{1,4}", "[0-9]{2}-[A-Z]", "(yes|no)"][pick(3)])
        case 2: return .integer
        case 3: return .boolean
        case 4: return .enumeration([.string("a b"), .number(3), .null, .bool(false)].shuffledPrefix(1 + pick(3), &self))
        case 5: return .null
        case 6: return .array(schema(depth: depth + 1), maxItems: 1 + pick(2))
        case 7: return .anyOf([schema(depth: depth + 1), schema(depth: depth + 1)])
        default:
            let count = 1 + pick(3)
            var properties: [(String, TestSchema)] = []
            var required: Set<String> = []
            for i in 0 ..< count {
                let key = ["id", "name", "tags", "v\(i)"][pick(4)] + "\(i)"
                properties.append((key, schema(depth: depth + 1)))
                if pick(2) == 0 { required.insert(key) }
            }
            return .object(properties, required: required)
        }
    }
}

extension Array {
    func shuffledPrefix(_ n: Int, _ g: inout SchemaGenerator) -> [Element] {
        var copy = self
        for i in copy.indices.reversed() { copy.swapAt(i, g.pick(i + 1)) }
        return Array(copy.prefix(n))
    }
}

indirect enum TestSchema {
    case string(maxLength: Int?, pattern: String?)
    case integer, boolean, null
    case enumeration([JSON])
    case array(TestSchema, maxItems: Int)
    case anyOf([TestSchema])
    case object([(String, TestSchema)], required: Set<String>)

    var serialized: String {
        switch self {
        case let .string(maxLength, pattern):
            #"{"type":"string""# + (maxLength.map { #","maxLength":\#($0)"# } ?? "") + (pattern.map { #","pattern":"\#($0)""# } ?? "") + "}"
        case .integer: #"{"type":"integer"}"#
        case .boolean: #"{"type":"boolean"}"#
        case .null: #"{"type":"null"}"#
        case let .enumeration(values): #"{"enum":["# + values.map(Self.literal).joined(separator: ",") + "]}"
        case let .array(items, maxItems): #"{"type":"array","items":\#(items.serialized),"maxItems":\#(maxItems)}"#
        case let .anyOf(options): #"{"anyOf":["# + options.map(\.serialized).joined(separator: ",") + "]}"
        case let .object(properties, required):
            #"{"type":"object","additionalProperties":false,"properties":{"#
                + properties.map { #""\#($0.0)":\#($0.1.serialized)"# }.joined(separator: ",")
                + #"},"required":["# + properties.map(\.0).filter(required.contains).map { #""\#($0)""# }.joined(separator: ",") + "]}"
        }
    }

    static func literal(_ v: JSON) -> String {
        switch v {
        case .null: "null"
        case let .bool(b): "\(b)"
        case let .number(n): "\(Int(n))"
        case let .string(s): #""\#(s)""#
        default: ""
        }
    }

    func validates(_ value: JSON) -> Bool {
        switch (self, value) {
        case let (.string(maxLength, pattern), .string(s)):
            if let maxLength, s.unicodeScalars.count > maxLength { return false }
            if let pattern, (try? Regex("^(" + pattern + ")$").wholeMatch(in: s)) == nil { return false }
            return true
        case let (.integer, .number(n)): return n == n.rounded()
        case (.boolean, .bool), (.null, .null): return true
        case let (.enumeration(values), v): return values.contains(v)
        case let (.array(items, maxItems), .array(elements)): return elements.count <= maxItems && elements.allSatisfy(items.validates)
        case let (.anyOf(options), v): return options.contains { $0.validates(v) }
        case let (.object(properties, required), .object(members)):
            let keys = Set(properties.map(\.0))
            guard required.isSubset(of: members.keys), Set(members.keys).isSubset(of: keys) else { return false }
            return properties.allSatisfy { key, schema in members[key].map(schema.validates) ?? true }
        default: return false
        }
    }
}
