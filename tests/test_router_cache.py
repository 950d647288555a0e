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
