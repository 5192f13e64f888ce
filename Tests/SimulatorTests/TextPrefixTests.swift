import Foundation
import Testing
@testable import Cluster
@testable import Simulator

/// Text prefix hits in the simulator: trace requests naming a shared prefix, each instance's
/// prompt-block cache (blocks of ``KVBlock/defaultTokens``, LRU, `prefixCacheTokens`), the tokens a
/// hit saves, and the router seeing the same cached prefixes the live front end records.
@Suite struct TextPrefixTests {
    /// A text request whose first `prefixTokens` of `textTokens` are the shared prefix `prefix`.
    static func request(_ arrival: Double, text: Int, prefix: String? = nil, prefixTokens: Int? = nil, output: Int = 2) -> TraceRequest {
        var r = TraceRequest(arrival: arrival, textTokens: text, images: [], outputTokens: output)
        r.prefixID = prefix
        r.prefixTokens = prefix == nil ? nil : prefixTokens ?? text
        return r
    }

    static func system(batching: String = "continuous", instances: Int = 1, router: String = "least-loaded", prefixCache: Bool = true) -> SystemSpec {
        var system = SystemSpec(name: "m", deployment: .monolithic(instances))
        system.batching = batching
        system.prefixCache = prefixCache
        system.policies.router = router
        system.policies.stepTimeTargetMs = 0
        return system
    }

    static func simulate(_ requests: [TraceRequest], _ system: SystemSpec, cost: CostModel = roundCostModel()) throws -> ClusterSimulator {
        try ClusterSimulator.simulate(trace: Trace(requests: requests), system: system, costModel: cost, slo: looseSLO, predictor: nil)
    }

    @Test func tracesNameSharedPrefixes() throws {
        let text = """
        {"arrival": 0, "text_tokens": 1100, "prefix_id": "system-a", "prefix_tokens": 1024, "images": [], "output_tokens": 8}
        {"arrival": 1, "text_tokens": 300, "prefix_id": 7, "prefix_tokens": 300, "images": [], "output_tokens": 8}
        {"arrival": 2, "text_tokens": 30, "images": [], "output_tokens": 8}
        """
        let trace = try Trace.parseJSONL(text, file: "t")
        #expect(trace.requests.map(\.prefixID) == ["system-a", "7", nil])
        #expect(trace.requests.map(\.prefixTokens) == [1024, 300, nil])
        #expect(try Trace.parseJSONL(trace.jsonl()) == trace)
        let message = "prefix_id and prefix_tokens go together, with 1 ≤ prefix_tokens ≤ text_tokens"
        for bad in [#""prefix_id": "a", "prefix_tokens": 31"#, #""prefix_id": "a""#, #""prefix_tokens": 4"#, #""prefix_id": "a", "prefix_tokens": 0"#] {
            #expect(throws: SimulationError.invalidTraceLine("t", 1, message)) {
                try Trace.parseJSONL(#"{"arrival": 0, "text_tokens": 30, "images": [], "output_tokens": 1, "# + bad + "}", file: "t")
            }
        }
    }

    /// Requests naming one prefix share exactly its whole blocks; nothing else is shared, not with
    /// another prefix, not after the prefix, and not under other images.
    @Test func standInTokensShareExactlyThePrefixsBlocks() throws {
        let image = TraceImage(width: 64, height: 64, hash: 3)
        var withImage = Self.request(4, text: 1040, prefix: "sys", prefixTokens: 1000)
        withImage.images = [image]
        let requests = [Self.request(0, text: 1040, prefix: "sys", prefixTokens: 1000), Self.request(1, text: 1500, prefix: "sys", prefixTokens: 1000),
                        Self.request(2, text: 1040, prefix: "other", prefixTokens: 1000), Self.request(3, text: 1040), withImage]
        let hashes = try Self.simulate(requests, Self.system()).requests.map(\.info.promptBlockHashes)
        #expect(hashes.map(\.count) == [65, 93, 65, 65, 65])
        func shared(_ a: Int, _ b: Int) -> Int { zip(hashes[a], hashes[b]).prefix { $0 == $1 }.count }
        // 1000 prefix tokens fill 62 blocks of 16; the 63rd mixes in each request's own tokens.
        #expect(shared(0, 1) == 62)
        #expect(Set(hashes[0]).intersection(hashes[1]).count == 62)
        #expect(shared(0, 2) == 0 && shared(0, 3) == 0 && shared(0, 4) == 0)
        // Without a prefix cache, or in a trace naming no prefix, nothing is hashed.
        #expect(try Self.simulate(requests, Self.system(prefixCache: false)).requests.allSatisfy(\.info.promptBlockHashes.isEmpty))
        #expect(try Self.simulate([Self.request(0, text: 100)], Self.system()).requests[0].info.promptBlockHashes.isEmpty)
    }

    /// A hit saves the cached blocks' prefill (10 ms + 1 ms a token here); a prompt cached to its
    /// end computes its last block again; another prefix, or no prefix cache, saves nothing.
    @Test func aHitSkipsTheCachedBlocks() throws {
        let requests = [Self.request(0, text: 1040, prefix: "sys", prefixTokens: 1000), Self.request(10, text: 1040, prefix: "sys", prefixTokens: 1000),
                        Self.request(20, text: 1040), Self.request(30, text: 1040, prefix: "other", prefixTokens: 1000),
                        Self.request(40, text: 992, prefix: "sys")]
        let sim = try Self.simulate(requests, Self.system())
        #expect(sim.requests.map(\.reusedTokens) == [0, 992, 0, 0, 976])
        #expect(sim.requests.map(\.prefillTokens) == [1040, 48, 1040, 1040, 16])
        let ttft = sim.requests.map { $0.firstToken - $0.info.arrival }
        #expect(close(ttft[0], 1.050) && close(ttft[1], 0.058) && close(ttft[2], 1.050) && close(ttft[3], 1.050) && close(ttft[4], 0.026))
        // 992 + 976 of 5152 text tokens came from the cache.
        #expect(sim.summary(offeredRate: 1).textPrefixHitRate == Double(992 + 976) / Double(4 * 1040 + 992))
        let uncached = try Self.simulate(requests, Self.system(prefixCache: false))
        #expect(uncached.summary(offeredRate: 1).textPrefixHitRate == nil)
        #expect(uncached.requests.allSatisfy { $0.reusedTokens == 0 && close($0.firstToken - $0.info.arrival, Double(10 + $0.info.textTokens) / 1000) })
    }

    /// The cache holds `prefixCacheTokens` in whole blocks and forgets the least recently used
    /// first; a prompt's leading blocks outlive its tail, so a prefix is lost from its end.
    @Test func theCacheIsBoundedInBlocksAndForgetsTheLeastRecentlyUsed() throws {
        var cost = roundCostModel()
        cost.memory.prefixCacheTokens = 1600 + 15
        let requests = [Self.request(0, text: 1040, prefix: "sys", prefixTokens: 1000), Self.request(10, text: 1040),
                        Self.request(20, text: 1040, prefix: "sys", prefixTokens: 1000)]
        let sim = try Self.simulate(requests, Self.system(), cost: cost)
        // 100 blocks: the second prompt's 65 push out the first's 30 last blocks, so 35 (560 tokens) are left.
        #expect(sim.fleet[0].promptBlocks.capacityBlocks == 100)
        #expect(sim.requests[2].reusedTokens == 560)
        #expect(close(sim.requests[2].firstToken, 20 + 0.010 + 0.480))
    }

    /// A request queued behind the first one with its prefix finds the prefix at admission, as the
    /// engine looks a prompt up when it schedules it, not when the request was routed.
    @Test func aQueuedRequestFindsThePrefixAtAdmission() throws {
        let requests = [Self.request(0, text: 1040, prefix: "sys", prefixTokens: 1000), Self.request(0.5, text: 1040, prefix: "sys", prefixTokens: 1000)]
        let sim = try Self.simulate(requests, Self.system())
        #expect(sim.requests[1].reusedTokens == 992)
        #expect(close(sim.requests[1].firstToken, 1.050 + 0.058))
        #expect(sim.fleet.allSatisfy { $0.pendingPrefillTokens == 0 })
    }

    /// The cache-aware router sees each instance's cached prefix: `modality` sends a request to the
    /// instance holding its prefix though another is idle, `least-loaded` to the idle one.
    @Test func theRouterSeesTheCachedPrefix() throws {
        let requests = [Self.request(0, text: 1040, prefix: "sys", prefixTokens: 1000), Self.request(5, text: 1000, output: 400),
                        Self.request(5.001, text: 1040, prefix: "sys", prefixTokens: 1000)]
        func prefillInstances(_ router: String) throws -> [Int] {
            try ClusterSimulator.decisions(trace: Trace(requests: requests), system: Self.system(instances: 2, router: router), costModel: roundCostModel(), slo: looseSLO)
                .routing.filter { $0.stage == .prefill }.map(\.instance)
        }
        #expect(try prefillInstances("modality") == [0, 0, 0])
        #expect(try prefillInstances("least-loaded") == [0, 0, 1])
        let sim = try Self.simulate(requests, Self.system(instances: 2, router: "modality"))
        #expect(sim.requests[2].reusedTokens == 992)
        // Afterwards instance 0 holds all 65 of its blocks.
        #expect(sim.cachedPrefixTokens(of: sim.requests[2].info, on: 0) == 1040)
        #expect(sim.cachedPrefixTokens(of: sim.requests[2].info, on: 1) == 0)
    }

    /// The synthetic generator's shared prefixes: every language-model request starts with one of
    /// the groups' prefixes, and no request does without the option.
    @Test func syntheticTracesShareGroupPrefixes() throws {
        var options = SyntheticTraceGenerator.Options()
        options.durationSeconds = 200
        options.multimodalFraction = 0
        let plain = try SyntheticTraceGenerator(options).generate()
        var shared = SyntheticTraceGenerator.SharedPrefixMix()
        shared.groups = 4
        shared.tokens = 300
        options.sharedPrefixes = shared
        let trace = try SyntheticTraceGenerator(options).generate()
        #expect(plain.requests.allSatisfy { $0.prefixID == nil })
        #expect(trace.requests.allSatisfy { $0.prefixTokens == 300 && $0.textTokens > 300 })
        #expect(Set(trace.requests.compactMap(\.prefixID)) == ["group-0", "group-1", "group-2", "group-3"])
        shared.fraction = 2
        options.sharedPrefixes = shared
        #expect(throws: SimulationError.self) { try SyntheticTraceGenerator(options).generate() }
    }

    /// Under load on chunked instances (the default batching), a shared-prefix workload finishes
    /// every request, leaves no pending tokens behind and answers sooner with the cache than without.
    @Test func sharedPrefixesUnderLoad() throws {
        let requests = (0 ..< 60).map { i in
            Self.request(Double(i) * 0.15, text: 600 + (i * 37) % 200, prefix: "group-\(i % 3)", prefixTokens: 512, output: 4 + i % 5)
        }
        var meanTTFT: [Bool: Double] = [:]
        for cache in [true, false] {
            let sim = try Self.simulate(requests, Self.system(batching: "chunked", instances: 2, router: "modality", prefixCache: cache))
            #expect(sim.allDone && sim.requests.allSatisfy { !$0.dropped })
            #expect(sim.fleet.allSatisfy { $0.pendingPrefillTokens == 0 && $0.prefilling.isEmpty })
            #expect(sim.requests.contains { $0.reusedTokens > 0 } == cache)
            meanTTFT[cache] = sim.requests.reduce(0) { $0 + $1.firstToken - $1.info.arrival } / Double(requests.count)
        }
        #expect(meanTTFT[true]! < meanTTFT[false]! / 2)
    }
}
