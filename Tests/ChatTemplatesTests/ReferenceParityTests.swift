import Testing
@testable import ChatTemplates

/// Output must equal transformers' rendering byte for byte (or fail where it fails).
@Suite struct ReferenceParityTests {
    @Test func fixturesLoad() throws {
        let loaded = try Fixtures.load()
        #expect(loaded.chat.count >= 40)
        #expect(loaded.expressions.count >= 70)
    }

    @Test(arguments: Fixtures.chatCases.map(\.name))
    func modelTemplate(_ name: String) throws {
        let testCase = try #require(Fixtures.chatCases.first { $0.name == name })
        Fixtures.verify(testCase)
    }

    @Test(arguments: Fixtures.expressionCases.map(\.name))
    func expressionLanguage(_ name: String) throws {
        let testCase = try #require(Fixtures.expressionCases.first { $0.name == name })
        Fixtures.verify(testCase)
    }
}
