@testable import Diffusion
import Foundation
import Synchronization
import Testing

/// A UNet call holds the pipeline's UNet lock for its whole length (seconds on a full-size model);
/// what a worker's heartbeat reads must not wait for it, or the front end declares the worker hung.
@Suite struct MergeCountersTests {
    /// `read` on another thread while the UNet lock is held: its value, or nil if it waited 5 s.
    static func readWhileAUNetCallRuns<T: Sendable>(_ pipeline: StableDiffusionPipeline, _ read: @escaping @Sendable () -> T) -> T? {
        let value = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        pipeline.unetLock.lock()
        defer { pipeline.unetLock.unlock() }
        Thread.detachNewThread {
            value.withLock { $0 = read() }
            done.signal()
        }
        guard done.wait(timeout: .now() + 5) == .success else { return nil }
        return value.withLock { $0 }
    }

    @Test func mergeStateIsReadableDuringAUNetCall() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny"))
        #expect(Self.readWhileAUNetCallRuns(pipeline) { pipeline.loraMerges } == 0)
        #expect(Self.readWhileAUNetCallRuns(pipeline) { pipeline.hasMergedLoRAs } == false)
        let loras = [LoRARequest(file: try LoRAFile(url: Fixtures.diffusion.appendingPathComponent("loras/sd1-tiny-peft.safetensors")), scale: 0.7)]
        let merge = UNetLoRAMerge(loras, weights: try pipeline.loraWeights(loras))
        pipeline.mergeLoRAs(merge)
        #expect(Self.readWhileAUNetCallRuns(pipeline) { [pipeline.loraMerges, pipeline.hasMergedLoRAs ? 1 : 0] } == [1, 1])
        pipeline.restoreLoRAs(ifMerged: merge.key)
        #expect(Self.readWhileAUNetCallRuns(pipeline) { [pipeline.loraMerges, pipeline.hasMergedLoRAs ? 1 : 0] } == [1, 0])
    }
}
