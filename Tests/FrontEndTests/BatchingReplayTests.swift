import Cluster
import Foundation
import FrontEnd
import ServingAPI
import Simulator
import TestFixtures
import Testing

/// One policy, two executors, overlapping requests: a trace replayed through the simulator and
/// through the live front end (real worker processes) gives the same decisions at every decision
/// point — the router's choice for each request while the workers are loaded, and on each worker
/// which waiting requests a step admits, in what order, and the queue it leaves — under FCFS,
/// short-first and SLO-ODBS.
///
/// Arrivals are driven so that both executors see the same state at every decision point: each
/// worker first gets a blocker whose long prompt is prefilled in chunks of the whole step budget
/// (`--max-num-batched-tokens`, the simulator's prefill token limit), so no step admits anything
/// until its last chunk; the other requests are submitted once every worker reports its blocker
/// admitted, each after the previous one was routed. The last chunk leaves part of the budget,
/// which the policy fills from the full queue; later steps go on as decodes, running prefills and
/// finished requests free budget and seats (`--max-num-seqs`, the simulator's decode batch).
@Suite(.serialized, .timeLimit(.minutes(8))) struct BatchingReplayTests {
    static let model = Support.repository.appendingPathComponent("fixtures/models/llama-sp")
    static let stepTokens = 8
    static let seats = 4
    /// Prompt tokens of a blocker: all but 1 token of its last chunk fill whole steps.
    static let blockerTokens = stepTokens * 61 + 1
    /// The overlapping requests: (SLO class, prompt tokens); each generates 4 tokens. Chosen so that
    /// the three policies batch them differently, so an executor that ordered or grew its batches
    /// by another policy fails.
    /// TTFT targets are long enough that short-first's keys (`arrival + ttft × tokens / 4096`) lie
    /// at least 0.4 s apart: live arrivals, each awaiting the previous one's routing, may drift by
    /// tens of milliseconds from the trace's on a loaded machine without reordering a queue.
    static let queued: [(sloClass: String, tokens: Int)] = [("t60000", 2), ("t2000", 5), ("t20000", 8), ("t100", 4), ("t6000", 2)]
    static let classes = ["blocker=0.01", "t100=100", "t2000=2000", "t6000=6000", "t20000=20000", "t60000=60000"]
    static let outputTokens = 4
    /// Tokens a blocker generates: enough that it decodes until every other request was admitted,
    /// so the step it finishes in decides nothing. Its first token then marks no decision either:
    /// requests that reach a loaded worker just after the blocker's last chunk are admitted beside
    /// its first decode with the same budget its last chunk would have left (1 token), and the
    /// batches that follow are the same.
    static let blockerOutputTokens = 20

    typealias Decisions = (routing: [RoutingDecision], batching: [Int: [BatchDecision]])

    /// The trace's requests on `workers` workers: a blocker for each, then the queued ones.
    static func requests(workers: Int) -> [(sloClass: String, tokens: Int, output: Int)] {
        Array(repeating: ("blocker", blockerTokens, blockerOutputTokens), count: workers) + queued.map { ($0.sloClass, $0.tokens, outputTokens) }
    }

    /// A prompt of `tokens` ids that shares no prefix with another request's, not even its first
    /// token: a trace names token counts, not tokens, so the simulator sees no text prefix hits,
    /// while a live worker reuses cached KV below block granularity (a request whose first token
    /// is some cached block's first token copies that one token's KV), which gives the step it is
    /// admitted in one more token of budget than the simulator's.
    static func prompt(_ request: Int, tokens: Int) -> [Int] {
        (0 ..< tokens).map { (request * 389 + $0 * 7) % 1400 + 20 }
    }

    /// The live decisions on `workers` mono workers (requests 0 ..< workers are the blockers), each
    /// worker's batching decisions in its order; nil when the router or some worker saw another state
    /// than the trace's (a loaded machine): a blocker's first token came before the last request was
    /// routed (the router would count its prompt done), or a worker's first decision after its
    /// blocker's missed some of its queued requests.
    func live(workers: Int, batcher: String) async throws -> Decisions? {
        let recorder = DecisionRecorder()
        let frontEnd = try await Support.frontEnd(Self.topology(workers: workers, batcher: batcher), model: Self.model) { options in
            options.workerArguments += ["--max-num-seqs", String(Self.seats), "--max-num-batched-tokens", String(Self.stepTokens)]
                + Self.classes.flatMap { ["--slo-class", $0] }
            options.sloClasses = try! SLOClasses(definitions: Self.classes)
            recorder.observe(&options)
        }
        let requests = Self.requests(workers: workers)
        // Each stream's output, and when its first token came.
        var outputs: [Task<(ids: [Int], cachedTokens: Int?, firstToken: ContinuousClock.Instant), any Error>] = []
        let allRouted: ContinuousClock.Instant
        do {
            for (i, request) in requests.enumerated() {
                // Each request is routed before the next arrives, and the queued ones once every blocker runs.
                if i == workers { #expect(await Fixtures.eventually(every: .microseconds(200)) { recorder.batches.withLock(\.count) == workers }) }
                let stream = try frontEnd.submit(InferenceRequest(prompt: .tokens(Self.prompt(i, tokens: request.tokens)),
                                                                  parameters: Fixtures.greedy(request.output), sloClass: request.sloClass))
                outputs.append(Task {
                    var first = ContinuousClock.now
                    let out = try await Fixtures.collect(stream) { n in if n == 1 { first = .now } }
                    return (out.ids, out.info?.cachedTokens, first)
                })
                #expect(await Fixtures.eventually(every: .microseconds(200)) { recorder.decisions.withLock { $0.contains { $0.request == i } } })
            }
            allRouted = .now
            for (output, request) in zip(outputs, requests) {
                #expect(try await output.value.ids.count == request.output)
                // Every prompt computed in full, as the simulator computes it.
                #expect(try await output.value.cachedTokens == 0)
            }
        } catch {
            await frontEnd.shutdown(gracePeriod: .seconds(1))
            throw error
        }
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        // A blocker whose prompt was done before every request was routed did not hold its queue.
        for blocker in outputs.prefix(workers) where try await blocker.value.firstToken < allRouted { return nil }
        let routing = recorder.decisions.withLock { $0 }
        let batching = Dictionary(grouping: recorder.batches.withLock { $0 }, by: \.instance)
        for (instance, decisions) in batching {
            let queuedHere = Set(routing.filter { $0.instance == instance && $0.request >= workers }.map(\.request))
            // The first decision after the blocker's is taken beside it (in its last chunk, or its first decodes
            // when the requests came just after it), with every queued request there.
            guard queuedHere.isEmpty || decisions.count > 1 && Set(decisions[1].requests + decisions[1].waiting) == queuedHere
                && decisions[1].running == decisions[0].requests else { return nil }
        }
        return (routing, batching)
    }

    /// `workers` mono workers running `batcher`, whose step budget is tokens and seats in both
    /// executors: no step-time target, whose measured step times would cut a step's admissions by
    /// how loaded the machine is (the simulator cuts by its cost model's).
    static func topology(workers: Int, batcher: String) -> String {
        "stepTimeTargetMs: 0\n" + Support.monoWorkers(workers, batcher: batcher)
    }

    /// The same trace in the simulator: the topology's instances with the workers' step budget and
    /// seats, the blockers arriving together, the others 0.5 ms apart while the blockers' first chunks run.
    static func simulated(workers: Int, batcher: String) throws -> Decisions {
        let system = try Support.simulatedSystem(Self.topology(workers: workers, batcher: batcher))
        var costModel = try Support.replayCostModel()
        costModel.decode.maxBatch = seats
        costModel.prefill.maxBatchTokens = stepTokens
        let trace = Trace(requests: requests(workers: workers).enumerated().map { i, request in
            let arrival = i < workers ? 0.0001 * Double(i) : 0.0005 * Double(i - workers + 1)
            return TraceRequest(arrival: arrival, textTokens: request.tokens, images: [], outputTokens: request.output, sloClass: request.sloClass)
        })
        let decisions = try ClusterSimulator.decisions(trace: trace, system: system, costModel: costModel, slo: SLOClasses(definitions: classes))
        return (decisions.routing, Dictionary(grouping: decisions.batching, by: \.instance))
    }

    func compare(workers: Int, batcher: String) async throws -> Decisions {
        var observed: Decisions?
        for _ in 0 ..< 4 where observed == nil { observed = try await live(workers: workers, batcher: batcher) }
        let live = try #require(observed, "the requests never all queued behind the blockers' chunks")
        let simulated = try Self.simulated(workers: workers, batcher: batcher)
        #expect(live.routing == simulated.routing,
                "live:\n\(live.routing.map(\.description).joined(separator: "\n"))\nsimulated:\n\(simulated.routing.map(\.description).joined(separator: "\n"))")
        #expect(live.batching == simulated.batching,
                "live:\n\(live.batching.values.joined().map(\.description).joined(separator: "\n"))\nsimulated:\n\(simulated.batching.values.joined().map(\.description).joined(separator: "\n"))")
        // Every request admitted once, and some step admitted several.
        #expect(simulated.batching.values.joined().flatMap(\.requests).sorted() == Array(0 ..< workers + Self.queued.count))
        #expect(simulated.batching.values.joined().contains { $0.requests.count > 1 })
        // Each blocker decodes beside every later batch on its worker.
        for decisions in simulated.batching.values {
            #expect(decisions.dropFirst().allSatisfy { $0.running.contains(decisions[0].requests[0]) })
        }
        return simulated
    }

    /// Two loaded workers under `least-loaded`: each request goes where the fewest prompt tokens
    /// wait (the live view counts a mono worker's request as pending prefill until its first token,
    /// as the simulator does), so the five split unevenly, and each worker batches its share by
    /// `batcher`, several requests in one step among its batches.
    @Test(arguments: ["fcfs", "slo-short-first", "slo-ordered"])
    func liveRoutingAndBatchingUnderLoadAreTheSimulators(batcher: String) async throws {
        let simulated = try await compare(workers: 2, batcher: batcher)
        #expect(Set(simulated.routing.filter { $0.request >= 2 }.map(\.instance)) == [0, 1])
        // Another policy would batch differently: the three differ on this trace.
        for other in ["fcfs", "slo-short-first", "slo-ordered"] where other != batcher {
            #expect(try Self.simulated(workers: 2, batcher: other).batching != simulated.batching)
        }
    }

    /// One loaded worker: all five queue behind its blocker, so after the blocker's last chunk every
    /// step's admissions, the queue they leave and the decodes beside them follow `batcher` alone.
    @Test(arguments: ["fcfs", "slo-short-first", "slo-ordered"])
    func oneWorkersBatchingUnderLoadIsTheSimulators(batcher: String) async throws {
        let simulated = try await compare(workers: 1, batcher: batcher)
        for other in ["fcfs", "slo-short-first", "slo-ordered"] where other != batcher {
            #expect(try Self.simulated(workers: 1, batcher: other).batching != simulated.batching)
        }
    }
}
