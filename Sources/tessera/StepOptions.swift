import ArgumentParser
import Cluster
import Engine

/// The engine step's limits, shared by `serve` and `worker` (see ``SchedulerConfig``).
struct StepOptions: ParsableArguments {
    @Option(name: .customLong("max-num-batched-tokens"), help: "Tokens per engine step (decodes plus prefill chunks).")
    var maxBatchedTokens = 2048

    @Option(name: .customLong("max-num-seqs"), help: "Requests in the running batch at once.")
    var maxRunningRequests = 64

    @Option(name: .customLong("max-prefill-tokens-while-decoding"),
            help: "Prompt tokens in a step that also decodes: bounds how much arriving prompts delay running requests' next tokens.")
    var maxPrefillTokensWhileDecoding = 512

    @Option(name: .customLong("step-time-target-ms"),
            help: "Milliseconds a step that also decodes should take: its prompt tokens are cut to what the measured step times leave beside the decodes (default 50; 0: only --max-prefill-tokens-while-decoding); with --topology, the topology's stepTimeTargetMs.")
    var stepTimeTargetMs: Double?

    /// The target in milliseconds, the policies' default when none is given.
    var stepTimeTarget: Double { stepTimeTargetMs ?? PolicySpec().stepTimeTargetMs }

    func validate() throws {
        guard maxBatchedTokens >= 1, maxRunningRequests >= 1, maxPrefillTokensWhileDecoding >= 1 else {
            throw ValidationError("--max-num-batched-tokens, --max-num-seqs and --max-prefill-tokens-while-decoding must be at least 1")
        }
        guard stepTimeTarget >= 0, stepTimeTarget.isFinite else {
            throw ValidationError("--step-time-target-ms must be 0 or more")
        }
    }

    var config: SchedulerConfig {
        SchedulerConfig(maxBatchedTokens: maxBatchedTokens, maxRunningRequests: maxRunningRequests,
                        maxPrefillTokensWhileDecoding: maxPrefillTokensWhileDecoding,
                        stepTimeTarget: stepTimeTarget > 0 ? stepTimeTarget / 1000 : nil)
    }

    /// The same options as a worker's command-line arguments (the step-time target only when given:
    /// under a topology the front end passes the topology's).
    var arguments: [String] {
        ["--max-num-batched-tokens", String(maxBatchedTokens), "--max-num-seqs", String(maxRunningRequests),
         "--max-prefill-tokens-while-decoding", String(maxPrefillTokensWhileDecoding)]
            + (stepTimeTargetMs.map { ["--step-time-target-ms", String($0)] } ?? [])
    }
}
