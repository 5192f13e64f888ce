import Cluster
import Diffusion
import DiffusionServing
import Foundation
import FrontEnd
import Simulator
import Synchronization
import TestFixtures
import Testing

/// One image router, two executors: images sent to the live front end's `image` pool (real
/// diffusion worker processes on the tiny SD fixture) and the same images in the simulator, built
/// from the same topology, take the same routes in the same order. A burst of five images spreads
/// over three workers by their queued images (0, 1, 2, then 0 and 1 again, each decision counting
/// the images routed before it); a later pair, once all are done, finds every worker idle again.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ImageRoutingReplayTests {
    static let topology = """
        imageRouter: least-queued-images
        groups:
          - group: text
            workers: [{role: mono, count: 1}]
          - group: image
            workers: [{role: image, count: 3}]
        """
    static let bursts = [5, 2]

    final class Recorder: Sendable {
        let routes = Mutex<[ImageRoute]>([])
    }

    @Test func liveImageRoutesEqualTheSimulators() async throws {
        let recorder = Recorder()
        let frontEnd = try await Support.frontEnd(Self.topology) { options in
            options.imageModelDirectory = ImageServingTests.folder
            options.imageWorkerArguments = ["--max-image-batch", "8"]
            options.onImageRoute = { decision in recorder.routes.withLock { $0.append(decision.route) } }
        }
        let images = ClusterImageService(frontEnd: frontEnd)
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().filter { $0.role == .image && $0.isActive }.count == 3 })
        for (b, count) in Self.bursts.enumerated() {
            // Every image of a burst is submitted before any can finish: each is routed seeing the ones before it queued.
            let streams = try (0 ..< count).map { i in
                try images.submit([TextToImageRequest(prompt: "burst \(b) image \(i)", steps: 4, guidanceScale: 7.5, width: 64, height: 64, seed: UInt64(i))])
            }
            for stream in streams { _ = try await ImageServingTests.collect(stream) }
            #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.queuedRequests == 0 } })
        }
        let live = recorder.routes.withLock { $0 }
        await frontEnd.shutdown(gracePeriod: .seconds(1))

        // Simulated: the same slots and policies; the bursts far apart.
        let system = try Support.simulatedSystem(Self.topology)
        var costModel = try Support.replayCostModel()
        costModel.diffusion = .init(stepFixedMs: 50, stepPerRowPixelMs: 0.001, controlNetFixedMs: 0, controlNetPerPixelMs: 0, vaeDecodeFixedMs: 10,
                                    vaeDecodePerPixelMs: 0, textEncodeMs: 5, loraLoadMs: 0, loraMergeMs: 0, maxBatchSize: 8, loraCacheEntries: 1,
                                    referenceWidth: 64, referenceHeight: 64)
        let trace = Trace(requests: Self.bursts.enumerated().flatMap { b, count in
            (0 ..< count).map { _ in TraceRequest(arrival: Double(b) * 1000, imageGeneration: ImageGeneration(steps: 4, width: 64, height: 64)) }
        })
        let simulated = try ClusterSimulator.imageRoutes(trace: trace, system: system, costModel: costModel, slo: .standard).map(\.route)
        #expect(simulated.map(\.worker) == [1, 2, 3, 1, 2, 1, 2])
        #expect(live == simulated, "live \(live) vs simulated \(simulated)")
    }
}
