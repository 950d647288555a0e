"""Router: load balancing, limits, retries, cooldowns, fallbacks and callbacks, against
several fake OpenAI upstreams."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI, Reply
from llmrelay.exceptions import (
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    RateLimitError,
)
from llmrelay.integrations.custom_logger import CustomLogger
from llmrelay.router import Router, RouterConfigError
from llmrelay.router.config import Deployment
from llmrelay.router.health import Health, cooldown_seconds
from llmrelay.router.strategies import simple_shuffle

MSG = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def servers() -> Iterator[list[FakeOpenAI]]:
    with FakeOpenAI() as a, FakeOpenAI() as b, FakeOpenAI() as c:
        yield [a, b, c]


@pytest.fixture
def up(servers: list[FakeOpenAI]) -> Iterator[list[FakeOpenAI]]:
    for s in servers:
        s.reset()
        s.default_delay = 0.0
        s.require_api_key = None
    yield servers
    for s in servers:
        s.reset()
        s.default_delay = 0.0
        s.require_api_key = None


def dep(group: str, srv: FakeOpenAI, model: str = "openai/gpt-4o-mini", **extra: Any
        ) -> dict[str, Any]:
    info = extra.pop("model_info", None)
    entry: dict[str, Any] = {"model_name": group, "litellm_params": {
        "model": model, "api_base": srv.url, "api_key": KEY, **extra}}
    if info is not None:
        entry["model_info"] = info
    return entry


def errors(n: int, status: int = 500, message: str = "upstream broke", **kw: Any) -> list[Reply]:
    return [Reply.error(status, message, **kw) for _ in range(n)]


class Recorder(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fallbacks: list[tuple[str, str, str, Any]] = []

    def log_success_event(self, kwargs: Any, response: Any, start: Any, end: Any) -> None:
        self.events.append(("success", kwargs))

    def log_failure_event(self, kwargs: Any, response: Any, start: Any, end: Any) -> None:
        self.events.append(("failure", kwargs))

    async def async_log_success_event(self, kwargs: Any, response: Any, start: Any,
                                      end: Any) -> None:
        self.events.append(("async_success", kwargs))

    async def async_log_failure_event(self, kwargs: Any, response: Any, start: Any,
                                      end: Any) -> None:
        self.events.append(("async_failure", kwargs))


class FallbackHooks(CustomLogger):
    """Overrides only the router hooks (so no CallLog exists for its sake)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, str, str]] = []

    async def log_success_fallback_event(self, original_model_group: str, kwargs: Any,
                                         original_exception: Exception) -> None:
        self.seen.append(("success", original_model_group, kwargs["model"],
                          type(original_exception).__name__))

    def log_failure_fallback_event(self, original_model_group: str,  # type: ignore[override]
                                   kwargs: Any, original_exception: Exception) -> None:
        self.seen.append(("failure", original_model_group, kwargs["model"],
                          type(original_exception).__name__))


# ---- configuration ------------------------------------------------------------------------
def test_os_environ_reference_is_resolved(up: list[FakeOpenAI],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_TEST_SECRET", "sk-from-env-9876543210")
    up[0].require_api_key = "sk-from-env-9876543210"
    router = Router([{"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": up[0].url,
        "api_key": "os.environ/ROUTER_TEST_SECRET"}}])
    assert router.completion("g", MSG).choices[0].message.content
    assert up[0].last is not None
    assert up[0].last.headers["authorization"] == "Bearer sk-from-env-9876543210"
    # the listing never exposes the resolved secret
    assert router.get_model_list()[0]["litellm_params"]["api_key"] == \
        "os.environ/ROUTER_TEST_SECRET"


def test_missing_env_var_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_TEST_MISSING", raising=False)
    with pytest.raises(RouterConfigError, match="ROUTER_TEST_MISSING"):
        Router([{"model_name": "g", "litellm_params": {
            "model": "openai/gpt-4o", "api_key": "os.environ/ROUTER_TEST_MISSING"}}])


def test_config_errors_are_clear() -> None:
    with pytest.raises(RouterConfigError, match="routing_strategy"):
        Router([{"model_name": "g", "litellm_params": {"model": "openai/x"}}],
               routing_strategy="fastest")
    with pytest.raises(RouterConfigError, match="'nope'"):
        Router([{"model_name": "g", "litellm_params": {"model": "openai/x"}}],
               fallbacks=[{"g": ["nope"]}])
    with pytest.raises(RouterConfigError, match=r"model_list\[0\]"):
        Router([{"model_name": "g", "litellm_params": {}}])


def test_unknown_group_lists_groups(up: list[FakeOpenAI]) -> None:
    router = Router([dep("alpha", up[0]), dep("beta", up[1])])
    with pytest.raises(BadRequestError, match=r"'gamma'.*alpha, beta"):
        router.completion("gamma", MSG)
    assert up[0].request_count == 0 and up[1].request_count == 0


def test_deployment_ids(up: list[FakeOpenAI]) -> None:
    entries = [dep("g", up[0], model_info={"id": "eu-1"}), dep("g", up[1])]
    one, two = Router(entries), Router(entries)
    ids = [d["model_info"]["id"] for d in one.get_model_list()]
    assert ids[0] == "eu-1"
    assert ids[1] == two.get_model_list()[1]["model_info"]["id"]  # stable hash
    assert ids[1] != Router([dep("g", up[2])]).get_model_list()[0]["model_info"]["id"]
    assert one.get_deployment("eu-1") is not None
    resp = Router([dep("g", up[0], model_info={"id": "eu-1"})]).completion("g", MSG)
    assert resp._hidden_params["model_id"] == "eu-1"


# ---- strategies ---------------------------------------------------------------------------
def test_weighted_shuffle_spreads_load(up: list[FakeOpenAI]) -> None:
    random.seed(1234)
    router = Router([dep("g", up[0], weight=3), dep("g", up[1], weight=1)])
    for _ in range(120):
        router.completion("g", MSG)
    share = up[0].request_count / 120
    assert up[0].request_count + up[1].request_count == 120
    assert 0.62 < share < 0.88, share


def test_shuffle_weights_fall_back_to_rpm_then_tpm() -> None:
    random.seed(99)
    spec = Router([{"model_name": "g", "litellm_params": {"model": "openai/x"}}]) \
        .groups["g"][0].spec

    def d(name: str, **kw: Any) -> Deployment:
        return Deployment(id=name, model_name="g", model="openai/x", spec=spec,
                          provider_model="x", params={}, model_info={}, **kw)

    health = Health()
    for cands, heavy in (([d("a", rpm=900), d("b", rpm=100)], "a"),
                         ([d("a", tpm=100), d("b", tpm=900)], "b"),
                         ([d("a", weight=1, rpm=900), d("b", weight=9, rpm=1)], "b")):
        picks = [simple_shuffle(cands, health).id for _ in range(2000)]
        assert 0.82 < picks.count(heavy) / 2000 < 0.97


async def test_least_busy_balances_concurrent_calls(up: list[FakeOpenAI]) -> None:
    for s in up[:2]:
        s.default_delay = 0.2
    router = Router([dep("g", up[0]), dep("g", up[1])], routing_strategy="least-busy")
    await asyncio.gather(*(router.acompletion("g", MSG) for _ in range(6)))
    assert (up[0].request_count, up[1].request_count) == (3, 3)


def test_least_busy_avoids_a_busy_deployment(up: list[FakeOpenAI]) -> None:
    router = Router([dep("g", up[0], model_info={"id": "a"}),
                     dep("g", up[1], model_info={"id": "b"})], routing_strategy="least-busy")
    busy = router.get_deployment("a")
    assert busy is not None
    router.health.started(busy)  # one request to "a" still in flight
    for _ in range(8):
        router.completion("g", MSG)
    assert up[0].request_count == 0 and up[1].request_count == 8
    assert router.deployment_stats("b")["in_flight"] == 0


def test_latency_based_prefers_the_faster(up: list[FakeOpenAI]) -> None:
    up[0].default_delay = 0.15
    router = Router([dep("g", up[0]), dep("g", up[1])],
                    routing_strategy="latency-based-routing")
    for _ in range(7):
        router.completion("g", MSG)
    # each is tried once, then the fast one takes everything
    assert (up[0].request_count, up[1].request_count) == (1, 6)


def test_usage_based_routing_and_tpm_limit(up: list[FakeOpenAI]) -> None:
    router = Router([dep("g", up[0]), dep("g", up[1])],
                    routing_strategy="usage-based-routing")
    for _ in range(6):
        router.completion("g", MSG)
    assert (up[0].request_count, up[1].request_count) == (3, 3)
    # the fake reports 15 tokens per call: a 20-token budget allows two calls a minute
    limited = Router([dep("t", up[2], tpm=20)], routing_strategy="usage-based-routing")
    limited.completion("t", MSG)
    limited.completion("t", MSG)
    with pytest.raises(RateLimitError, match="tpm limit 20"):
        limited.completion("t", MSG)
    assert up[2].request_count == 2


@pytest.mark.parametrize("strategy", ["usage-based-routing", "usage-based-routing-v2",
                                      "latency-based-routing"])
def test_rpm_limit_is_respected(up: list[FakeOpenAI], strategy: str) -> None:
    random.seed(7)
    router = Router([dep("g", up[0], weight=100, rpm=2), dep("g", up[1], weight=1)],
                    routing_strategy=strategy)
    for _ in range(10):
        router.completion("g", MSG)
    assert up[0].request_count <= 2  # the heavy weight stops at its rpm
    assert up[0].request_count + up[1].request_count == 10
    single = Router([dep("s", up[2], rpm=2)], routing_strategy=strategy)
    single.completion("s", MSG)
    single.completion("s", MSG)
    with pytest.raises(RateLimitError, match=r"no deployments available for model group 's'"
                                             r".*rpm limit 2"):
        single.completion("s", MSG)
    assert up[2].request_count == 2


@pytest.mark.parametrize("strategy", ["simple-shuffle", "least-busy"])
def test_rpm_and_tpm_only_weigh_the_pick_under_shuffle_and_least_busy(
        up: list[FakeOpenAI], strategy: str) -> None:
    """As in LiteLLM: under simple-shuffle (the default) and least-busy a deployment's
    rpm/tpm are weights, never a refusal; the provider's own 429 is what limits."""
    router = Router([dep("g", up[0], rpm=2, tpm=20)], routing_strategy=strategy)
    for _ in range(5):
        router.completion("g", MSG)
    assert up[0].request_count == 5
    random.seed(3)
    weighted = Router([dep("w", up[1], rpm=900), dep("w", up[2], rpm=100)])
    for _ in range(200):
        weighted.completion("w", MSG)
    assert 150 <= up[1].request_count <= 195  # about 9 in 10
    up[0].reset()  # the provider's own 429 is what limits then
    up[0].enqueue(*errors(1, 429, "slow down", type="rate_limit_error"))
    limited = Router([dep("x", up[0], rpm=1)], num_retries=0, routing_strategy=strategy)
    with pytest.raises(RateLimitError, match="slow down"):
        limited.completion("x", MSG)
    assert up[0].request_count == 1


def test_rpm_limit_holds_under_concurrent_threads(up: list[FakeOpenAI]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    up[0].default_delay = 0.05
    router = Router([dep("g", up[0], rpm=3)], num_retries=0,
                    routing_strategy="usage-based-routing-v2")

    def call(_: int) -> str:
        try:
            router.completion("g", MSG)
            return "ok"
        except RateLimitError:
            return "limited"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert (results.count("ok"), results.count("limited")) == (3, 5)
    assert up[0].request_count == 3


# ---- retries and fallbacks ----------------------------------------------------------------
def test_retries_sync(up: list[FakeOpenAI]) -> None:
    up[0].enqueue(*errors(2))
    router = Router([dep("g", up[0])], num_retries=2)
    assert router.completion("g", MSG).choices[0].message.content
    assert up[0].request_count == 3
    up[0].enqueue(*errors(1))
    with pytest.raises(InternalServerError):
        router.completion("g", MSG, num_retries=0)
    up[0].enqueue(*errors(3, 400, "bad field"))
    with pytest.raises(BadRequestError):
        router.completion("g", MSG)  # the caller's fault: never retried
    assert up[0].request_count == 5


async def test_the_prepared_call_serves_the_first_attempt_and_a_retry_is_rebuilt(
        up: list[FakeOpenAI]) -> None:
    # The first attempt goes out as Client.prepare built it; a retry on the same deployment
    # builds the call again from the arguments, so a hook that changed the first attempt's
    # parameters in place (kwargs["optional_params"] is the call's) does not carry over.
    seen: list[float] = []

    class Meddler(CustomLogger):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            seen.append(kwargs["optional_params"]["temperature"])
            kwargs["optional_params"]["temperature"] = 0.9

    up[0].enqueue(*errors(1))
    router = Router([dep("g", up[0], temperature=0.5)], num_retries=1, retry_after=0)
    await router.acompletion("g", MSG, max_tokens=7, callbacks=[Meddler()])
    first, second = (r.body for r in up[0].requests)
    assert first is not None and second is not None
    for body in (first, second):
        assert (body["temperature"], body["max_tokens"], body["messages"]) == (0.5, 7, MSG)
    assert seen == [0.5, 0.5]


def test_module_num_retries_zero_turns_router_retries_off(up: list[FakeOpenAI]) -> None:
    import llmrelay

    router = Router([dep("g", up[0])])  # no num_retries: the module setting decides
    up[0].enqueue(*errors(1))
    llmrelay.num_retries = 0
    with pytest.raises(InternalServerError):
        router.completion("g", MSG)
    assert up[0].request_count == 1
    llmrelay.num_retries = None  # unset again: the router's default of two retries
    up[0].enqueue(*errors(2))
    assert router.completion("g", MSG).choices[0].message.content
    assert up[0].request_count == 4


async def test_retries_async_move_to_another_deployment(up: list[FakeOpenAI]) -> None:
    random.seed(3)
    up[0].enqueue(*errors(1))
    router = Router([dep("g", up[0], weight=1000), dep("g", up[1], weight=1)],
                    num_retries=1, retry_after=0.01)
    resp = await router.acompletion("g", MSG)
    assert resp._hidden_params["api_base"] == up[1].url
    assert (up[0].request_count, up[1].request_count) == (1, 1)


async def test_timeout_moves_to_another_deployment(up: list[FakeOpenAI]) -> None:
    random.seed(5)
    up[0].default_delay = 1.0
    router = Router([dep("g", up[0], weight=1000), dep("g", up[1], weight=1)],
                    num_retries=1, timeout=0.2)
    resp = await router.acompletion("g", MSG)
    assert resp._hidden_params["api_base"] == up[1].url
    slow = router.groups["g"][0].id
    assert router.deployment_stats(slow)["latency_s"] >= 0.2  # a timeout counts as slow


def test_fallbacks_sync(up: list[FakeOpenAI]) -> None:
    up[0].enqueue(*errors(2))
    router = Router([dep("gpt-4o", up[0]), dep("claude", up[1], model="openai/gpt-4o")],
                    fallbacks=[{"gpt-4o": ["claude"]}], num_retries=1)
    resp = router.completion("gpt-4o", MSG)
    assert resp._hidden_params["model_group"] == "claude"
    assert up[1].last is not None and up[1].last.body is not None
    assert up[1].last.body["model"] == "gpt-4o"
    assert up[0].request_count == 2


async def test_fallbacks_async_and_default_fallbacks(up: list[FakeOpenAI]) -> None:
    up[0].enqueue(*errors(1, 503, "overloaded"))
    router = Router([dep("a", up[0]), dep("b", up[1]), dep("c", up[2])],
                    default_fallbacks=["c"], num_retries=0)
    resp = await router.acompletion("a", MSG)
    assert resp._hidden_params["model_group"] == "c"
    up[0].enqueue(*errors(1))
    up[2].enqueue(*errors(1))
    with pytest.raises(InternalServerError) as info:
        await router.acompletion("a", MSG)
    assert info.value.message == "upstream broke"  # the requested group's own error
    assert up[1].request_count == 0


def test_context_window_fallbacks_only_on_context_errors(up: list[FakeOpenAI]) -> None:
    router = Router([dep("small", up[0]), dep("big", up[1])],
                    context_window_fallbacks=[{"small": ["big"]}], num_retries=2)
    up[0].enqueue(Reply.error(400, "This model's maximum context length is 8192 tokens",
                              code="context_length_exceeded"))
    resp = router.completion("small", MSG)
    assert resp._hidden_params["model_group"] == "big"
    assert up[0].request_count == 1  # not retried: the request itself is too long
    up[0].enqueue(*errors(3))
    with pytest.raises(InternalServerError):
        router.completion("small", MSG)
    up[0].enqueue(Reply.error(400, "unknown parameter foo"))
    with pytest.raises(BadRequestError) as info:
        router.completion("small", MSG)
    assert not isinstance(info.value, ContextWindowExceededError)
    assert up[1].request_count == 1


def test_content_policy_fallbacks_and_per_call_fallbacks(up: list[FakeOpenAI]) -> None:
    router = Router([dep("strict", up[0]), dep("lenient", up[1]), dep("other", up[2])],
                    content_policy_fallbacks=[{"strict": ["lenient"]}],
                    fallbacks=[{"strict": ["other"]}], num_retries=0)
    up[0].enqueue(Reply.error(400, "flagged by our content_policy", code="content_policy"))
    assert router.completion("strict", MSG)._hidden_params["model_group"] == "lenient"
    up[0].enqueue(*errors(1))
    assert router.completion("strict", MSG)._hidden_params["model_group"] == "other"
    up[0].enqueue(*errors(1))
    resp = router.completion("strict", MSG, fallbacks=[{"strict": ["lenient"]}])
    assert resp._hidden_params["model_group"] == "lenient"
    assert up[0].last is not None and up[0].last.body is not None
    assert "fallbacks" not in up[0].last.body  # router options never reach the upstream


def test_generic_fallbacks_cover_bad_requests_and_context_errors(up: list[FakeOpenAI]) -> None:
    # as LiteLLM's router: another model may accept what this one rejected
    router = Router([dep("old", up[0]), dep("new", up[1])], fallbacks=[{"old": ["new"]}],
                    num_retries=2)
    up[0].enqueue(*errors(1, 400, "image input is not supported"))
    assert router.completion("old", MSG)._hidden_params["model_group"] == "new"
    up[0].enqueue(Reply.error(400, "This model's maximum context length is 8192 tokens",
                              code="context_length_exceeded"))
    assert router.completion("old", MSG)._hidden_params["model_group"] == "new"
    assert (up[0].request_count, up[1].request_count) == (2, 2)  # neither retried
    up[0].enqueue(Reply.error(400, "bad field"))
    up[1].enqueue(Reply.error(400, "bad field too"))
    with pytest.raises(BadRequestError, match="bad field"):
        router.completion("old", MSG)


def test_a_refusing_deployment_is_not_asked_again(up: list[FakeOpenAI]) -> None:
    random.seed(2)
    router = Router([dep("g", up[0], weight=1000, model_info={"id": "bad-key"}),
                     dep("g", up[1], weight=1, model_info={"id": "good"}),
                     dep("h", up[2])], fallbacks=[{"g": ["h"]}], num_retries=3)
    up[0].enqueue(*errors(4, 401, "invalid api key", type="invalid_request_error"))
    up[1].enqueue(*errors(4, 500))
    resp = router.completion("g", MSG)
    assert resp._hidden_params["model_group"] == "h"
    # four attempts in "g": one to the refusing deployment, the rest to the other
    assert (up[0].request_count, up[1].request_count, up[2].request_count) == (1, 3, 1)
    single = Router([dep("s", up[2])], num_retries=3)
    up[2].enqueue(*errors(4, 404, "model not found"))
    with pytest.raises(llmrelay.NotFoundError):
        single.completion("s", MSG)
    assert up[2].request_count == 2


# ---- cooldowns ----------------------------------------------------------------------------
def test_cooldown_after_allowed_fails_then_recovery(up: list[FakeOpenAI]) -> None:
    random.seed(5)
    router = Router([dep("g", up[0], weight=100000), dep("g", up[1], weight=1)],
                    allowed_fails=1, cooldown_time=0.3, num_retries=0)
    up[0].enqueue(*errors(2))
    for _ in range(2):
        with pytest.raises(InternalServerError):
            router.completion("g", MSG)
    assert list(router.cooldowns()) == [router.groups["g"][0].id]
    assert router.completion("g", MSG).choices[0].message.content  # served by the other
    assert (up[0].request_count, up[1].request_count) == (2, 1)
    time.sleep(0.35)
    assert router.completion("g", MSG).choices[0].message.content
    assert up[0].request_count == 3


def test_single_deployment_failures_keep_the_upstream_error(up: list[FakeOpenAI]) -> None:
    router = Router([dep("g", up[0])], allowed_fails=0, cooldown_time=30, num_retries=0)
    up[0].enqueue(*errors(3))
    for _ in range(3):
        with pytest.raises(InternalServerError, match="upstream broke"):
            router.completion("g", MSG)
    assert router.cooldowns() == {}


def test_rate_limited_deployment_cools_down_at_once(up: list[FakeOpenAI]) -> None:
    random.seed(11)
    router = Router([dep("g", up[0], weight=1000), dep("g", up[1], weight=1)],
                    num_retries=1, cooldown_time=30)
    up[0].enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    for _ in range(6):
        router.completion("g", MSG)
    assert (up[0].request_count, up[1].request_count) == (1, 6)


async def test_all_deployments_cooling_gives_a_clear_error(up: list[FakeOpenAI]) -> None:
    router = Router([dep("g", up[0]), dep("g", up[1])], num_retries=1, cooldown_time=30)
    for s in up[:2]:
        s.enqueue(Reply.error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(RateLimitError, match="slow down"):
        await router.acompletion("g", MSG)
    with pytest.raises(RateLimitError) as info:
        await router.acompletion("g", MSG)
    text = str(info.value)
    assert "no deployments available for model group 'g': 2 cooling down (until" in text
    assert text.count("RateLimitError: slow down") == 2
    assert int(info.value.response_headers["retry-after"]) > 1
    assert up[0].request_count + up[1].request_count == 2


def test_cooldown_rule() -> None:
    from llmrelay.exceptions import AuthenticationError, ContentPolicyViolationError, Timeout

    assert cooldown_seconds(AuthenticationError("no"), 1, 3, 5.0) == 5.0
    assert cooldown_seconds(RateLimitError("no", response_headers={"retry-after": "12"}),
                            1, 3, 5.0) == 12.0
    assert cooldown_seconds(ContentPolicyViolationError("no"), 9, 0, 5.0) is None
    assert cooldown_seconds(Timeout("slow"), 3, 3, 5.0) is None
    assert cooldown_seconds(Timeout("slow"), 4, 3, 5.0) == 5.0


# ---- callbacks ----------------------------------------------------------------------------
def test_one_terminal_event_with_attempts(up: list[FakeOpenAI]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    up[0].enqueue(*errors(1))
    router = Router([dep("g", up[0], model_info={"id": "first"}),
                     dep("h", up[1], model_info={"id": "second"})],
                    fallbacks=[{"g": ["h"]}], num_retries=0)
    router.completion("g", MSG, metadata={"user_tag": "x"})
    llmrelay.flush(5)
    assert [e[0] for e in rec.events] == ["success"]
    kw = rec.events[0][1]
    assert [(a["model_id"], a["error"] is None) for a in kw["attempts"]] == \
        [("first", False), ("second", True)]
    assert "upstream broke" in kw["attempts"][0]["error"]
    assert kw["attempts"][0]["api_base"] == up[0].url
    assert all(a["duration_s"] >= 0 for a in kw["attempts"])
    md = kw["litellm_params"]["metadata"]
    assert (md["model_group"], md["model_id"], md["deployment"], md["user_tag"]) == \
        ("h", "second", "openai/gpt-4o-mini", "x")
    assert md["original_model_group"] == "g"
    assert kw["litellm_params"]["api_base"].startswith(up[1].url)
    assert kw["standard_logging_object"]["model_group"] == "h"
    assert len(kw["standard_logging_object"]["attempts"]) == 2


async def test_one_failure_event_for_a_failed_router_call(up: list[FakeOpenAI]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    up[0].enqueue(*errors(3))
    router = Router([dep("g", up[0])], num_retries=2)
    with pytest.raises(InternalServerError):
        await router.acompletion("g", MSG)
    await llmrelay.aflush(5)
    assert [e[0] for e in rec.events] == ["async_failure"]
    kw = rec.events[0][1]
    assert len(kw["attempts"]) == 3 and all(a["error"] for a in kw["attempts"])
    assert isinstance(kw["exception"], InternalServerError)


def test_failure_event_when_no_deployment_is_available(up: list[FakeOpenAI]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    router = Router([dep("g", up[0], rpm=1)], routing_strategy="usage-based-routing-v2")
    router.completion("g", MSG)
    with pytest.raises(RateLimitError):
        router.completion("g", MSG)
    llmrelay.flush(5)
    assert [e[0] for e in rec.events] == ["success", "failure"]
    kw = rec.events[1][1]
    assert kw["attempts"] == []
    assert kw["litellm_params"]["metadata"]["model_group"] == "g"


def test_fallback_hooks_fire(up: list[FakeOpenAI]) -> None:
    hooks = FallbackHooks()
    llmrelay.callbacks = [hooks]
    up[0].enqueue(*errors(1))
    up[1].enqueue(*errors(1))
    router = Router([dep("g", up[0]), dep("h1", up[1]), dep("h2", up[2])],
                    fallbacks=[{"g": ["h1", "h2"]}], num_retries=0)
    router.completion("g", MSG)
    llmrelay.flush(5)
    assert hooks.seen == [("failure", "g", "h1", "InternalServerError"),
                          ("success", "g", "h2", "InternalServerError")]


async def test_fallback_hooks_async_per_call_callbacks(up: list[FakeOpenAI]) -> None:
    hooks = FallbackHooks()
    up[0].enqueue(*errors(1))
    router = Router([dep("g", up[0]), dep("h", up[1])], fallbacks=[{"g": ["h"]}],
                    num_retries=0)
    await router.acompletion("g", MSG, callbacks=[hooks])
    await llmrelay.aflush(5)
    assert hooks.seen == [("success", "g", "h", "InternalServerError")]


# ---- other call types ---------------------------------------------------------------------
def test_stream_embedding_and_text_completion(up: list[FakeOpenAI]) -> None:
    rec = Recorder()
    llmrelay.callbacks = [rec]
    up[0].enqueue(*errors(1))
    router = Router([dep("g", up[0]), dep("h", up[1]),
                     dep("e", up[2], model="openai/text-embedding-3-small"),
                     dep("t", up[2], model="text-completion-openai/gpt-3.5-turbo-instruct")],
                    fallbacks=[{"g": ["h"]}], num_retries=0)
    text = "".join(c.choices[0].delta.content or "" for c in
                   router.completion("g", MSG, stream=True))
    assert text == "Hello from fake"
    h_id = router.groups["h"][0].id
    assert router.deployment_stats(h_id)["in_flight"] == 0
    emb = router.embedding("e", input=["a", "b"])
    assert len(emb.data) == 2
    assert router.text_completion("t", prompt="say hi").choices[0].text
    llmrelay.flush(5)
    assert [e[0] for e in rec.events] == ["success"] * 3
    assert [a["model_group"] for a in rec.events[0][1]["attempts"]] == ["g", "h"]


def test_deployment_defaults_and_mock_response(up: list[FakeOpenAI]) -> None:
    router = Router([dep("g", up[0], temperature=0.25, max_tokens=7),
                     {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o",
                                                            "mock_response": "mocked!"}}])
    router.completion("g", MSG, max_tokens=3)
    assert up[0].last is not None and up[0].last.body is not None
    assert (up[0].last.body["temperature"], up[0].last.body["max_tokens"]) == (0.25, 3)
    assert router.completion("m", MSG).choices[0].message.content == "mocked!"
