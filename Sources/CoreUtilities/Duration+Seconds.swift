extension Duration {
    /// The duration in seconds, for latency arithmetic and reports.
    ///
    /// ```swift
    /// let elapsed = (ContinuousClock.now - start).seconds   // 0.0123
    /// ```
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
