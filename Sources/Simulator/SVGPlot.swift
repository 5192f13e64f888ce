import Foundation

/// Minimal SVG line charts for experiment results.
public enum SVGPlot {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]

        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]

    /// A line chart with axes, ticks and a legend.
    public static func lineChart(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
        let w = 640.0, h = 400.0, left = 70.0, right = 160.0, top = 40.0, bottom = 50.0
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        let x0 = xs.min() ?? 0, x1 = max(xs.max() ?? 1, x0 + 1e-9)
        let y1 = max(ys.max() ?? 1, 1e-9)
        let px = { (x: Double) in left + (x - x0) / (x1 - x0) * (w - left - right) }
        let py = { (y: Double) in h - bottom - min(y, y1) / y1 * (h - top - bottom) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        for k in 0...4 {
            let fx = x0 + (x1 - x0) * Double(k) / 4, fy = y1 * Double(k) / 4
            svg += "<text x=\"\(px(fx))\" y=\"\(h - bottom + 16)\" text-anchor=\"middle\">\(format(fx))</text>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(py(fy) + 4)\" text-anchor=\"end\">\(format(fy))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(py(fy))\" x2=\"\(w - right)\" y2=\"\(py(fy))\" stroke=\"#ddd\"/>\n"
        }
        svg += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg += "<text x=\"16\" y=\"\(h / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(h / 2))\">\(escape(yLabel))</text>\n"
        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            let path = s.points.filter { $0.y.isFinite }.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            svg += "<text x=\"\(w - right + 10)\" y=\"\(top + 18 * Double(k) + 10)\" fill=\"\(color)\">\(escape(s.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// TTFT P99 against offered rate, one line per system.
    public static func latencyVersusRate(_ report: ExperimentReport) -> String {
        let names = orderedSystems(report)
        let series = names.map { name in
            Series(name: name, points: report.runs.filter { $0.system == name }.map { ($0.offeredRate, $0.ttft.p99) })
        }
        return lineChart(title: "\(report.name): TTFT P99 vs rate", xLabel: "offered rate (req/s)", yLabel: "TTFT P99 (s)", series: series)
    }

    /// Active instances over time in each system's highest-rate run.
    public static func instancesOverTime(_ report: ExperimentReport) -> String {
        let series = orderedSystems(report).compactMap { name -> Series? in
            guard let run = report.runs.filter({ $0.system == name }).max(by: { $0.offeredRate < $1.offeredRate }) else { return nil }
            return Series(name: name, points: run.timeline.map { ($0.time / 60, Double($0.active)) })
        }
        return lineChart(title: "\(report.name): active instances", xLabel: "time (min)", yLabel: "instances", series: series)
    }

    static func orderedSystems(_ report: ExperimentReport) -> [String] {
        var seen: [String] = []
        for run in report.runs where !seen.contains(run.system) { seen.append(run.system) }
        return seen
    }

    static func format(_ v: Double) -> String {
        abs(v) >= 100 ? String(Int(v.rounded())) : String(format: "%.2g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
