/// Rewrites the registry's text exposition into the two formats scrapers read, with the metric
/// names dashboards know:
///
/// - Prometheus text 0.0.4 (`text/plain`): every family has `# HELP`, every counter's name ends in `_total`.
/// - OpenMetrics 1.0 (`application/openmetrics-text`): counter families are named without `_total`
///   (their samples keep it), and the text ends with `# EOF`.
///
/// Families under `tessera:` that vLLM also exports are repeated under `vllm:` (and under the
/// older vLLM names its dashboards still query), so existing vLLM Grafana dashboards work.
///
/// ```swift
/// let text = MetricsExposition(registryText).render(.openMetrics)
/// ```
struct MetricsExposition {
    enum Format {
        case prometheus, openMetrics

        var contentType: String {
            switch self {
            case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
            case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }

        /// OpenMetrics when the `Accept` header asks for it, as Prometheus does when it prefers it.
        init(accept: String?) {
            self = accept?.contains("application/openmetrics-text") == true ? .openMetrics : .prometheus
        }
    }

    struct Family {
        /// The name without a counter's `_total`.
        var name: String
        var type: String
        var help: String?
        /// Sample lines, each `name{labels} value` with the name as the registry wrote it.
        var samples: [String]
    }

    private(set) var families: [Family] = []

    /// Tessera's names (after `tessera:`) → the vLLM names they are also exported under.
    static let vllmAliases: [String: [String]] = [
        "time_to_first_token_seconds": ["time_to_first_token_seconds"],
        "inter_token_latency_seconds": ["inter_token_latency_seconds", "time_per_output_token_seconds"],
        "e2e_request_latency_seconds": ["e2e_request_latency_seconds"],
        "request_queue_time_seconds": ["request_queue_time_seconds"],
        "request_prompt_tokens": ["request_prompt_tokens"],
        "request_generation_tokens": ["request_generation_tokens"],
        "request_success": ["request_success"],
        "num_requests_running": ["num_requests_running"],
        "num_requests_waiting": ["num_requests_waiting"],
        "kv_cache_usage_perc": ["kv_cache_usage_perc", "gpu_cache_usage_perc"],
        "prefix_cache_queries": ["prefix_cache_queries"],
        "prefix_cache_hits": ["prefix_cache_hits"],
        "num_preemptions": ["num_preemptions"],
        "prompt_tokens": ["prompt_tokens"],
        "generation_tokens": ["generation_tokens"],
    ]

    /// Help for the HTTP families Hummingbird's middleware registers without any.
    static let httpHelp: [String: String] = [
        "hb_requests": "HTTP requests received.",
        "hb_request_errors": "HTTP requests that ended in an error.",
        "http_server_request_duration": "Seconds to answer HTTP requests.",
        "http_server_active_requests": "HTTP requests being answered.",
    ]

    init(_ text: String) {
        var helps: [String: String] = [:]
        var current: Family?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                let name = String(rest.prefix { $0 != " " })
                helps[name] = String(rest.dropFirst(name.count + 1))
            } else if line.hasPrefix("# TYPE ") {
                if let current { families.append(current) }
                let parts = line.dropFirst(7).split(separator: " ")
                let raw = String(parts[0]), type = parts.count > 1 ? String(parts[1]) : "untyped"
                let name = type == "counter" && raw.hasSuffix("_total") ? String(raw.dropLast(6)) : raw
                current = Family(name: name, type: type, help: helps[raw] ?? Self.httpHelp[name], samples: [])
            } else if !line.hasPrefix("#") {
                current?.samples.append(String(line))
            }
        }
        if let current { families.append(current) }
        families += families.flatMap(Self.aliases)
    }

    private static func aliases(of family: Family) -> [Family] {
        guard family.name.hasPrefix("tessera:"), let names = vllmAliases[String(family.name.dropFirst(8))] else { return [] }
        return names.map { alias in
            var copy = family
            let from = family.name, to = "vllm:" + alias
            copy.name = to
            copy.samples = family.samples.map { to + $0.dropFirst(from.count) }
            return copy
        }
    }

    func render(_ format: Format) -> String {
        var out = ""
        for family in families {
            let isCounter = family.type == "counter"
            let declared = isCounter && format == .prometheus ? family.name + "_total" : family.name
            out += "# HELP \(declared) \(family.help ?? family.name)\n"
            out += "# TYPE \(declared) \(family.type)\n"
            for sample in family.samples {
                let sampleName = sample.prefix { $0 != "{" && $0 != " " }
                // Counter samples always carry `_total` (the registry writes some without it).
                if isCounter, sampleName == family.name {
                    out += family.name + "_total" + sample.dropFirst(sampleName.count) + "\n"
                } else {
                    out += sample + "\n"
                }
            }
        }
        if format == .openMetrics { out += "# EOF\n" }
        return out
    }
}
