import Engine

extension ClusterFrontEnd {
    public func checkAdmission() throws(EngineError) {
        try shared.withLock { (s: inout State) throws(EngineError) in
            guard s.engineState == .ready else { throw .shuttingDown }
            guard s.queuedRequests < options.maxQueuedRequests, s.queuedTokens < options.maxQueuedTokens else {
                throw .overloaded(retryAfterSeconds: 1)
            }
        }
    }
}
