import CoreUtilities
import Testing
@testable import Cluster

/// Text-prefix affinity: chained block hashes, the per-instance index, and the router using them.
@Suite struct PrefixAffinityTests {
    static func request(_ tokens: [Int], blockSize: Int = 4) -> RequestInfo {
        var info = RequestInfo(id: 0, arrival: 0, textTokens: tokens.count, images: [], slo: LatencySLO(ttft: 1, tpot: 0.1), predictedOutputTokens: 10)
        info.promptBlockHashes = PromptBlockHashes.chain(tokens: tokens, blockSize: blockSize)
        return info
    }

    @Test func chainedHashesAgreeExactlyOnSharedLeadingBlocks() {
        let a = PromptBlockHashes.chain(tokens: Array(1 ... 10), blockSize: 4)
        let b = PromptBlockHashes.chain(tokens: [1, 2, 3, 4, 5, 6, 7, 99, 9, 10, 11, 12], blockSize: 4)
        // Full blocks only: 10 tokens make two.
        #expect(a.count == 2 && b.count == 3)
        #expect(a[0] == b[0] && a[1] != b[1])
        // The same block after a different parent hashes differently.
        let c = PromptBlockHashes.chain(tokens: [0, 0, 0, 0, 5, 6, 7, 8], blockSize: 4)
        #expect(c[1] != a[1])
        // Images seed the chain: the same text with other images shares nothing.
        let seeded = PromptBlockHashes.chain(tokens: Array(1 ... 10), blockSize: 4, seed: PromptBlockHashes.seed(images: [ImageID(number: 42)]))
        #expect(seeded[0] != a[0])
        #expect(PromptBlockHashes.seed(images: []) == 0)
        #expect(PromptBlockHashes.chain(tokens: [1, 2, 3], blockSize: 4).isEmpty)
    }

    @Test func indexMatchesTheLongestRecordedPrefix() {
        var index = PrefixCacheIndex(capacityBlocks: 100, blockSize: 4)
        let prompt = Self.request(Array(1 ... 16))
        #expect(index.cachedTokens(prompt.promptBlockHashes) == 0)
        index.record(prompt.promptBlockHashes)
        #expect(index.cachedTokens(prompt.promptBlockHashes) == 16)
        // A prompt diverging in its third block matches two blocks.
        let sibling = Self.request(Array(1 ... 8) + [50, 51, 52, 53, 54, 55, 56, 57])
        #expect(index.cachedTokens(sibling.promptBlockHashes) == 8)
    }

    /// Bounded to its capacity; the least recently used blocks go first, and a prompt's leading
    /// blocks outlive its trailing ones.
    @Test func indexForgetsTheLeastRecentlyUsedBlocks() {
        var index = PrefixCacheIndex(capacityBlocks: 5, blockSize: 4)
        let first = Self.request(Array(1 ... 12)).promptBlockHashes
        let second = Self.request(Array(101 ... 112)).promptBlockHashes
        index.record(first)
        index.record(second)
        #expect(index.count == 5)
        // The oldest block is the first prompt's last one: two of its three blocks remain.
        #expect(index.cachedTokens(first) == 8)
        #expect(index.cachedTokens(second) == 12)
        // Using the first prompt again makes the second the older one.
        index.record(first)
        #expect(index.count == 5)
        #expect(index.cachedTokens(first) == 12)
        #expect(index.cachedTokens(second) == 8)
    }

    /// What an instance computes of a cached prompt: every cached block, except that a prompt cached
    /// to its end computes its last block again (its last token's logits pick the first output token).
    @Test func reusedTokensLeaveThePromptsLastTokenToCompute() {
        let whole = Self.request(Array(1 ... 16))
        var index = PrefixCacheIndex(capacityBlocks: 100, blockSize: 4)
        index.record(whole.promptBlockHashes)
        let view = ClusterSnapshot(instances: Self.prefills, cachedPrefixes: [1: index])
        #expect(view.cachedPrefixTokens(of: whole, on: 1) == 16)
        #expect(view.reusedPrefixTokens(of: whole, on: 1) == 12)
        // A longer prompt over the same 16 tokens reuses all four blocks; its own tail is computed.
        let longer = Self.request(Array(1 ... 18))
        #expect(view.reusedPrefixTokens(of: longer, on: 1) == 16)
        // A sibling that diverges in its third block reuses two.
        let sibling = Self.request(Array(1 ... 8) + Array(60 ... 69))
        #expect(view.reusedPrefixTokens(of: sibling, on: 1) == 8)
        #expect(view.reusedPrefixTokens(of: whole, on: 0) == 0)
        #expect(view.reusedPrefixTokens(of: Self.request([]), on: 1) == 0)
    }

    static let prefills = [
        InstanceStatus(id: 0, role: .prefill, group: .text, queuedRequests: 0, pendingPrefillTokens: 0),
        InstanceStatus(id: 1, role: .prefill, group: .text, queuedRequests: 1, pendingPrefillTokens: 300),
    ]

    @Test func routerPrefersTheInstanceHoldingThePrefix() {
        let prompt = Self.request(Array(1 ... 64))
        var cached = PrefixCacheIndex(capacityBlocks: 100, blockSize: 4)
        cached.record(prompt.promptBlockHashes)
        let view = ClusterSnapshot(instances: Self.prefills, cachedPrefixes: [1: cached])
        #expect(view.cachedPrefixTokens(of: prompt, on: 1) == 64)
        #expect(view.cachedPrefixTokens(of: prompt, on: 0) == 0)
        #expect(ModalityRouter().route(prompt, to: .prefill, candidates: [0, 1], in: view) == 1)
        // Without the record the least-loaded instance wins.
        #expect(ModalityRouter().route(prompt, to: .prefill, candidates: [0, 1], in: ClusterSnapshot(instances: Self.prefills)) == 0)
        // Of two holders, the longer cached prefix wins.
        var partial = PrefixCacheIndex(capacityBlocks: 100, blockSize: 4)
        partial.record(Array(prompt.promptBlockHashes.prefix(3)))
        let both = ClusterSnapshot(instances: Self.prefills, cachedPrefixes: [0: partial, 1: cached])
        #expect(ModalityRouter().route(prompt, to: .prefill, candidates: [0, 1], in: both) == 1)
        // Decode placement ignores caches.
        let decodes = Self.prefills.map { var s = $0; s.role = .decode; s.runningDecodes = $0.id * 3; return s }
        #expect(ModalityRouter().route(prompt, to: .decode, candidates: [0, 1], in: ClusterSnapshot(instances: decodes, cachedPrefixes: [1: cached])) == 0)
    }

    @Test func routerFallsBackToTheLeastLoadedWhenTheHolderIsOverloaded() {
        let prompt = Self.request(Array(1 ... 64))
        var cached = PrefixCacheIndex(capacityBlocks: 100, blockSize: 4)
        cached.record(prompt.promptBlockHashes)
        // Too many queued tokens beyond the least-loaded instance's.
        var tokens = Self.prefills
        tokens[1].pendingPrefillTokens = 10_000
        #expect(ModalityRouter(affinitySlack: 4096).route(prompt, to: .prefill, candidates: [0, 1],
                                                           in: ClusterSnapshot(instances: tokens, cachedPrefixes: [1: cached])) == 0)
        // Too many queued requests (mono workers queue requests, not prefill tokens).
        var requests = Self.prefills
        requests[1].pendingPrefillTokens = 0
        requests[1].queuedRequests = 6
        #expect(ModalityRouter(queueSlack: 4).route(prompt, to: .prefill, candidates: [0, 1],
                                                    in: ClusterSnapshot(instances: requests, cachedPrefixes: [1: cached])) == 0)
        requests[1].queuedRequests = 4
        #expect(ModalityRouter(queueSlack: 4).route(prompt, to: .prefill, candidates: [0, 1],
                                                    in: ClusterSnapshot(instances: requests, cachedPrefixes: [1: cached])) == 1)
    }
}
