import Foundation
import Testing

@testable import Server

@Suite struct RequestDecodingTests {
    func decodeChat(_ json: String) throws(APIError) -> ChatCompletionRequest {
        try RequestDecoding.decode(ChatCompletionRequest.self, from: Data(json.utf8))
    }

    @Test func invalidJSONIsA400WithItsCode() {
        for body in ["{", "[1, 2]", "null", "not json", "", #""a string""#, "{\"model\": \"m\"} trailing"] {
            #expect(throws: APIError.invalidRequest("the request body is not a valid JSON object", code: "invalid_json")) {
                try decodeChat(body)
            }
        }
    }

    @Test func missingAndMistypedFieldsNameTheParameter() {
        #expect { try decodeChat(#"{"model": "m"}"#) } throws: { ($0 as? APIError)?.param == "messages" }
        #expect { try decodeChat(#"{"model": "m", "messages": [], "temperature": "hot"}"#) } throws: {
            let error = $0 as? APIError
            return error?.param == "temperature" && error?.message.contains("a number") == true
        }
        #expect { try decodeChat(#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]}"#) } throws: {
            ($0 as? APIError)?.message.contains("unsupported content part type 'video'") == true
        }
    }

    @Test func contentIsAStringOrParts() throws {
        let chat = try decodeChat(#"""
            {"model": "m", "stop": "x", "messages": [
              {"role": "system", "content": "be brief"},
              {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:,"}}]},
              {"role": "assistant", "content": null}]}
            """#)
        #expect(chat.sampling.stop?.values == ["x"])
        guard case .text("be brief") = chat.messages[0].content else { Issue.record("string content"); return }
        guard case let .parts(parts) = chat.messages[1].content, case .text("hi") = parts[0], case .imageURL("data:,") = parts[1] else {
            Issue.record("content parts")
            return
        }
        #expect(chat.messages[2].content == nil)
    }

    @Test func bothEndpointsReadTheSamplingFieldsBesideTheirOwn() throws {
        let sampling = #"""
            "temperature": 0.5, "top_p": 0.875, "top_k": 4, "min_p": 0.125, "n": 2, "stream": true,
            "stream_options": {"include_usage": true}, "stop": ["a", "b"], "seed": 7,
            "presence_penalty": 0.25, "frequency_penalty": -0.5
            """#
        let chat = try decodeChat(#"""
            {"model": "m", "messages": [], "max_completion_tokens": 3, "logprobs": true, "top_logprobs": 2,
             "ignore_eos": true, \#(sampling)}
            """#)
        let completion = try RequestDecoding.decode(CompletionRequest.self, from: Data(#"""
            {"model": "m", "prompt": "p", "max_tokens": 3, "logprobs": 2, "echo": true, "ignore_eos": true, \#(sampling)}
            """#.utf8))
        for fields in [chat.sampling, completion.sampling] {
            #expect(fields.temperature == 0.5 && fields.topP == 0.875 && fields.topK == 4 && fields.minP == 0.125)
            #expect(fields.n == 2 && fields.stream == true && fields.streamOptions?.includeUsage == true)
            #expect(fields.stop?.values == ["a", "b"] && fields.seed == 7)
            #expect(fields.presencePenalty == 0.25 && fields.frequencyPenalty == -0.5)
        }
        #expect(chat.maxCompletionTokens == 3 && chat.logprobs == true && chat.topLogprobs == 2 && chat.ignoreEos == true)
        #expect(completion.maxTokens == 3 && completion.logprobs == 2 && completion.echo == true && completion.ignoreEos == true)
        #expect { try RequestDecoding.decode(CompletionRequest.self, from: Data(#"{"model": "m", "prompt": "p", "seed": "s"}"#.utf8)) }
            throws: { ($0 as? APIError)?.param == "seed" }
    }

    @Test func promptsAreTextsOrTokenLists() throws {
        func prompt(_ json: String) throws(APIError) -> PromptInput {
            try RequestDecoding.decode(CompletionRequest.self, from: Data(#"{"model": "m", "prompt": \#(json)}"#.utf8)).prompt
        }
        guard case .texts(["a"]) = try prompt(#""a""#), case .texts(["a", "b"]) = try prompt(#"["a", "b"]"#),
            case .tokenLists([[1, 2]]) = try prompt("[1, 2]"), case .tokenLists([[1], [2, 3]]) = try prompt("[[1], [2, 3]]")
        else {
            Issue.record("prompt forms")
            return
        }
        #expect { try prompt("[]") } throws: { ($0 as? APIError)?.param == "prompt" }
        #expect { try prompt("3") } throws: { ($0 as? APIError)?.param == "prompt" }
    }
}
