import ServingAPI

extension ClusterFrontEnd {
    public var queueCapacity: QueueCapacity { QueueCapacity(requests: options.maxQueuedRequests, tokens: options.maxQueuedTokens) }

    public func checkAdmission() throws(EngineError) {
        try shared.withLock { (s: inout State) throws(EngineError) in try checkQueues(s, cost: 1) }
    }

    /// Refuses a request of `cost` prompt tokens when the front end is stopping or its queues are full.
    func checkQueues(_ s: State, cost: Int) throws(EngineError) {
        guard s.engineState == .ready else { throw .shuttingDown }
        guard s.queuedRequests < options.maxQueuedRequests, s.queuedTokens + cost <= options.maxQueuedTokens else {
            throw .overloaded(retryAfterSeconds: 1)
        }
    }
}
