"""Usage telemetry through the official client, and /metrics read by Prometheus' own text parser."""
import urllib.error
import urllib.request
import uuid

import pytest
from postgrest.exceptions import APIError
from prometheus_client.parser import text_string_to_metric_families

from conftest import _client

PASSWORD = "correct horse battery staple"


def _signed_in(server):
    client = _client(server["url"], server["anon_key"])
    email = f"tele-{uuid.uuid4().hex[:10]}@example.com"
    client.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"username": f"tele_{uuid.uuid4().hex[:8]}"}}})
    return client


def _scrape(server, token):
    request = urllib.request.Request(f"http://127.0.0.1:{server['port']}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def test_usage_events_and_client_metrics(server, anon):
    client = _signed_in(server)
    client.rpc("log_usage_event_v2", {"p_event": "feed.view", "p_props": {"tab": "home"}}).execute()
    stored = client.rpc("log_usage_events", {"p_events": [{"event": "post.open"}, {"event": "post.like", "props": {"n": 1}}]}).execute()
    assert stored.data == 2
    own = client.table("usage_events").select("event").execute().data
    assert sorted(row["event"] for row in own) == ["feed.view", "post.like", "post.open"]
    with pytest.raises(APIError) as refused:
        client.rpc("log_usage_event_v2", {"p_event": "Not A Name"}).execute()
    assert refused.value.code == "22023"
    with pytest.raises(APIError) as anonymous:
        anon.rpc("log_usage_event_v2", {"p_event": "page.view"}).execute()
    assert anonymous.value.code == "42501"
    assert client.rpc("track_metrics", {"p_metrics": [{"name": "feed_render", "value": 42.0, "unit": "ms"}]}).execute().data == 1


def test_metrics_parse_as_prometheus_text(server, anon):
    _signed_in(server).rpc("track_metrics", {"p_metrics": [{"name": "page_load", "value": 850, "unit": "ms"}]}).execute()
    anon.rpc("feed_fusion_profile", {"p_profile_id": str(uuid.uuid4())}).execute()
    with pytest.raises(urllib.error.HTTPError) as unauthenticated:
        _scrape(server, None)
    assert unauthenticated.value.code == 401
    families = {family.name: family for family in text_string_to_metric_families(_scrape(server, server["metrics_token"]))}
    for name in ["feedfusion_http_requests", "feedfusion_http_request_duration_seconds", "feedfusion_db_pool_connections",
                 "feedfusion_cache_requests", "feedfusion_telemetry_queue_depth", "process_open_fds", "feedfusion_client_metric"]:
        assert name in families, name
    assert families["feedfusion_http_request_duration_seconds"].type == "histogram"
    page_load = [s for s in families["feedfusion_client_metric"].samples
                 if s.name == "feedfusion_client_metric_count" and s.labels.get("name") == "page_load"]
    assert page_load and page_load[0].value >= 1
    requests = [s for s in families["feedfusion_http_requests"].samples if s.labels.get("route") == "/rest/v1/rpc/{function}"]
    assert sum(s.value for s in requests) >= 2
