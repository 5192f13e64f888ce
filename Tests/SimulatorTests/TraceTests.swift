import Foundation
import Testing
import Cluster
@testable import Simulator

@Test func jsonlAndCSVRoundTrip() throws {
    let trace = Trace(requests: [
        TraceRequest(arrival: 0.5, textTokens: 12, images: [TraceImage(width: 640, height: 480, hash: 7)], outputTokens: 30, sloClass: "batch", prompt: "Describe."),
        TraceRequest(arrival: 0.25, textTokens: 5, images: [], outputTokens: 1),
    ])
    #expect(trace.requests.map(\.arrival) == [0.25, 0.5])
    #expect(try Trace.parseJSONL(trace.jsonl()) == trace)
    var noPrompts = trace
    noPrompts.requests[1].prompt = nil
    #expect(try Trace.parseCSV(noPrompts.csv()) == noPrompts)
}

@Test func malformedTracesGiveLineNumbers() {
    #expect(throws: SimulationError.invalidTraceLine("t", 2, "text_tokens must be ≥ 0 and output_tokens ≥ 1")) {
        try Trace.parseJSONL("{\"arrival\": 0, \"text_tokens\": 1, \"images\": [], \"output_tokens\": 1}\n{\"arrival\": 1, \"text_tokens\": 1, \"images\": [], \"output_tokens\": 0}", file: "t")
    }
    #expect(throws: SimulationError.self) { try Trace.parseJSONL("not json", file: "t") }
    #expect(throws: SimulationError.self) { try Trace.parseCSV("wrong,header\n", file: "t") }
    #expect(throws: SimulationError.self) { try Trace.parseCSV(Trace.csvHeader + "\n1,2,3,,10x@5\n", file: "t") }
}

@Test func azureLMMTraceLoads() throws {
    let csv = """
    TIMESTAMP,NumImages,ContextTokens,GeneratedTokens
    2024-10-15 00:00:01.500000+00:00,2,120,40
    2024-10-15 00:00:00.000000+00:00,0,80,0
    2024-10-15T00:01:00Z,16,10,5
    """
    let trace = try AzureLMMTraceLoader(seed: 1).parse(csv)
    #expect(trace.requests.map(\.arrival) == [0, 1.5, 60])
    #expect(trace.requests.map(\.images.count) == [0, 2, 16])
    #expect(trace.requests[0].outputTokens == 1)
    #expect(trace.requests[1].textTokens == 120)
    #expect(try AzureLMMTraceLoader(seed: 1).parse(csv) == trace)
    #expect(AzureLMMTraceLoader.parseTimestamp("1970-01-02 00:00:00") == 86400)
    #expect(AzureLMMTraceLoader.parseTimestamp("2024-10-15 02:00:00+02:00") == AzureLMMTraceLoader.parseTimestamp("2024-10-15 00:00:00"))
    #expect(throws: SimulationError.self) { try AzureLMMTraceLoader().parse("TIMESTAMP,NumImages\n") }
    #expect(throws: SimulationError.self) { try AzureLMMTraceLoader().parse("TIMESTAMP,NumImages,ContextTokens,GeneratedTokens\nyesterday,1,2,3\n") }
}

@Test func syntheticTraceHasThePublishedShape() throws {
    var o = SyntheticTraceGenerator.Options()
    o.durationSeconds = 2000
    o.ratePerSecond = 5
    o.imageReuseProbability = 0.3
    o.seed = 3
    let trace = try SyntheticTraceGenerator(o).generate()
    let rate = Double(trace.requests.count) / o.durationSeconds
    #expect(abs(rate - 5) < 0.3)
    let images = trace.requests.map(\.images.count)
    #expect(images.allSatisfy { (0...16).contains($0) })
    let multimodal = Double(images.count { $0 > 0 }) / Double(images.count)
    #expect(abs(multimodal - 0.6) < 0.05)
    #expect(images.contains { $0 >= 4 })
    let hashes = trace.requests.flatMap { $0.images.map(\.hash) }
    #expect(Set(hashes).count < hashes.count)   // some images repeat
    o.diurnalAmplitude = 1.5
    #expect(throws: SimulationError.self) { try SyntheticTraceGenerator(o).generate() }
}

@Test func qwenImageTokensMatchTransformers() throws {
    struct Case: Decodable { var width, height, minPixels, maxPixels, tokens: Int }
    let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: fixtureURL("image_tokens.json")))
    #expect(cases.count > 30)
    for c in cases {
        let rule = ImageTokenRule.qwen2VL(patch: 14, merge: 2, minPixels: c.minPixels, maxPixels: c.maxPixels)
        #expect(rule.tokens(width: c.width, height: c.height) == c.tokens, "\(c.width)x\(c.height) in [\(c.minPixels), \(c.maxPixels)]")
    }
    #expect(ImageTokenRule.tiles(tileSize: 448, maxTiles: 6, tokensPerTile: 256, thumbnail: true).tokens(width: 1000, height: 500) == 7 * 256)
    #expect(ImageTokenRule.tiles(tileSize: 448, maxTiles: 6, tokensPerTile: 256, thumbnail: true).tokens(width: 400, height: 400) == 256)
}
