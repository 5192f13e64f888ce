import CoreUtilities
import ServingAPI
import Testing
@testable import Engine

@Suite struct BlockManagerTests {
    let cat = ImageID(number: 1)
    let dog = ImageID(number: 2)

    func request(_ id: Int, _ tokens: [Int], images: [ImageSpan] = []) -> EngineRequest {
        EngineRequest(id: id, prompt: tokens, images: images, arrival: id)
    }

    /// Runs a request's whole prompt through the cache, as the scheduler and model runner would.
    func compute(_ r: EngineRequest, in blocks: BlockManager) {
        blocks.admit(r)
        #expect(blocks.reserve(r, tokens: r.pendingTokens))
        r.computedTokens = r.count
        blocks.commit(r)
    }

    @Test func samePrefixSharesFullBlocksAndLeavesOneTokenToCompute() {
        let blocks = BlockManager(blockCount: 16, blockSize: 4)
        let a = request(1, Array(0 ..< 10))
        compute(a, in: blocks)
        let b = request(2, Array(0 ..< 9) + [99])
        blocks.admit(b)
        #expect(b.computedTokens == 8)
        #expect(Array(b.blockTable) == Array(a.blockTable.prefix(2)))
        // A prompt that is exactly cached still computes its last token; the three before it are
        // copied from a's second block into a block of c's own.
        let c = request(3, Array(0 ..< 8))
        blocks.admit(c)
        #expect(c.computedTokens == 7)
        #expect(c.blockTable.count == 2 && c.blockTable[0] == a.blockTable[0] && c.blockTable[1] != a.blockTable[1])
        #expect(c.pendingCopy == BlockCopy(source: a.blockTable[1], destination: c.blockTable[1], positions: 3))
        #expect(blocks.checkInvariants(live: [a, b, c]))
    }

    @Test func theLastPartialBlockOfAFreedRequestSeedsARepeat() {
        let blocks = BlockManager(blockCount: 16, blockSize: 4)
        let a = request(1, Array(0 ..< 7))
        compute(a, in: blocks)
        // b's partial block is taken while a is running: a's partial block is still being written.
        let b = request(2, Array(0 ..< 7))
        blocks.admit(b)
        #expect(b.computedTokens == 4 && b.pendingCopy == nil)
        blocks.free(b)
        let aTail = a.blockTable[1]
        blocks.free(a)
        let c = request(3, Array(0 ..< 7) + [42])
        blocks.admit(c)
        #expect(c.computedTokens == 7)
        #expect(c.pendingCopy?.source == aTail && c.pendingCopy?.positions == 3)
        // A request freed before its copy ran leaves nothing behind to seed from.
        let destination = c.blockTable[1]
        blocks.free(c)
        #expect(blocks.partialSourceOfBlock[destination] == nil)
        #expect(blocks.partialSourceOfBlock[aTail] != nil)
    }

    @Test func aPartialBlockNeedsTheSameImagesAtTheSamePlaces() {
        let blocks = BlockManager(blockCount: 16, blockSize: 4)
        let tokens = [5, 6, 7, 8, 9, 7, 7, 1]
        let a = request(1, tokens, images: [ImageSpan(imageID: self.cat, offset: 5, length: 2)])
        compute(a, in: blocks)
        blocks.free(a)
        let dog = request(2, tokens + [3], images: [ImageSpan(imageID: self.dog, offset: 5, length: 2)])
        blocks.admit(dog)
        #expect(dog.computedTokens == 4)
        blocks.free(dog)
        // Before the image the text alone matches.
        let textOnly = request(3, [5, 6, 7, 8, 9, 2, 2])
        blocks.admit(textOnly)
        #expect(textOnly.computedTokens == 5)
        blocks.free(textOnly)
        let cat = request(4, tokens + [3], images: [ImageSpan(imageID: self.cat, offset: 5, length: 2)])
        blocks.admit(cat)
        #expect(cat.computedTokens == 8)
    }

    @Test func sameTextDifferentImageIsAMiss() {
        let blocks = BlockManager(blockCount: 16, blockSize: 4)
        let tokens = [5, 7, 7, 7, 7, 7, 7, 7, 7, 1]
        compute(request(1, tokens, images: [ImageSpan(imageID: self.cat, offset: 1, length: 8)]), in: blocks)
        let other = request(2, tokens, images: [ImageSpan(imageID: self.dog, offset: 1, length: 8)])
        blocks.admit(other)
        #expect(other.computedTokens == 0)
        let same = request(3, tokens, images: [ImageSpan(imageID: self.cat, offset: 1, length: 8)])
        blocks.admit(same)
        #expect(same.computedTokens == 8)
        // The same image at another position is a different prefix too.
        let shifted = request(4, tokens, images: [ImageSpan(imageID: self.cat, offset: 2, length: 7)])
        blocks.admit(shifted)
        #expect(shifted.computedTokens == 0)
    }

    @Test func freedBlocksStayCachedUntilReusedLeastRecentlyFreedFirst() {
        let blocks = BlockManager(blockCount: 4, blockSize: 2)
        let a = request(1, [1, 2, 3])
        compute(a, in: blocks)
        blocks.free(a)
        #expect(blocks.freeBlockCount == 4)
        let again = request(2, [1, 2, 9])
        blocks.admit(again)
        #expect(again.computedTokens == 2)
        blocks.free(again)
        // Fill the cache with other content: the old prefix is evicted.
        compute(request(3, [7, 7, 7, 7, 7, 7, 7, 7]), in: blocks)
        let late = request(4, [1, 2, 9])
        blocks.admit(late)
        #expect(late.computedTokens == 0)
    }

    @Test func reserveFailsWithoutTakingAnything() {
        let blocks = BlockManager(blockCount: 2, blockSize: 4)
        let r = request(1, Array(0 ..< 12))
        #expect(!blocks.reserve(r, tokens: 12))
        #expect(r.blockTable.isEmpty && blocks.freeBlockCount == 2)
    }

    @Test func randomMixOfFinishAbortAndPreemptionLeaksNothing() {
        var rng = SeededRandom(seed: 5)
        func rand(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let blocks = BlockManager(blockCount: 24, blockSize: 4)
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchedTokens: 16, maxRunningRequests: 6), blocks: blocks)
        var live: [EngineRequest] = []
        var nextId = 0
        for _ in 0 ..< 600 {
            if rand(3) == 0 {
                // Shared prefixes make prefix hits and shared blocks common.
                let prompt = Array(0 ..< rand(3) * 4) + (0 ..< 1 + rand(14)).map { _ in rand(5) }
                let r = EngineRequest(id: nextId, prompt: prompt, arrival: nextId)
                nextId += 1
                live.append(r)
                scheduler.add(r)
            }
            let output = scheduler.schedule()
            #expect(output.totalTokens <= 16)
            scheduler.complete(output)
            for r in scheduler.running where r.pendingTokens == 0 { r.append(rand(5)) }
            if !live.isEmpty, rand(4) == 0 {
                let victim = live.remove(at: rand(live.count))
                scheduler.finish(victim.id)
                #expect(victim.blockTable.isEmpty)
            }
            #expect(blocks.checkInvariants(live: live))
        }
        for r in live { scheduler.finish(r.id) }
        #expect(blocks.freeBlockCount == 24)
        #expect(blocks.checkInvariants(live: []))
    }
}
