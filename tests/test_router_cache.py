"""The cache sits outside the router: a repeated request is a hit whichever deployment served."""

from __future__ import annotations

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI


def test_cache_hit_skips_routing(fake: FakeOpenAI) -> None:
    deployments = [{"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake.url, "api_key": f"sk-test-{i}-000000000"}}
        for i in range(2)]
    hits: list[bool] = []
    llmrelay.success_callback = [lambda kw, r, s, e: hits.append(kw["cache_hit"])]
    client = llmrelay.Client(cache=llmrelay.Cache(), success_callback=llmrelay.success_callback)
    router = llmrelay.Router(model_list=deployments, client=client)
    msgs = [{"role": "user", "content": "same question"}]
    for _ in range(4):
        r = router.completion(model="g", messages=msgs)
        assert r.choices[0].message.content == "Hello from fake"
    llmrelay.flush(5)
    assert fake.request_count == 1
    assert hits == [False, True, True, True]


def test_single_deployment_group_never_cools_down(fake: FakeOpenAI) -> None:
    from fakes.openai_server import Reply

    router = llmrelay.Router(model_list=[{"model_name": "solo", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake.url, "api_key": "sk-test-solo-00000000"}}],
        num_retries=0, allowed_fails=0, cooldown_time=60)
    msgs = [{"role": "user", "content": "hi"}]
    for _ in range(3):
        fake.enqueue(Reply.error(429, "upstream says slow down"))
        try:
            router.completion(model="solo", messages=msgs)
        except llmrelay.RateLimitError as exc:
            assert "upstream says slow down" in str(exc)  # the upstream's error, not ours
    assert router.completion(model="solo", messages=msgs).choices[0].message.content


def test_cache_hit_event_names_the_group_and_no_attempts(fake: FakeOpenAI) -> None:
    events: list[dict[str, object]] = []
    client = llmrelay.Client(cache=llmrelay.Cache(),
                             success_callback=[lambda kw, r, s, e: events.append(kw)])
    router = llmrelay.Router(model_list=[{"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake.url, "api_key": "sk-test-0000000000"}}],
        client=client)
    msgs = [{"role": "user", "content": "cached via a router"}]
    router.completion(model="g", messages=msgs)
    router.completion(model="g", messages=msgs)
    llmrelay.flush(5)
    miss, hit = events
    assert (miss["cache_hit"], hit["cache_hit"]) == (False, True)
    assert len(miss["attempts"]) == 1 and hit["attempts"] == []  # type: ignore[arg-type]
    for kw in (miss, hit):
        assert kw["litellm_params"]["metadata"]["model_group"] == "g"  # type: ignore[index]


async def test_cached_embeddings_are_priced_by_the_serving_deployment(fake: FakeOpenAI) -> None:
    from fakes.openai_server import Reply
    from llmrelay.cost import usage_cost

    fake.enqueue(Reply.error(500, "first deployment broke"))
    router = llmrelay.Router(model_list=[
        {"model_name": "e", "litellm_params": {"model": "openai/text-embedding-3-small",
                                               "api_base": fake.url, "api_key": "sk-test-a"},
         "model_info": {"id": "small"}, "weight": 1},
        {"model_name": "e", "litellm_params": {"model": "openai/text-embedding-3-large",
                                               "api_base": fake.url, "api_key": "sk-test-b"},
         "model_info": {"id": "large"}, "weight": 0}],
        client=llmrelay.Client(cache=llmrelay.Cache()), num_retries=1)
    # all items missing, then some: both times the failed-over deployment prices the call
    for inputs in (["one", "two"], ["two", "three"]):
        r = await router.aembedding(model="e", input=inputs)
        assert r._hidden_params["model_id"] == "large"
        assert r._hidden_params["response_cost"] == pytest.approx(
            usage_cost("text-embedding-3-large", "openai", r.usage))
        assert r._hidden_params["response_cost"] != pytest.approx(
            usage_cost("text-embedding-3-small", "openai", r.usage))
        fake.enqueue(Reply.error(500, "first deployment broke"))
    assert [req.body["input"] for req in fake.requests if req.body][-1] == ["three"]
