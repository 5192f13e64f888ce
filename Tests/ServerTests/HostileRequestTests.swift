import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import ServingAPI
import Testing
import Tokenizers
@testable import Server

/// Inputs a hostile but fair client sends: each gets a precise 4xx (or correct output), never a
/// crash, a hang or work out of proportion to the request.
@Suite struct HostileRequestTests {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models")

    static func code(_ work: () throws(APIError) -> Void) -> (status: Int, code: String?, param: String?)? {
        do {
            try work()
            return nil
        } catch {
            return (error.status.code, error.code, error.param)
        }
    }

    func chat(_ fields: String) throws(APIError) -> ChatCompletionRequest {
        try RequestDecoding.decode(ChatCompletionRequest.self, from: Data(#"{"model": "m", "messages": [], \#(fields)}"#.utf8))
    }

    @Test func maxTokensNearIntMaxIsAContextError() throws {
        for field in ["max_tokens", "max_completion_tokens"] {
            let settings = try GenerationSettings(chat(#""\#(field)": 9223372036854775807"#))
            let result = Self.code { () throws(APIError) in
                _ = try settings.parameters(promptTokens: 7, contextLength: 2048, index: 0)
            }
            #expect(result?.status == 400 && result?.code == "context_length_exceeded", "\(field)")
        }
        let completion = try RequestDecoding.decode(
            CompletionRequest.self, from: Data(#"{"model": "m", "prompt": "p", "max_tokens": 9223372036854775807}"#.utf8))
        let settings = try GenerationSettings(completion)
        #expect(Self.code { () throws(APIError) in _ = try settings.parameters(promptTokens: 1, contextLength: 64, index: 0) }?.code
            == "context_length_exceeded")
    }

    @Test func numbersThatAreNotIntegersNameTheirField() {
        let cases: [(String, String, String)] = [
            (#""max_tokens": 1.5"#, "max_tokens", "invalid_type"),
            (#""n": 2.000001"#, "n", "invalid_type"),
            (#""seed": 1e30"#, "seed", "invalid_value"),
            (#""seed": 99999999999999999999"#, "seed", "invalid_value"),
            (#""top_k": 9223372036854775808"#, "top_k", "invalid_value"),
        ]
        for (fields, param, code) in cases {
            let result = Self.code { () throws(APIError) in _ = try chat(fields) }
            #expect(result?.status == 400 && result?.param == param && result?.code == code, "\(fields): \(String(describing: result))")
        }
        let tokens = Self.code { () throws(APIError) in
            _ = try RequestDecoding.decode(CompletionRequest.self, from: Data(#"{"model": "m", "prompt": [[1, 2], [3, 4.5]]}"#.utf8))
        }
        #expect(tokens?.param == "prompt[1][1]")
        // Broken JSON is still called that.
        let broken = Self.code { () throws(APIError) in _ = try RequestDecoding.decode(ChatCompletionRequest.self, from: Data("{".utf8)) }
        #expect(broken?.code == "invalid_json")
    }

    @Test func samplingEdgesAreReadAsVLLMDoes() throws {
        let tiny = try GenerationSettings(chat(#""top_p": 5e-324, "top_k": -1, "temperature": 1e-40"#)).parameters
        #expect(tiny.topP > 0 && tiny.topK == 0 && tiny.isGreedy)
        for fields in [#""top_k": -2"#, #""top_p": 0"#, #""top_p": -1e-300"#] {
            let result = Self.code { () throws(APIError) in _ = try GenerationSettings(chat(fields)) }
            #expect(result?.status == 400 && ["top_k", "top_p"].contains(result?.param ?? ""), "\(fields)")
        }
    }

    @Test func denormalTemperaturesSampleGreedily() {
        let logits: [Float] = [0.5, 3, -1, 2.9, 0]
        for temperature: Float in [1e-40, 4e-45, .leastNormalMagnitude, 1e-6] {
            var sampler = Sampler(SamplingParameters(temperature: temperature, seed: 3))
            #expect(sampler.sample(logits) == 1, "\(temperature)")
        }
    }

    @Test func urlPortsOutsideTheirRangeAreRefused() throws {
        for url in ["http://127.0.0.1:65536/x.png", "http://h:99999/x", "http://h:0/x", "http://h:99999999999999999999/x",
                    "http://user@h:70000/x"] {
            let result = Self.code { () throws(APIError) in _ = try ImageSource.parse(url, param: "p") }
            #expect(result?.status == 400 && result?.code == "invalid_image_url", "\(url)")
        }
        for url in ["http://h:8080/x", "http://h/x", "http://[::1]:8080/x", "https://h:443"] {
            guard case .remote = try ImageSource.parse(url, param: "p") else { Issue.record("\(url)"); continue }
        }
    }

    @Test func echoedValuesAreCut() {
        let name = String(repeating: "m", count: 1 << 20)
        #expect(APIError.modelNotFound(name).jsonBody.count < 1024)
    }

    @Test func imagePlaceholderTextInAMessageIsPlainText() throws {
        let directory = Self.models.appendingPathComponent("llava-tiny")
        let tokenizer = try Tokenizer.load(directory: directory)
        let model = ServedModel(name: "llava-tiny", contextLength: 512, tokenizer: tokenizer, chatTemplate: tokenizer.chatTemplate,
                                imagePlaceholder: "<image>")
        let builder = try ChatPromptBuilder(source: try #require(tokenizer.chatTemplate), model: model)
        let messages = try JSONDecoder().decode([ChatMessage].self, from: Data(#"""
            [{"role": "system", "content": "say <image>"}, {"role": "user", "content": [{"type": "text", "text": "<image> is text"}]}]
            """#.utf8))
        let prompt = try builder.render(messages)
        #expect(prompt.images.isEmpty)
        let literal = try #require(prompt.literalPlaceholder)
        #expect(!prompt.text.contains("<image>") && prompt.text.components(separatedBy: literal).count == 3)
        let imageToken = try #require(tokenizer.id(forToken: "<image>"))
        #expect(tokenizer.encode("<image>", addSpecialTokens: false) == [imageToken])
        let plain = tokenizer.encode("<image>", addSpecialTokens: false, matchAddedTokens: false)
        #expect(!plain.contains(imageToken) && tokenizer.decode(plain) == "<image>")
    }

    @Test func extremeAspectRatiosAreRefusedBeforeResizing() throws {
        let clip = try ResizeCropImageProcessor(kind: .clip, configData: Data("{}".utf8))
        #expect(throws: ImageProcessorError.self) { try clip.checkSize(height: 1, width: 10_000) }
        try clip.checkSize(height: 480, width: 640)
        let tall = try RGBImage(width: 1, height: 10_000, pixels: [UInt8](repeating: 9, count: 30_000))
        #expect(throws: ImageProcessorError.self) { try clip.preprocess(tall) }
    }

    @Test func contextOverflowFromImagesHasItsCode() {
        let error = APIError(EngineError.contextLengthExceeded("the prompt has 900 tokens with its images expanded"))
        #expect(error.status == .badRequest && error.code == "context_length_exceeded")
    }

    /// The service on the text fixture, with small queues.
    func service(maxQueuedRequests: Int = 4) throws -> OpenAIService {
        var config = EngineConfig()
        config.maxQueuedRequests = maxQueuedRequests
        return try OpenAIService(
            engine: LLMEngine(directory: Self.models.appendingPathComponent("llama-gqa"), config: config), configuration: ServerConfiguration())
    }

    func post(_ service: OpenAIService, _ path: String, _ body: String) async throws -> (status: HTTPResponse.Status, body: String) {
        try await TesseraServer(service: service, host: "127.0.0.1", port: 0).makeApplication().test(.router) { client in
            try await client.execute(uri: path, method: .post, body: ByteBuffer(string: body)) { response in
                (response.status, String(buffer: response.body))
            }
        }
    }

    @Test func requestsLargerThanTheQueueAre400s() async throws {
        let service = try service(maxQueuedRequests: 4)
        let prompts = (0..<5).map { "\"p\($0)\"" }.joined(separator: ",")
        let many = try await post(service, "/v1/completions", #"{"model": "llama-gqa", "prompt": [\#(prompts)], "max_tokens": 1}"#)
        #expect(many.status == .badRequest && many.body.contains("request_too_large"), "\(many)")
        let wide = try await post(service, "/v1/completions", #"{"model": "llama-gqa", "prompt": "p", "n": 5, "max_tokens": 1}"#)
        #expect(wide.status == .badRequest && wide.body.contains("request_too_large"), "\(wide)")
        await service.drain()
    }

    @Test func aPromptTooLongForTheContextIsRefusedByItsSize() async throws {
        let service = try service()
        let model = service.engine.servedModel
        let limit = model.contextLength * 2 * model.tokenizer.maxTokenUTF8Length
        let huge = String(repeating: "a", count: limit + 1)
        for (path, body) in [
            ("/v1/completions", #"{"model": "llama-gqa", "prompt": "\#(huge)"}"#),
            ("/v1/chat/completions", #"{"model": "llama-gqa", "messages": [{"role": "user", "content": "\#(huge)"}]}"#),
        ] {
            let response = try await post(service, path, body)
            #expect(response.status == .badRequest && response.body.contains("context_length_exceeded"), "\(path)")
            // Refused from its size, before tokenizing (the refusal after tokenizing counts tokens).
            #expect(response.body.contains("bytes that can fit it"), "\(path): \(response.body)")
        }
        await service.drain()
    }
}
