import Foundation

/// Mixed LMM + diffusion traffic for one `tessera bench images` run: image generations and text
/// (chat or completions) requests, each kind on its own arrival process, sent interleaved by time
/// to one server or topology, as a deployment serving both sees them. Each kind's latency is
/// reported on its own (``ImageBenchReport/textRequests``).
///
/// ```swift
/// let images = MixedTraffic.times(count: 8, schedule: ArrivalSchedule(rate: 0.5, burstiness: 1, seed: 1))
/// let text = MixedTraffic.times(count: 20, schedule: ArrivalSchedule(rate: 2, burstiness: 1, seed: 2))
/// let order = MixedTraffic.interleave(images: images, text: text)   // 28 arrivals, by time
/// ```
public enum MixedTraffic {
    /// Which request an arrival sends: the image request or the text request of that index.
    public enum Kind: Sendable, Hashable {
        case image(Int)
        case text(Int)
    }

    /// One request and the second (from the start of the run) it is sent at.
    public struct Arrival: Sendable, Hashable {
        public var time: Double
        public var kind: Kind

        public init(time: Double, kind: Kind) {
            self.time = time
            self.kind = kind
        }
    }

    /// `count` send times of `schedule`: the first at 0, each next one a gap later.
    public static func times(count: Int, schedule: ArrivalSchedule) -> [Double] {
        var schedule = schedule
        var time = 0.0
        return (0 ..< count).map { _ in
            defer { time += schedule.nextGap() }
            return time
        }
    }

    /// Both kinds' requests in send order; each kind keeps its own order, and at equal times an
    /// image goes first.
    public static func interleave(images: [Double], text: [Double]) -> [Arrival] {
        var merged: [Arrival] = []
        merged.reserveCapacity(images.count + text.count)
        var i = 0, t = 0
        while i < images.count || t < text.count {
            if t == text.count || (i < images.count && images[i] <= text[t]) {
                merged.append(Arrival(time: images[i], kind: .image(i)))
                i += 1
            } else {
                merged.append(Arrival(time: text[t], kind: .text(t)))
                t += 1
            }
        }
        return merged
    }

    /// What one request of a mixed run measured.
    public enum Outcome: Sendable {
        case image(ImageBenchOutcome)
        case text(BenchOutcome)
    }

    /// The run's report: the images' latencies and throughput, and with text requests among
    /// `outcomes` their TTFT, TPOT, ITL and end-to-end latencies, each over the whole run.
    public static func report(_ outcomes: [Outcome], duration: Double, objectives: GoodputObjectives? = nil) -> ImageBenchReport {
        var images: [ImageBenchOutcome] = [], text: [BenchOutcome] = []
        for outcome in outcomes {
            switch outcome {
            case let .image(o): images.append(o)
            case let .text(o): text.append(o)
            }
        }
        var report = ImageBenchReport(outcomes: images, duration: duration)
        if !text.isEmpty { report.textRequests = BenchReport(outcomes: text, duration: duration, objectives: objectives) }
        return report
    }
}
