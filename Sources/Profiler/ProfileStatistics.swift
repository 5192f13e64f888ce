import Dispatch

enum ProfileStatistics {
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Median wall time of `runs` calls of `body`, in milliseconds, after one untimed warm-up call.
    static func medianMilliseconds(runs: Int, _ body: () throws(ProfileError) -> Void) throws(ProfileError) -> Double {
        try body()
        var times: [Double] = []
        for _ in 0 ..< runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return median(times)
    }
}
