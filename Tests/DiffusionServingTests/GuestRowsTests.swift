import Cluster
import Diffusion
import Foundation
import Imaging
import Models
import ServingAPI
import Synchronization
import Tensor
import Testing
@testable import DiffusionServing

/// Two engines that are each other's CFG-split peer, as two image workers of a `cfg_split` pool are,
/// their rows passed in this process through ``DiffusionEngine/predictGuestNoise(_:)`` (a worker
/// receives them over its transfer endpoint). With different LoRAs on the two engines every
/// UNet serves two LoRA sets, so both take them unmerged instead of merging and restoring every
/// step; an image that leaves early leaves its peer's weights pristine.
@Suite struct GuestRowsTests {
    /// One image's peer: its rows go to `engine` as a leader's rows would, with the image's LoRAs by
    /// name, each through `gate` (as peer `place` of it) first.
    final class EnginePeer: GuidancePeer, @unchecked Sendable {
        let engine: DiffusionEngine
        let image: GuestImage
        let loras: [LoRAUse]
        let gate: RowGate
        let place: Int
        private let served = Mutex(0)

        init(_ engine: DiffusionEngine, image: Int, loras: [LoRAUse], gate: RowGate, place: Int) {
            self.engine = engine
            self.image = GuestImage(link: 0, image: image)
            self.loras = loras
            self.gate = gate
            self.place = place
        }

        var rows: Int { served.withLock { $0 } }

        func predictNoise(_ rows: [GuidanceRow]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap] {
            gate.pass(place, row: self.rows + rows.count)
            let guests = rows.map { row in
                var input = row.input
                input.adapters = LowRankAdapters()
                return GuestRow(image: image, input: input, residuals: row.residuals, loras: loras, loraMode: row.loraMode, isLast: row.isLast)
            }
            let predictions = try engine.predictGuestNoise(guests)
            served.withLock { $0 += rows.count }
            return { predictions }
        }

        func release() {
            gate.leave(place)
            engine.endGuests([image])
        }
    }

    /// Holds split images at known steps, so what a test sees does not depend on how fast each
    /// engine's loop runs: the peers go in lockstep (a peer's k-th row waits until every peer still
    /// in has sent k rows), and rows past `limit` wait until ``open()``. A peer whose image leaves
    /// early (``leave(_:)``) no longer holds the others back.
    final class RowGate: @unchecked Sendable {
        private let condition = NSCondition()
        private var arrived: [Int]
        private var left: Set<Int> = []
        private var limit: Int

        init(peers: Int, limit: Int = .max) {
            arrived = Array(repeating: 0, count: peers)
            self.limit = limit
        }

        /// Peer `place`'s `row`-th row (from 1): returns once it may run.
        func pass(_ place: Int, row: Int) {
            condition.lock()
            defer { condition.unlock() }
            arrived[place] = row
            condition.broadcast()
            while row > limit || arrived.indices.contains(where: { !left.contains($0) && arrived[$0] < row }) { condition.wait() }
        }

        func leave(_ place: Int) {
            condition.withLock { _ = left.insert(place) }
            condition.broadcast()
        }

        /// A row waits past the limit.
        var isHolding: Bool { condition.withLock { arrived.contains { $0 > limit } } }

        /// Lets every row past the limit through.
        func open() {
            condition.withLock { limit = .max }
            condition.broadcast()
        }
    }

    static func engine() throws -> DiffusionEngine {
        DiffusionEngine(pipeline: try StableDiffusionPipeline(directory: StepBatchingTests.folder),
                        config: DiffusionEngineConfig(maxBatchSize: 4, loraStartStep: 2, stepBatcher: MixedLoRAStepBatch()),
                        registry: try AddonServingTests.registry())
    }

    static func split(_ image: PipelineImageRequest, to peer: DiffusionEngine, number: Int, gate: RowGate, place: Int = 0) -> (PipelineImageRequest, EnginePeer) {
        var image = image
        let connection = EnginePeer(peer, image: number, loras: image.loras, gate: gate, place: place)
        image.request.guidancePeer = connection
        return (image, connection)
    }

    @Test func splitImagesWithDifferentLoRAsOnTwoEnginesTakeThemUnmerged() async throws {
        let (first, second) = (try Self.engine(), try Self.engine())
        let pristine = AddonServingTests.weights(first.pipeline)
        let steps = 6
        let images = [
            PipelineImageRequest(AddonServingTests.request("a red cube", seed: 11, steps: steps), loras: [LoRAUse(name: "peft", scale: 0.9)]),
            PipelineImageRequest(AddonServingTests.request("a blue sphere", seed: 12, steps: steps), loras: [LoRAUse(name: "kohya", scale: 1)]),
        ]
        // Each engine leads one image and runs the other's unconditional rows, the two in lockstep.
        let gate = RowGate(peers: 2)
        let (onFirst, toSecond) = Self.split(images[0], to: second, number: 0, gate: gate, place: 0)
        let (onSecond, toFirst) = Self.split(images[1], to: first, number: 0, gate: gate, place: 1)
        async let a = StepBatchingTests.images(try first.submit([onFirst])).images
        async let b = StepBatchingTests.images(try second.submit([onSecond])).images
        let served = [try #require(try await a[0]), try #require(try await b[0])]
        #expect(toSecond.rows == steps && toFirst.rows == steps)
        // Merging and restoring every step would be 2 merges per LoRA step on each engine. In
        // lockstep, each engine knows the other's image from its first row to its last, so from
        // their LoRA step (2) on both engines serve both sets at every step: nothing is merged.
        let merges = first.statistics().loraMerges + second.statistics().loraMerges
        #expect(merges == 0, "\(merges) merges for \(steps) steps of two images")
        for (i, image) in images.enumerated() {
            // Exactly as alone on the unmerged arithmetic; as alone merged (generate-image) up to rounding.
            #expect(served[i].latents == (try AddonServingTests.alone(first.pipeline, image, loraStartStep: 2, mode: .unmerged)).latents, "image \(i)")
            let alone = try AddonServingTests.alone(first.pipeline, image, loraStartStep: 2)
            let gap = zip(served[i].latents, alone.latents).map { abs($0 - $1) }.max()!
            #expect(gap < 2e-3, "image \(i): \(gap) from the image made alone")
            #expect(try AddonServingTests.alone(first.pipeline, PipelineImageRequest(image.request)).latents != served[i].latents, "image \(i): the LoRA changed nothing")
        }
        for engine in [first, second] {
            let restored = AddonServingTests.weights(engine.pipeline) == pristine
            #expect(restored, "the weights are not pristine")
            #expect(engine.statistics().guestImages == 0 && !engine.statistics().lorasMerged)
        }
    }

    /// A split image whose client leaves: its peer forgets it and restores the weights merged for
    /// it at once, not at its next call; the leader's weights are pristine again too.
    @Test func aCancelledSplitImageReleasesItsPeer() async throws {
        let (leader, peer) = (try Self.engine(), try Self.engine())
        let pristine = AddonServingTests.weights(peer.pipeline)
        // The peer holds the image's fourth row (its fourth step), the LoRAs having joined at the third.
        let gate = RowGate(peers: 1, limit: 3)
        defer { gate.open() }
        let (image, connection) = Self.split(PipelineImageRequest(AddonServingTests.request("a house", seed: 5, steps: 150),
                                                          loras: [LoRAUse(name: "peft", scale: 0.8)]), to: peer, number: 7, gate: gate)
        do {
            var events = try leader.submit([image]).makeAsyncIterator()
            while let event = try await events.next() {
                if case let .progress(_, step, _, _, _) = event, step >= 3 { break }
            }
            #expect(await eventually { gate.isHolding })
            #expect(connection.rows == 3)
            #expect(peer.statistics().lorasMerged && peer.statistics().guestImages == 1)
        }
        // Ending the iteration cancelled the image mid-way; it leaves at the step boundary after the held row.
        gate.open()
        let released = await eventually { peer.statistics().guestImages == 0 && leader.statistics().runningImages == 0 }
        #expect(released)
        #expect(connection.rows == 4 && leader.statistics().cancelledImages == 1)
        for engine in [peer, leader] {
            let restored = AddonServingTests.weights(engine.pipeline) == pristine
            #expect(!engine.statistics().lorasMerged && restored, "the weights are not pristine")
        }
    }

    /// Whether `condition` holds within two minutes (what it waits for happens at once unless the machine is overloaded).
    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0 ..< 2400 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
