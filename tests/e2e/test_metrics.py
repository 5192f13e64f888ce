"""/metrics parses as Prometheus text and as OpenMetrics (content negotiation), every counter has
_total and help, and vLLM's metric names are there for existing dashboards."""
import requests
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client import parser as prometheus_parser


def _generate(client, model):
    client.completions.create(model=model, prompt="Hello", max_tokens=4, temperature=0)


def test_prometheus_text(base_url, client, model):
    _generate(client, model)
    response = requests.get(base_url + "/metrics", timeout=10)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in prometheus_parser.text_string_to_metric_families(response.text)}
    for line in response.text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            name = line.split()[2]
            assert name.endswith("_total"), line
            assert f"# HELP {name} " in response.text
    for name in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:num_requests_running",
                 "vllm:kv_cache_usage_perc", "vllm:prefix_cache_hits", "vllm:generation_tokens", "vllm:request_success",
                 "tessera:time_to_first_token_seconds", "tessera:image_encode_seconds"):
        assert name in families, name
    tokens = families["vllm:generation_tokens"].samples[0].value
    assert tokens >= 4 and tokens == families["tessera:generation_tokens"].samples[0].value


def test_openmetrics(base_url, client, model):
    _generate(client, model)
    response = requests.get(base_url + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=10)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_parser.text_string_to_metric_families(response.text)}
    assert families["vllm:prefix_cache_queries"].type == "counter"
    assert families["vllm:time_to_first_token_seconds"].type == "histogram"
    assert all(f.documentation for f in families.values())
