import Foundation
import PropertyBased
import ServingAPI
import Testing
@testable import Server

/// Properties of request validation over generated bodies: no number a client sends traps, every
/// value in a field's range is taken as sent, and every other value is a 400 naming the field.
@Suite struct RequestValidationPropertyTests {
    static let contextLength = 64
    static let promptTokens = 5

    /// A chat body with `extra` members (JSON text) added, checked as the chat route checks it.
    static func validate(_ extra: String) -> Result<(SamplingParameters, GenerationSettings), APIError> {
        let body = Data((#"{"model":"m","messages":[{"role":"user","content":"hi"}]"# + (extra.isEmpty ? "" : "," + extra) + "}").utf8)
        do throws(APIError) {
            let request = try RequestDecoding.decode(ChatCompletionRequest.self, from: body, fields: ChatCompletionRequest.fields)
            let settings = try GenerationSettings(request)
            return .success((try settings.parameters(promptTokens: promptTokens, contextLength: contextLength, index: 0), settings))
        } catch {
            return .failure(error)
        }
    }

    /// JSON numbers of every shape a client may send where an integer belongs.
    enum IntegerText: Sendable, CustomStringConvertible {
        case int(Int)
        case fraction(Int)
        case beyond64Bits(negative: Bool, digits: Int)
        case exponent(Int)

        var description: String {
            switch self {
            case let .int(value): String(value)
            case let .fraction(value): "\(value).5"
            case let .beyond64Bits(negative, digits): (negative ? "-" : "") + "92233720368547758" + String(repeating: "9", count: digits)
            case let .exponent(power): "1e\(power)"
            }
        }

        /// The integer the text denotes when it is one within 64 bits.
        var value: Int? {
            switch self {
            case let .int(value): value
            case .fraction, .beyond64Bits: nil
            case let .exponent(power): power <= 18 ? Int(pow(10, Double(power))) : nil
            }
        }
    }

    static let integerTexts = Gen<IntegerText>.oneOf(
        Gen.int().map { IntegerText.int($0) }.eraseToAny(),
        Gen.int(in: -100 ... 100).map { IntegerText.int($0) }.eraseToAny(),
        Gen.int(in: -1_000_000 ... 1_000_000).map { IntegerText.fraction($0) }.eraseToAny(),
        Gen.bool.map { IntegerText.beyond64Bits(negative: $0, digits: 3) }.eraseToAny(),
        Gen.int(in: 19 ... 400).map { IntegerText.exponent($0) }.eraseToAny())

    /// Whether an integer field takes `value` (with a five-token prompt in a 64-token context), and what the parameters then hold.
    static func accepts(_ field: String, _ value: Int) -> Bool {
        switch field {
        case "max_tokens", "max_completion_tokens": (1 ... contextLength - promptTokens).contains(value)
        case "n": (1 ... GenerationSettings.maxN).contains(value)
        case "seed": true
        case "top_k": value >= -1
        case "top_logprobs": (0 ... 20).contains(value)
        default: false
        }
    }

    @Test func integerFieldsTakeTheirRangeAndNameThemselvesOtherwise() async {
        await propertyCheck(count: 600, input: Gen.element(of: ChatCompletionRequest.integerFields).map { $0! }, Self.integerTexts) { field, text in
            let extra = "\"\(field)\":\(text)" + (field == "top_logprobs" ? #","logprobs":true"# : "")
            switch Self.validate(extra) {
            case let .success((parameters, settings)):
                let value = try #require(text.value, "\(field): \(text) was accepted")
                #expect(Self.accepts(field, value), "\(field): \(value) was accepted")
                switch field {
                case "max_tokens", "max_completion_tokens": #expect(parameters.maxTokens == value)
                case "n": #expect(settings.n == value)
                case "seed": #expect(parameters.seed == UInt64(bitPattern: Int64(value)))
                case "top_k": #expect(parameters.topK == max(0, value))
                default: #expect(parameters.topLogprobs == value)
                }
            case let .failure(error):
                #expect(error.status == .badRequest)
                #expect(error.param == field, "\(field): \(text) → \(error.param ?? "no param"): \(error.message)")
                if let value = text.value { #expect(!Self.accepts(field, value), "\(field): \(value) refused: \(error.message)") }
            }
        }
    }

    /// Floating-point fields, from denormals to ±8e307: a value is taken when it is in range as the
    /// engine's Float holds it, and then the engine's parameters validate; otherwise a 400 names the field.
    @Test func floatFieldsTakeTheirRangeAndNameThemselvesOtherwise() async {
        let fields: [(name: String, range: ClosedRange<Float>)] = [
            ("temperature", 0 ... .greatestFiniteMagnitude), ("top_p", .leastNonzeroMagnitude ... 1), ("min_p", 0 ... 1),
            ("presence_penalty", -2 ... 2), ("frequency_penalty", -2 ... 2),
        ]
        let values = Gen<Double>.oneOf(
            Gen.double(in: -3 ... 3).eraseToAny(),
            Gen.double(in: -8e307 ... 8e307).eraseToAny(),
            Gen.double(in: -1e-300 ... 1e-300).eraseToAny(),
            Gen.element(of: [0, -0.0, 5e-324, 1e-45, 1.4e-45, 1e-40, 1, 2, 2.0000001, 1.0000000001, -1e-320, 3.5e38]).map { $0! }.eraseToAny())
        await propertyCheck(count: 600, input: Gen.int(in: 0 ... fields.count - 1), values) { index, value in
            let field = fields[index]
            let text = String(describing: value)
            switch Self.validate("\"\(field.name)\":\(text)") {
            case let .success((parameters, _)):
                #expect(throws: Never.self) { try parameters.validate() }
                let stored: Float = switch field.name {
                case "temperature": parameters.temperature
                case "top_p": parameters.topP
                case "min_p": parameters.minP
                case "presence_penalty": parameters.presencePenalty
                default: parameters.frequencyPenalty
                }
                #expect(field.range.contains(stored), "\(field.name): \(text) stored as \(stored)")
            case let .failure(error):
                #expect(error.status == .badRequest)
                #expect(error.param == field.name, "\(field.name): \(text) → \(error.param ?? "no param"): \(error.message)")
                // top_p is checked as sent, before it is narrowed to a Float.
                let inRange = field.name == "top_p" ? value > 0 && value <= 1 : field.range.contains(Float(value))
                #expect(!inRange, "\(field.name): \(text) refused: \(error.message)")
            }
        }
    }

    /// A member the API does not define is never ignored: a 400 names it.
    @Test func unknownMembersAreNamed() async {
        let known = ChatCompletionRequest.fields.union(RequestDecoding.compatibilityFields)
        let names = Gen.letterOrNumber.string(of: 1 ... 12).filter { !known.contains($0) }
        await propertyCheck(count: 200, input: names) { name in
            guard case let .failure(error) = Self.validate("\"\(name)\":1") else {
                Issue.record("'\(name)' was accepted")
                return
            }
            #expect(error.status == .badRequest && error.param == name && error.code == "unsupported_parameter")
        }
    }

    /// Arbitrary bytes as a body: always a 400, never a trap.
    @Test func arbitraryBodiesAreRefusedCleanly() async {
        let bytes = Gen.uint8().array(of: 0 ... 64)
        await propertyCheck(count: 400, input: bytes) { bytes in
            do throws(APIError) {
                _ = try RequestDecoding.decode(ChatCompletionRequest.self, from: Data(bytes), fields: ChatCompletionRequest.fields)
                Issue.record("\(bytes) decoded")
            } catch {
                #expect(error.status == .badRequest)
            }
        }
    }
}
