#if canImport(Glibc)
import Glibc
#endif
import Cluster
import Diffusion
import DiffusionServing
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import TestFixtures
import Testing

/// The `controlnet-scaler` planner (Katz/SwiftDiffusion §ControlNet-as-a-Service, scaled as
/// ModServe §5.4) running live: ControlNet load on the image pool launches a `controlnet` worker
/// process through the local-process provider, and the pool shrinks back when the load stops.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ControlNetScalingTests {
    /// One image worker and one controlnet worker, planned every 3 s; a ControlNet call is priced
    /// at 1 s, so one image of 2 steps × 2 CFG rows in a window asks for 4 calls / 3 s = 1.33 s/s of
    /// ControlNet work: two workers (the maximum). A window without images asks for none: the minimum, one.
    @Test func controlNetLoadLaunchesAControlNetWorkerAndItsEndRetiresIt() async throws {
        let fixtures = Support.repository.appendingPathComponent("fixtures/diffusion")
        let controlNet = fixtures.appendingPathComponent("controlnet-sd1-tiny")
        let frontEnd = try await Support.frontEnd("""
            planners: [{name: controlnet-scaler, interval: 3, targetUtilization: 1, minimumInstances: 1, maximumInstances: 2}]
            capacity: {encodeTokensPerSecond: 1, prefillTokensPerSecond: 20, decodeTokensPerSecond: 100, requestsPerSecond: 1,
                       kvTransferSecondsPerToken: 0.000001, decodeStepSeconds: 0.01, decodeStepSecondsPerSequence: 0.001,
                       controlNetSecondsPerCall: 1}
            groups:
              - group: text
                workers: [{role: mono, count: 1}]
              - group: image
                workers: [{role: image, count: 1}, {role: controlnet, count: 1}]
            """) { options in
            options.imageModelDirectory = ImageServingTests.folder
            options.controlNetWorkerArguments = ["--controlnet", "edges=\(controlNet.path)"]
        }
        func controlNetWorkers() -> [InstanceStatus] { frontEnd.clusterStatus().filter { $0.role == .controlnet && $0.isActive } }
        let first = try #require(controlNetWorkers().first?.id)
        // Without load the pool keeps its one worker through planning rounds.
        try await Task.sleep(for: .seconds(6.5))
        #expect(controlNetWorkers().map(\.id) == [first])

        let images = ClusterImageService(frontEnd: frontEnd)
        let control = try ImageDecoder.decode(contentsOf: fixtures.appendingPathComponent("control-images/control-a.png"))
        let image = ImageRequest(TextToImageRequest(prompt: "a house", steps: 2, guidanceScale: 5, scheduler: .ddim, width: 32, height: 32, seed: 5),
                                 controlNets: [ControlNetUse(name: "edges", image: control, scale: 0.7)])
        // Images with the ControlNet from two clients, each one after another, until told to stop.
        let load = Task {
            var served = 0
            await withTaskGroup(of: Int.self) { group in
                for _ in 0 ..< 2 {
                    group.addTask {
                        var count = 0
                        while !Task.isCancelled {
                            do {
                                let (done, _) = try await ImageServingTests.collect(try images.submit([image]))
                                if Task.isCancelled { break }
                                #expect(done[0] != nil)
                                count += 1
                            } catch {
                                if !Task.isCancelled { Issue.record("image failed: \(error)") }
                                break
                            }
                        }
                        return count
                    }
                }
                for await count in group { served += count }
            }
            return served
        }
        #expect(await Fixtures.eventually(90) { controlNetWorkers().count == 2 })
        let pool = controlNetWorkers()
        #expect(pool.count == 2)
        let added = try #require(pool.first { $0.id != first })
        let pid = try #require(frontEnd.workerProcessId(slot: added.id))
        #expect(kill(pid, 0) == 0)
        // The pool stops at maximumInstances however high the load.
        try await Task.sleep(for: .seconds(3.5))
        #expect(frontEnd.clusterStatus().filter { $0.role == .controlnet }.count <= 2)
        load.cancel()
        let served = await load.value
        #expect(served >= 2)

        // The load stops: a round without images asks for one worker and retires the idlest.
        #expect(await Fixtures.eventually(60) { controlNetWorkers().count == 1 },
                "state \(frontEnd.state), workers \(frontEnd.clusterStatus().map { "\($0.id) \($0.role) active \($0.isActive) queued \($0.queuedRequests) restarts \(frontEnd.restarts(slot: $0.id))" })")
        #expect(frontEnd.clusterStatus().filter { $0.role == .image && $0.isActive }.count == 1)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
