import Testing
@testable import Cluster

let capacity = InstanceCapacity(encodeTokensPerSecond: 10_000, prefillTokensPerSecond: 20_000, decodeTokensPerSecond: 2_000,
                                requestsPerSecond: 5, kvTransferSecondsPerToken: 1e-6, decodeStepSeconds: 0.02, decodeStepSecondsPerSequence: 0.0002)

@Test func stageAutoscalerSizesEachRoleByCeilLoadOverCapacity() {
    let scaler = StageAutoscaler(capacity: capacity)
    let need = scaler.requiredInstances(roles: [.encode, .mono], load: StageLoad(imageTokensPerSecond: 25_000, prefillTokensPerSecond: 20_000, decodeTokensPerSecond: 3_000))
    // Encode: ceil(2.5) = 3. Mono runs prefill and decode: ceil(1 + 1.5) = 3.
    #expect(need == [.encode: 3, .mono: 3])
    #expect(scaler.requiredInstances(roles: [.encode, .mono], load: StageLoad()) == [.encode: 1, .mono: 1])
}

@Test func stageAutoscalerLaunchesRetiresAndReactsToSLOMisses() {
    var scaler = StageAutoscaler(capacity: capacity, interval: 60, evaluationPeriod: 300)
    let cluster = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .encode, group: .multimodal), InstanceStatus(id: 1, role: .mono, group: .multimodal, queuedRequests: 3),
        InstanceStatus(id: 2, role: .mono, group: .multimodal), InstanceStatus(id: 3, role: .mono, group: .multimodal, queuedRequests: 1),
    ])
    let load = LoadObservation(window: 60, perGroup: [.multimodal: StageLoad(imageTokensPerSecond: 15_000, prefillTokensPerSecond: 10_000, decodeTokensPerSecond: 500)])
    let first = scaler.plan(cluster, load: load)
    #expect(first == [.launch(role: .encode, group: .multimodal), .retire(instance: 2), .retire(instance: 3)])
    // Between evaluations only the SLO trigger acts.
    #expect(scaler.plan(cluster, load: LoadObservation(window: 60, perGroup: load.perGroup, sloAttainment: 1)).isEmpty)
    #expect(scaler.plan(cluster, load: LoadObservation(window: 60, perGroup: load.perGroup, sloAttainment: 0.9)) == [.launch(role: .encode, group: .multimodal)])
}

@Test func burstToleranceAllocationMaximisesTheMinimum() {
    let split = BurstTolerancePlanner.allocate(total: 8, required: [.text: 1, .multimodal: 3])
    #expect(split == [.text: 2, .multimodal: 6])
    #expect(BurstTolerancePlanner.allocate(total: 1, required: [.text: 1, .multimodal: 3]).values.reduce(0, +) == 1)
}

@Test func burstTolerancePreemptsAcrossGroupsOnABurst() {
    var planner = BurstTolerancePlanner(capacity: capacity, proactivePeriod: 600, historyLength: 1)
    let cluster = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .mono, group: .text, queuedRequests: 1),
        InstanceStatus(id: 1, role: .mono, group: .text),
        InstanceStatus(id: 2, role: .mono, group: .text),
        InstanceStatus(id: 3, role: .mono, group: .multimodal, queuedRequests: 60),
    ])
    let load = LoadObservation(window: 5, perGroup: [.text: StageLoad(requestsPerSecond: 1, prefillTokensPerSecond: 2_000),
                                                     .multimodal: StageLoad(requestsPerSecond: 10, imageTokensPerSecond: 20_000)])
    // The first round is proactive: text needs 0.1 instances, multimodal 2 → 1 text, 3 multimodal.
    let proactive = planner.plan(cluster, load: load)
    #expect(proactive.count == 2 && proactive.allSatisfy { if case .moveGroup(_, .multimodal, _) = $0 { true } else { false } })
    // Later rounds react to the queue: one idle text instance moves.
    let reactive = planner.plan(cluster, load: load)
    #expect(reactive == [.moveGroup(instance: 1, to: .multimodal, role: .mono)])
}

@Test func elasticPartitionerUsesIdleInstancesThenTheGainCostTest() {
    var planner = ElasticPartitioner(capacity: capacity)
    let backlog = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .prefill, group: .multimodal, queuedRequests: 40, pendingPrefillTokens: 80_000),
        InstanceStatus(id: 1, role: .decode, group: .multimodal, runningDecodes: 10, predictedDecodeTokens: 1000, kvUsedTokens: 5000),
        InstanceStatus(id: 2, role: .decode, group: .multimodal),
    ])
    #expect(planner.plan(backlog, load: LoadObservation(window: 2, perGroup: [:])) == [.switchRole(instance: 2, to: .prefill)])
    // With no idle instance the lightly loaded decoder is preempted only when gain beats cost.
    #expect(planner.gainExceedsCost(queued: 40, queuedTokens: 80_000, prefillInstances: 1, decodeInstances: 2, running: 10, remainingTokens: 1000, migratedKV: 5000))
    #expect(!planner.gainExceedsCost(queued: 1, queuedTokens: 100, prefillInstances: 4, decodeInstances: 2, running: 400, remainingTokens: 40_000, migratedKV: 500_000))
}

@Test func roleSwitcherMovesToTheLongestQueueUnlessBalanced() {
    var switcher = RoleSwitcher()
    let skewed = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .encode, group: .multimodal, queuedRequests: 10),
        InstanceStatus(id: 1, role: .prefill, group: .multimodal, queuedRequests: 1),
        InstanceStatus(id: 2, role: .prefill, group: .multimodal),
        InstanceStatus(id: 3, role: .decode, group: .multimodal, queuedRequests: 4, runningDecodes: 4),
    ])
    #expect(switcher.plan(skewed, load: LoadObservation(window: 5, perGroup: [:])) == [.switchRole(instance: 2, to: .encode)])
    let balanced = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .encode, group: .multimodal, queuedRequests: 4),
        InstanceStatus(id: 1, role: .prefill, group: .multimodal, queuedRequests: 3),
        InstanceStatus(id: 2, role: .decode, group: .multimodal, queuedRequests: 5, runningDecodes: 2),
    ])
    #expect(switcher.plan(balanced, load: LoadObservation(window: 5, perGroup: [:])).isEmpty)
}

@Test func roleSwitcherWaitsOutItsCooldownAndNoise() {
    var switcher = RoleSwitcher(interval: 5, minimumQueue: 2, cooldownRounds: 2)
    let skewed = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .encode, group: .multimodal, queuedRequests: 10),
        InstanceStatus(id: 1, role: .prefill, group: .multimodal),
        InstanceStatus(id: 2, role: .prefill, group: .multimodal),
        InstanceStatus(id: 3, role: .decode, group: .multimodal),
    ])
    let load = LoadObservation(window: 5, perGroup: [:])
    #expect(switcher.plan(skewed, load: load).count == 1)
    #expect(switcher.plan(skewed, load: load).isEmpty)
    #expect(switcher.plan(skewed, load: load).isEmpty)
    #expect(switcher.plan(skewed, load: load).count == 1)
    // One waiting request is noise, not imbalance.
    var quiet = RoleSwitcher()
    var calm = skewed
    calm.instances[0].queuedRequests = 1
    #expect(quiet.plan(calm, load: load).isEmpty)
}

@Test func autoscalerTargetUtilisationDeratesCapacity() {
    let full = StageAutoscaler(capacity: capacity)
    let half = StageAutoscaler(capacity: capacity, targetUtilization: 0.5)
    let load = StageLoad(imageTokensPerSecond: 30_000)
    #expect(full.requiredInstances(roles: [.encode], load: load) == [.encode: 3])
    #expect(half.requiredInstances(roles: [.encode], load: load) == [.encode: 6])
}
