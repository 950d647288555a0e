"""The Prometheus logger, checked by scraping the registry after real calls."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import finish, start_python
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.caching import Cache
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.integrations.prometheus import REGISTRY, PrometheusLogger, metrics_text
from llmrelay.integrations.registry import IntegrationError, get_integration
from llmrelay.proxy.metrics import Metrics as ProxyMetrics
from llmrelay.router import Router

SECRET = "the secret prompt 0192"
MSGS = [{"role": "user", "content": SECRET}]


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _team() -> dict[str, str]:
    """Unique key labels per test, so counts start from zero in a shared registry."""
    tag = uuid.uuid4().hex[:8]
    return {"key_alias": f"alias-{tag}", "team": f"team-{tag}"}


def _md(lab: dict[str, str]) -> dict[str, str]:
    return {"user_api_key_alias": lab["key_alias"], "user_api_key_team_id": lab["team"]}


def test_success_tokens_spend_latency(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    lab = _team()
    base = {"model": "gpt-4o-mini", "provider": "openai", **lab}
    llmrelay.callbacks = [PrometheusLogger()]
    rs = [llmrelay.completion(model="gpt-4o-mini", messages=MSGS, metadata=_md(lab),
                              **openai_args) for _ in range(2)]
    assert llmrelay.flush(5)
    assert _value("llmrelay_llm_requests_total", **base, status="success") == 2
    assert _value("llmrelay_llm_requests_total", **base, status="failure") == 0
    assert _value("llmrelay_llm_tokens_total", **base, type="input") == sum(
        r.usage.prompt_tokens for r in rs)
    assert _value("llmrelay_llm_tokens_total", **base, type="output") == sum(
        r.usage.completion_tokens for r in rs)
    spend = sum(r._hidden_params["response_cost"] for r in rs)
    assert spend > 0
    assert _value("llmrelay_llm_spend_usd_total", **base) == pytest.approx(spend)
    assert _value("llmrelay_llm_request_latency_seconds_count", **base) == 2
    assert _value("llmrelay_llm_time_to_first_token_seconds_count", **base) == 0  # not streamed
    assert _value("llmrelay_llm_in_flight_requests", model="gpt-4o-mini", provider="openai") == 0


def test_failures_by_error_type(fake: FakeOpenAI, openai_args: dict[str, str]) -> None:
    lab = _team()
    base = {"model": "gpt-4o-mini", "provider": "openai", **lab}
    llmrelay.callbacks = [PrometheusLogger()]
    fake.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, metadata=_md(lab),
                            **openai_args)
    assert llmrelay.flush(5)
    assert _value("llmrelay_llm_requests_total", **base, status="failure") == 1
    assert _value("llmrelay_llm_request_failures_total", **base, error_type="RateLimitError") == 1
    assert _value("llmrelay_llm_request_latency_seconds_count", **base) == 1
    assert _value("llmrelay_llm_in_flight_requests", model="gpt-4o-mini", provider="openai") == 0


async def test_streams_record_time_to_first_token(fake: FakeOpenAI,
                                                  openai_args: dict[str, str]) -> None:
    lab = _team()
    base = {"model": "gpt-4o-mini", "provider": "openai", **lab}
    llmrelay.callbacks = [PrometheusLogger()]
    stream = await llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS, stream=True,
                                        stream_options={"include_usage": True},
                                        metadata=_md(lab), **openai_args)
    async for _ in stream:
        pass
    assert await llmrelay.aflush(5)
    assert _value("llmrelay_llm_time_to_first_token_seconds_count", **base) == 1
    assert _value("llmrelay_llm_requests_total", **base, status="success") == 1
    assert _value("llmrelay_llm_tokens_total", **base, type="output") > 0


def test_in_flight_counts_calls_between_request_and_outcome() -> None:
    seen: list[float] = []

    class Probe(CustomLogger):  # runs in-band right after the Prometheus pre-call hook
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            seen.append(_value("llmrelay_llm_in_flight_requests", model="gpt-4o-mini",
                               provider="openai"))

    before = _value("llmrelay_llm_in_flight_requests", model="gpt-4o-mini", provider="openai")
    llmrelay.callbacks = [PrometheusLogger(), Probe()]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    assert seen == [before + 1]
    after = _value("llmrelay_llm_in_flight_requests", model="gpt-4o-mini", provider="openai")
    assert after == before


def _in_flight_total() -> float:
    return sum(s.value for fam in REGISTRY.collect() for s in fam.samples
               if s.name == "llmrelay_llm_in_flight_requests")


def test_router_retries_stay_one_call_in_flight(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply.error(500, "upstream broke"), Reply.error(500, "again"))
    router = Router([{"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": fake.url, "api_key": "sk-test-0123"}}],
        num_retries=2, retry_after=0.01)
    before = _in_flight_total()
    llmrelay.callbacks = [PrometheusLogger()]
    router.completion("g", MSGS)
    assert llmrelay.flush(5)
    assert fake.request_count == 3  # three requests, each announced in-band
    assert _in_flight_total() == before


def test_cache_hits_are_counted_without_tokens() -> None:
    lab = _team()
    base = {"model": "gpt-4o-mini", "provider": "openai", **lab}
    llmrelay.cache = Cache()
    llmrelay.callbacks = [PrometheusLogger()]
    rs = [llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="cached",
                              metadata=_md(lab)) for _ in range(2)]
    assert llmrelay.flush(5)
    assert [bool(r._hidden_params.get("cache_hit")) for r in rs] == [False, True]
    assert _value("llmrelay_llm_requests_total", **base, status="success") == 2
    assert _value("llmrelay_llm_cache_hits_total", **base) == 1
    assert _value("llmrelay_llm_tokens_total", **base, type="input") == rs[0].usage.prompt_tokens


def test_names_never_clash_with_the_proxy_metrics() -> None:
    llmrelay.callbacks = [PrometheusLogger()]
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    proxy = ProxyMetrics()
    proxy.observe("/v1/chat/completions", "gpt-4o-mini", 200, 3, 4, 0.1, 0.2)
    ours = {f.name for f in text_string_to_metric_families(metrics_text()[0].decode())
            if f.name.startswith("llmrelay")}
    theirs = {f.name for f in text_string_to_metric_families(proxy.render())}
    assert "llmrelay_llm_requests" in ours and "llmrelay_requests" in theirs
    assert ours.isdisjoint(theirs)


def test_label_cardinality_is_bounded() -> None:
    tag = uuid.uuid4().hex[:8]
    teams = [f"cap-{tag}-{i}" for i in range(4)]
    llmrelay.callbacks = [PrometheusLogger(max_label_values=2)]
    for team in teams:
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok",
                            metadata={"user_api_key_team_id": team})
    assert llmrelay.flush(5)
    # "" (no alias) and the model/provider use one slot each; teams get the first two slots.
    base = {"model": "gpt-4o-mini", "provider": "openai", "key_alias": ""}
    counts = [_value("llmrelay_llm_requests_total", **base, team=t, status="success")
              for t in teams]
    assert counts == [1, 1, 0, 0]
    text = generate_latest(REGISTRY).decode()
    assert teams[2] not in text and teams[3] not in text
    assert _value("llmrelay_llm_label_overflow_total", label="team") >= 2


def test_redaction_holds_and_no_content_reaches_metrics() -> None:
    llmrelay.callbacks = [PrometheusLogger()]
    llmrelay.turn_off_message_logging = True
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="answer 3310")
    llmrelay.turn_off_message_logging = False
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="answer 3310")
    assert llmrelay.flush(5)
    body, content_type = metrics_text()
    assert content_type.startswith("text/plain")
    assert SECRET.encode() not in body and b"answer 3310" not in body
    assert b"llmrelay_llm_requests_total" in body


def test_by_name(builtin: Callable[..., None]) -> None:
    builtin("prometheus")
    lab = _team()
    llmrelay.callbacks = ["prometheus"]
    assert isinstance(get_integration("prometheus"), PrometheusLogger)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok",
                        metadata=_md(lab))
    assert llmrelay.flush(5)
    assert _value("llmrelay_llm_requests_total", model="gpt-4o-mini", provider="openai",
                  status="success", **lab) == 1


def test_multiprocess_mode_aggregates_workers(tmp_path: Path) -> None:
    code = """
        import llmrelay
        llmrelay.callbacks = [__import__("llmrelay.integrations.prometheus",
                                         fromlist=["x"]).PrometheusLogger()]
        for _ in range(3):
            llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user",
                                "content": "hi"}], mock_response="ok",
                                metadata={"user_api_key_team_id": "mp"})
        assert llmrelay.flush(10)
    """
    procs = [start_python(code, PROMETHEUS_MULTIPROC_DIR=str(tmp_path)) for _ in range(2)]
    for p in procs:
        finish(p)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(generate_latest(registry).decode())
               for s in fam.samples}
    key = ("llmrelay_llm_requests_total", tuple(sorted({
        "model": "gpt-4o-mini", "provider": "openai", "key_alias": "", "team": "mp",
        "status": "success"}.items())))
    assert samples[key] == 6


def test_warns_when_multiprocess_mode_is_set_too_late(tmp_path: Path) -> None:
    code = f"""
        import os, prometheus_client
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
        from llmrelay.integrations.prometheus import PrometheusLogger
        PrometheusLogger()
    """
    proc = start_python(code)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "imported before it was" in err


def test_missing_dependency_names_the_extra(builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("prometheus")
    monkeypatch.delitem(sys.modules, "llmrelay.integrations.prometheus")
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(IntegrationError, match=r"pip install 'llmrelay\[prometheus\]'"):
        llmrelay.callbacks = ["prometheus"]
