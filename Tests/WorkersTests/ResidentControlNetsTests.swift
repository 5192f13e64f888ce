import CoreUtilities
import Foundation
import Testing
@testable import Workers

/// A `controlnet` worker's resident set (Katz/SwiftDiffusion §ControlNet-as-a-Service: the top-K
/// ControlNets by LRU or LFU, K by memory budget) follows `--adapter-cache-eviction`.
@Suite struct ResidentControlNetsTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/diffusion/controlnet-sd1-tiny")

    /// Three names for the fixture ControlNet, a budget for two: "popular" runs three times, then
    /// "recent" once, then "tail" needs room. LRU evicts "popular" (the least recent), so running it
    /// again loads it; LFU evicts "recent" (the least used) and "popular" is still resident.
    @Test(arguments: [(CacheEviction.lru, 4), (.lfu, 3)])
    func lfuKeepsAFrequentlyUsedControlNetThatLRUEvicts(eviction: CacheEviction, loads: Int) throws {
        let names = ["popular", "recent", "tail"]
        let resident = ResidentControlNets(registry: Dictionary(uniqueKeysWithValues: names.map { ($0, Self.folder) }),
                                           budgetBytes: 2 * ResidentControlNets.bytes(of: Self.folder), eviction: eviction)
        for name in ["popular", "popular", "popular", "recent", "tail", "popular"] {
            let ran = try resident.with(name) { _ in name }
            #expect(ran == name)
        }
        #expect(resident.statistics.loads == loads)
        #expect(resident.statistics.hits == 6 - loads)
    }
}
