import Foundation
import Testing

@testable import Bench

@Suite struct MixedTrafficTests {
    @Test func eachKindKeepsItsOwnArrivalsAndTheyInterleaveByTime() {
        let images = MixedTraffic.times(count: 300, schedule: ArrivalSchedule(rate: 0.5, burstiness: 1, seed: 4))
        let text = MixedTraffic.times(count: 1200, schedule: ArrivalSchedule(rate: 2, burstiness: 1, seed: 5))
        #expect(images.first == 0 && text.first == 0)
        // Each process has its own rate: 2 s and 0.5 s mean gaps.
        #expect(abs(images.last! / 299 - 2) < 0.25 && abs(text.last! / 1199 - 0.5) < 0.04)
        let order = MixedTraffic.interleave(images: images, text: text)
        #expect(order.count == 1500 && zip(order, order.dropFirst()).allSatisfy { $0.time <= $1.time })
        // Every request once, each kind in its own order, at its own time.
        var nextImage = 0, nextText = 0
        for arrival in order {
            switch arrival.kind {
            case let .image(i):
                #expect(i == nextImage && arrival.time == images[i])
                nextImage += 1
            case let .text(t):
                #expect(t == nextText && arrival.time == text[t])
                nextText += 1
            }
        }
        #expect(nextImage == 300 && nextText == 1200)
        // The two kinds really interleave: text requests arrive between images.
        let kinds = order.map { if case .image = $0.kind { true } else { false } }
        #expect(zip(kinds, kinds.dropFirst()).filter { $0 != $1 }.count > 100)
        // Ties send the image first; everything at once keeps each kind's order.
        #expect(MixedTraffic.interleave(images: [0, 1], text: [1]).map(\.kind) == [.image(0), .image(1), .text(0)])
        let burst = MixedTraffic.times(count: 3, schedule: ArrivalSchedule(rate: .infinity, burstiness: 1, seed: 0))
        #expect(burst == [0, 0, 0] && MixedTraffic.interleave(images: [], text: burst).map(\.kind) == [.text(0), .text(1), .text(2)])
    }

    @Test func theSchedulesTimesAreTheOnesTheRunnerWouldSend() {
        var schedule = ArrivalSchedule(rate: 3, burstiness: 0.7, seed: 9)
        var expected = [0.0]
        for _ in 1 ..< 20 { expected.append(expected.last! + schedule.nextGap()) }
        #expect(MixedTraffic.times(count: 20, schedule: ArrivalSchedule(rate: 3, burstiness: 0.7, seed: 9)) == expected)
    }

    @Test func eachKindIsReportedOnItsOwn() throws {
        let image = { (latency: Double, ok: Bool) in
            MixedTraffic.Outcome.image(ImageBenchOutcome(success: ok, error: ok ? nil : "HTTP 503", latency: latency, images: ok ? 2 : 0))
        }
        let text = { (ttft: Double, latency: Double) in
            MixedTraffic.Outcome.text(BenchOutcome(success: true, promptTokens: 8, outputTokens: 5, ttft: ttft, itl: [0.1, 0.1, 0.1, 0.1], latency: latency))
        }
        let outcomes = [image(4, true), text(0.2, 0.6), image(2, true), text(0.4, 0.8), image(9, false), text(0.3, 0.7)]
        let report = MixedTraffic.report(outcomes, duration: 10)
        // Images: two done (four images), one failed; their latencies alone.
        #expect(report.completed == 2 && report.failed == 1 && report.images == 4 && report.imageThroughput == 0.4)
        #expect(report.latencyMilliseconds.mean == 3000 && report.latencyMilliseconds.median == 3000)
        // Text: three done; TTFT, TPOT and end-to-end of theirs alone, over the same run.
        let t = try #require(report.textRequests)
        #expect(t.completed == 3 && t.failed == 0 && t.totalOutputTokens == 15 && abs(t.requestThroughput - 0.3) < 1e-12)
        #expect(abs(t.ttft.mean - 300) < 1e-9 && abs(t.e2el.median - 700) < 1e-9 && abs(t.tpot.mean - 100) < 1e-9)
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any])
        #expect((json["latency_ms"] as? [String: Any])?["mean"] as? Double == 3000)
        #expect(((json["text"] as? [String: Any])?["ttft_ms"] as? [String: Any])?["mean"] as? Double != nil)
        #expect(report.text.contains("Text requests") && report.text.contains("Median TTFT (ms):"))
        // Images alone: no text member, and the printout as before.
        let alone = MixedTraffic.report([image(1, true)], duration: 1)
        #expect(alone.textRequests == nil && !alone.text.contains("Text requests"))
        #expect((try JSONSerialization.jsonObject(with: JSONEncoder().encode(alone)) as? [String: Any])?["text"] == nil)
    }
}
