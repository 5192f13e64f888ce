import Foundation
import Testing
@testable import Server

/// Responses are written with sorted keys, the same bytes for the same value every time.
@Suite struct ResponseEncodingTests {
    @Test func choiceKeysAreSortedAndStable() throws {
        let choice = TextCompletionChoice(index: 0, text: "hi", logprobs: nil, finishReason: .length)
        let encoded = try (0..<8).map { _ in String(decoding: try JSONEncoder.api.encode(choice), as: UTF8.self) }
        #expect(encoded[0] == #"{"finish_reason":"length","index":0,"logprobs":null,"text":"hi"}"#)
        #expect(Set(encoded).count == 1)
    }
}
