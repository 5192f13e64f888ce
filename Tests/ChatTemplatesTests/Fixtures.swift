import Foundation
import Testing
@testable import ChatTemplates

/// Reference renders produced by scripts/fixtures/chat_templates.py with transformers and jinja2.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/chat_templates")

    struct Case: Sendable {
        let name: String
        /// Template text: the model family's .jinja file, or the inline expression template.
        let source: String
        let context: [String: TemplateValue]
        let expected: String?
        let errorKind: String?
        let errorMessage: String?
    }

    static func load() throws -> (chat: [Case], expressions: [Case], clock: Clock) {
        let root = try TemplateValue(jsonData: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        guard case let .array(chat)? = root["chat_cases"], case let .array(expressions)? = root["expression_cases"],
              case let .string(now)? = root["now"], case .object? = root["templates"]
        else { throw FixtureError.malformed("top level") }
        var sources: [String: String] = [:]
        func templateSource(_ family: String) throws -> String {
            if let cached = sources[family] { return cached }
            guard case let .string(file)? = root["templates"]?[family]?["file"] else { throw FixtureError.malformed(family) }
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            sources[family] = text
            return text
        }
        let chatCases = try chat.map { entry -> Case in
            guard case let .string(family)? = entry["family"] else { throw FixtureError.malformed("family") }
            return try makeCase(entry, source: try templateSource(family))
        }
        let expressionCases = try expressions.map { entry -> Case in
            guard case let .string(source)? = entry["source"] else { throw FixtureError.malformed("source") }
            return try makeCase(entry, source: source)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withFullTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        guard let date = formatter.date(from: now + "Z"), let utc = TimeZone(identifier: "UTC") else {
            throw FixtureError.malformed("now")
        }
        return (chatCases, expressionCases, Clock(now: date, timeZone: utc))
    }

    private static func makeCase(_ entry: TemplateValue, source: String) throws -> Case {
        guard case let .string(name)? = entry["name"], case let .object(pairs)? = entry["context"] else {
            throw FixtureError.malformed("case")
        }
        var context: [String: TemplateValue] = [:]
        for (key, value) in pairs { context[key] = value }
        var expected: String?
        if case let .string(text)? = entry["expected"] { expected = text }
        var kind: String?
        var message: String?
        if case let .string(text)? = entry["error"]?["kind"] { kind = text }
        if case let .string(text)? = entry["error"]?["message"] { message = text }
        return Case(name: name, source: source, context: context, expected: expected, errorKind: kind, errorMessage: message)
    }

    enum FixtureError: Error { case malformed(String) }

    /// Loaded once; an unreadable fixture yields no cases, which `fixturesLoad` reports.
    static let loaded = try? load()
    static var chatCases: [Case] { loaded?.chat ?? [] }
    static var expressionCases: [Case] { loaded?.expressions ?? [] }
    static var clock: Clock { loaded?.clock ?? .system }

    /// Renders `testCase` and checks the output or the error against the reference.
    static func verify(_ testCase: Case) {
        let rendered: Result<String, Error> = Result {
            try ChatTemplate(testCase.source).render(testCase.context, clock: clock)
        }
        switch (rendered, testCase.expected) {
        case let (.success(text), expected?):
            #expect(text == expected, "\(testCase.name)")
        case let (.success(text), nil):
            Issue.record("\(testCase.name): expected an error (\(testCase.errorMessage ?? "")), rendered \(text.debugDescription)")
        case let (.failure(error), expected?):
            Issue.record("\(testCase.name): expected \(expected.debugDescription), got error \(error)")
        case let (.failure(error), nil):
            if testCase.errorKind == "raised" {
                #expect(error as? ChatTemplateError == .raised(message: testCase.errorMessage ?? ""), "\(testCase.name)")
            } else {
                #expect(error is ChatTemplateError, "\(testCase.name)")
                if case .raised? = error as? ChatTemplateError {
                    Issue.record("\(testCase.name): raise_exception error where Jinja failed differently")
                }
            }
        }
    }
}
