import Testing

@Suite struct FixtureTests {
    /// Parameterised tests take their cases from references.json; make sure it is really there.
    @Test func referencesArePresent() throws {
        let references = try Fixtures.loadReferences()
        #expect(references.decode.count >= 25)
        #expect(references.bad.count >= 12)
        #expect(references.processors.count >= 10)
    }
}
