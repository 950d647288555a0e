"""The cache sits outside the router: a repeated request is a hit whichever deployment served."""

from __future__ import annotations

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
