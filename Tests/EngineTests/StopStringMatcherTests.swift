import Testing
@testable import Engine

@Suite struct StopStringMatcherTests {
    @Test func stopStringSplitAcrossPiecesIsNeverEmittedInPart() {
        var m = StopStringMatcher(["</s>"])
        var out = m.append("Hello </")
        out += m.append("s> more")
        #expect(out == "Hello ")
        #expect(m.isStopped)
        #expect(m.append("ignored") == "" && m.finish() == "")
    }

    @Test func heldBackTextIsReleasedAtTheEnd() {
        var m = StopStringMatcher(["STOP"])
        let streamed = ["ab", "cST", "O"].map { m.append($0) }.joined()
        #expect(streamed + m.finish() == "abcSTO")
        #expect(!m.isStopped)
    }

    @Test func theEarliestOfSeveralStopStringsWins() {
        var m = StopStringMatcher(["world", "lo"])
        #expect(m.append("hello world") == "hel")
    }

    @Test func withoutStopStringsTextPassesStraightThrough() {
        var m = StopStringMatcher([])
        #expect(m.append("abc") == "abc")
    }
}
