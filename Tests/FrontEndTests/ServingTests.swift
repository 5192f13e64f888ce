import Cluster
import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import TestFixtures
import Testing

/// Worker processes behind the front end: greedy parity with the single-process engine, and KV moved.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ServingTests {
    @Test(arguments: ["pd.yaml", "pd-push.yaml", "pd-tcp.json", "mono-x2.yaml"])
    func topologyServesTheSingleProcessOutputs(file: String) async throws {
        let yaml = try String(contentsOf: Support.repository.appendingPathComponent("examples/topologies/\(file)"), encoding: .utf8)
        let frontEnd = try await Support.frontEnd(yaml)
        let expected = try await Support.singleProcess(Support.prompts, tokens: 12)
        // Concurrently, so batching on the workers is exercised too.
        let outputs = try await Support.concurrently(Support.prompts, tokens: 12, on: frontEnd)
        #expect(outputs == expected)
        if file.hasPrefix("pd") {
            // Every prompt longer than one token moved its KV once; the heartbeats report it.
            let transfers = Support.prompts.filter { $0.count > 1 }.count
            #expect(await Fixtures.eventually {
                let totals = frontEnd.transferTotals()
                return totals.transfers == transfers && totals.bytesReceived > 0 && totals.bytesReceived == totals.bytesSent
            })
        } else {
            #expect(frontEnd.transferTotals().transfers == 0)
        }
        // Nothing stays parked or allocated once every request finished.
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } && frontEnd.statistics().runningRequests == 0 })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// LLaVA image prompts through a multimodal group: prefill workers encode and prefill, decode
    /// workers continue from the pulled KV; mono workers do it all. Outputs are transformers' greedy ids.
    @Test(arguments: ["encode", "prefill", "mono"])
    func imagePromptsThroughWorkersMatchTransformers(role: String) async throws {
        let prompts = try Support.referencePrompts(Support.llava)
        let workers = switch role {
        case "mono": "      - {role: mono, count: 1}"
        case "encode": "      - {role: encode, count: 2}\n      - {role: prefill, count: 1}\n      - {role: decode, count: 1}"
        default: "      - {role: prefill, count: 1}\n      - {role: decode, count: 1}"
        }
        // ModServe's dispatcher spreads a request's images over the encode workers, one image at a time.
        let dispatcher = role == "encode" ? "encodeDispatcher: least-pending-image-tokens\n" : ""
        let frontEnd = try await Support.frontEnd(dispatcher + "groups:\n  - group: multimodal\n    workers:\n\(workers)\n", model: Support.llava)
        #expect(frontEnd.servedModel.imagePlaceholder == "<image>")
        for prompt in prompts {
            let served = try await Fixtures.collect(try frontEnd.submit(prompt.request))
            #expect(served.ids == prompt.expected, "\(prompt.imageNames)")
            if role == "mono" {
                // The worker's finish arrives whole: per-image stage timings included (the server's image metrics).
                let timings = try #require(served.info?.timings.images)
                #expect(timings.count == prompt.request.images.count && timings.allSatisfy { $0.encoderCacheHit || ($0.preprocess > 0 && $0.encode > 0) })
            }
        }
        if role != "mono" {
            // One KV pull per request, plus one feature pull per encode worker a request's images went to.
            #expect(await Fixtures.eventually { frontEnd.transferTotals().transfers >= prompts.count + (role == "encode" ? prompts.count : 0) })
        }
        if role == "encode" {
            // The prefill worker found every image in its cache: the encode workers' features, not its own encoder.
            let images = prompts.reduce(0) { $0 + $1.imageNames.count }
            let prefill = try frontEnd.slot(of: .prefill)
            #expect(await Fixtures.eventually { frontEnd.encoderCacheCounters(slot: prefill) == (images, images) })
            // Multi-image requests spread over both encode workers (fewest pending image tokens per image).
            let encoders = frontEnd.clusterStatus().filter { $0.role == .encode }.map(\.id)
            #expect(prompts.contains { $0.imageNames.count > 1 })
            #expect(await Fixtures.eventually { encoders.allSatisfy { frontEnd.transferTotals(slot: $0).bytesSent > 0 } })
        }
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// The topology's batcher is each worker's batch policy, and a request's slo_class reaches the
    /// engine that schedules it (prefill and decode workers alike): known classes are served with
    /// the single-process tokens, an unknown one is refused at submission, as the single-process engine does.
    @Test(arguments: ["pd.yaml", "mono-x2.yaml"])
    func sloClassesReachTheWorkersBatchPolicy(file: String) async throws {
        let yaml = try String(contentsOf: Support.repository.appendingPathComponent("examples/topologies/\(file)"), encoding: .utf8)
        let frontEnd = try await Support.frontEnd("batcher: slo-ordered\n" + yaml)
        let prompts = Array(Support.prompts.prefix(4))
        let expected = try await Support.singleProcess(prompts, tokens: 8)
        let classes = ["interactive", "batch", "standard", "interactive"]
        let outputs = try await Support.concurrently(prompts.indices.map {
            InferenceRequest(prompt: .tokens(prompts[$0]), parameters: Fixtures.greedy(8), sloClass: classes[$0])
        }, on: frontEnd)
        #expect(outputs == expected)
        #expect {
            try frontEnd.submit(InferenceRequest(prompt: .tokens(prompts[0]), parameters: Fixtures.greedy(4), sloClass: "urgent"))
        } throws: { error in
            guard case let .invalidRequest(message) = error as? EngineError else { return false }
            return message.contains("urgent")
        }
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    @Test func invalidRequestsAreRefusedAtOnce() async throws {
        let frontEnd = try await Support.frontEnd("groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}", maxQueuedRequests: 1)
        #expect(throws: EngineError.invalidRequest("token id 99999999 is out of range for a vocabulary of 2009")) {
            try frontEnd.submit(InferenceRequest(prompt: .tokens([1, 99_999_999]), parameters: Fixtures.greedy(4)))
        }
        #expect(throws: EngineError.self) { try frontEnd.submit(InferenceRequest(prompt: .tokens([]), parameters: Fixtures.greedy(4))) }
        let first = try frontEnd.submit(InferenceRequest(prompt: .tokens([1, 2, 3]), parameters: Fixtures.greedy(64)))
        #expect(throws: EngineError.overloaded(retryAfterSeconds: 1)) {
            try frontEnd.submit(InferenceRequest(prompt: .tokens([1, 2, 3]), parameters: Fixtures.greedy(4)))
        }
        _ = try await Fixtures.collect(first)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        #expect(throws: EngineError.shuttingDown) { try frontEnd.submit(InferenceRequest(prompt: .tokens([1, 2]), parameters: Fixtures.greedy(4))) }
    }
}
