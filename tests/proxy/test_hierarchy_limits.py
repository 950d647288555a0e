"""A request is admitted only when every level above its key allows it: the user, the
team, the team's organisation, the end user (``user``) and the request's tags, each with
``max_budget`` (reserved at admission), rpm, parallel and ``models`` (access groups
included), ``blocked``, a shared budget's limits; refusals name the level. Levels hold
across processes (two apps on one database and one Redis) and changes reach the other
process within a second. Then tag routing (``enable_tag_filtering``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_support import InProcess, in_process
from keystore_support import drop_schema, eventually, new_schema, pg_url, redis_url, with_schema

HI = [{"role": "user", "content": "hi"}]
PRICED = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}


def models(**extra_info: Any) -> list[dict[str, Any]]:
    out = []
    for name in ("alpha", "beta"):
        info = {"id": f"dep-{name}", **PRICED, **extra_info.get(name, {})}
        out.append({"model_name": name, "litellm_params": {
            "model": "mock/mock", "mock_response": "ok"}, "model_info": info})
    return out


async def admin(p: InProcess, path: str, body: Any, method: str = "POST") -> Any:
    r = await p.http.request(method, path, json=body, headers=p.headers())
    assert r.status_code == 200, (path, r.text)
    return r.json()


async def chat(p: InProcess, key: str | None, model: str = "alpha", **extra: Any) -> Any:
    headers = p.headers(key)
    headers.update(extra.pop("headers", {}))
    return await p.http.post("/v1/chat/completions", json={
        "model": model, "messages": HI, "max_tokens": 5, **extra}, headers=headers)


@pytest.fixture
async def p(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(tmp_path, {"model_list": models(alpha={
            "access_groups": ["cheap"]})}) as proxy:
        yield proxy


def refusal(r: Any) -> tuple[int, str, str]:
    error = r.json()["error"]
    return r.status_code, error["code"], error["message"].lower()


async def test_team_budget_over_all_its_keys(p: InProcess) -> None:
    await admin(p, "/team/new", {"team_id": "t1", "max_budget": 0.02})
    keys = [(await admin(p, "/key/generate", {"team_id": "t1"}))["key"] for _ in range(2)]
    served = 0
    for i in range(40):
        r = await chat(p, keys[i % 2])
        if r.status_code != 200:
            break
        served += 1
    status, code, message = refusal(r)
    assert (status, code) == (400, "budget_exceeded") and "team t1" in message
    assert 0 < served < 40
    assert (await chat(p, keys[1])).status_code == 400  # every key of the team
    await p.http.get("/spend/logs", headers=p.headers())  # flush
    team = (await p.http.get("/team/info?team_id=t1", headers=p.headers())).json()
    assert team["team_info"]["spend"] == pytest.approx(0.02, abs=0.01)


async def test_user_organization_customer_and_tag_levels(p: InProcess) -> None:
    await admin(p, "/organization/new", {"organization_id": "o1", "organization_alias": "O",
                                         "rpm_limit": 3})
    await admin(p, "/team/new", {"team_id": "t2", "organization_id": "o1"})
    key = (await admin(p, "/key/generate", {"team_id": "t2"}))["key"]
    answers = [(await chat(p, key)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    status, code, message = refusal(await chat(p, key))
    assert status == 429 and "organization o1" in message and "rpm_limit" in message
    # a user's budget, over every key of the user
    await admin(p, "/user/new", {"user_id": "u1", "auto_create_key": False})
    ukey = (await admin(p, "/key/generate", {"user_id": "u1"}))["key"]
    r = await chat(p, ukey)
    assert r.status_code == 200
    await admin(p, "/user/update", {"user_id": "u1", "max_budget": 0.0})
    status, code, message = refusal(await chat(p, ukey))
    assert code == "budget_exceeded" and "user u1" in message
    # end users (customers) by the request's `user`, with a shared budget's limits
    await admin(p, "/budget/new", {"budget_id": "tiny", "rpm_limit": 1})
    await admin(p, "/customer/new", {"user_id": "acme-client", "budget_id": "tiny"})
    free = (await admin(p, "/key/generate", {}))["key"]
    assert (await chat(p, free, user="acme-client")).status_code == 200
    status, code, message = refusal(await chat(p, free, user="acme-client"))
    assert status == 429 and "customer acme-client" in message
    assert (await chat(p, free, user="someone-else")).status_code == 200
    await admin(p, "/customer/block", {"user_ids": ["acme-client"]})
    assert refusal(await chat(p, free, user="acme-client"))[:2] == (403, "customer_blocked")
    # tags, from metadata and from the x-litellm-tags header
    await admin(p, "/tag/new", {"name": "batch", "max_budget": 0.0})
    status, code, message = refusal(await chat(p, free, metadata={"tags": ["batch"]}))
    assert code == "budget_exceeded" and "tag batch" in message
    r = await chat(p, free, headers={"x-litellm-tags": "x, batch"})
    assert refusal(r)[1] == "budget_exceeded"
    assert (await chat(p, free, metadata={"tags": ["other"]})).status_code == 200
    # the master key is bound by the end user's and the tags' levels too
    assert refusal(await chat(p, None, metadata={"tags": ["batch"]}))[1] == "budget_exceeded"


async def test_models_blocked_and_soft_budgets(p: InProcess) -> None:
    await admin(p, "/organization/new", {"organization_id": "o2", "organization_alias": "O",
                                         "models": ["cheap"]})  # an access group: alpha
    await admin(p, "/team/new", {"team_id": "t3", "organization_id": "o2",
                                 "soft_budget": 0.0})
    key = (await admin(p, "/key/generate", {"team_id": "t3", "models": ["cheap"]}))["key"]
    r = await chat(p, key, "alpha")
    assert r.status_code == 200
    assert r.headers["x-llmrelay-soft-budget-exceeded"] == "team t3"
    status, code, message = refusal(await chat(p, key, "beta"))
    assert (status, code) == (401, "model_not_allowed") and message.startswith("key")
    await admin(p, "/key/update", {"key": key, "models": []})
    status, code, message = refusal(await chat(p, key, "beta"))
    assert code == "model_not_allowed" and "organization o2" in message
    await admin(p, "/team/block", {"team_id": "t3"})
    assert refusal(await chat(p, key))[:2] == (401, "team_blocked")
    await admin(p, "/team/unblock", {"team_id": "t3"})
    assert (await chat(p, key)).status_code == 200
    # a team_id label with no team record is no level (keys made before teams existed)
    old = (await admin(p, "/key/generate", {"team_id": "label-only"}))["key"]
    assert (await chat(p, old)).status_code == 200


async def test_budgets_hold_under_concurrency(p: InProcess) -> None:
    """50 concurrent requests on a team budget: each reserves its worst case (5 output
    tokens here), so the team ends at or under budget plus one request's cost."""
    await admin(p, "/team/new", {"team_id": "t4", "max_budget": 0.05})
    key = (await admin(p, "/key/generate", {"team_id": "t4"}))["key"]
    answers = await asyncio.gather(*(chat(p, key) for _ in range(50)))
    served = [r for r in answers if r.status_code == 200]
    cost = sum(float(r.headers["x-llmrelay-response-cost"]) for r in served)
    one = max(float(r.headers["x-llmrelay-response-cost"]) for r in served)
    assert cost <= 0.05 + one + 1e-9 and len(served) < 50
    assert {refusal(r)[1] for r in answers if r.status_code != 200} == {"budget_exceeded"}


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[InProcess, InProcess]]:
    """Two apps (two 'instances') on one PostgreSQL schema and one Redis."""
    schema = new_schema()
    database = with_schema(pg_url(), schema)
    general = {"database_url": database, "redis_url": redis_url()}
    try:
        async with in_process(tmp_path / "a", {"model_list": models(), "general_settings": {
                **general, "spool_dir": str(tmp_path / "spool-a")}}) as a, \
                in_process(tmp_path / "b", {"model_list": models(), "general_settings": {
                    **general, "spool_dir": str(tmp_path / "spool-b")}}) as b:
            yield a, b
    finally:
        drop_schema(schema)


async def test_levels_hold_across_instances(pair: tuple[InProcess, InProcess]) -> None:
    a, b = pair
    team = f"t-{uuid.uuid4().hex[:8]}"  # the Redis counters are named by the level
    await admin(a, "/team/new", {"team_id": team, "rpm_limit": 5})
    key = (await admin(a, "/key/generate", {"team_id": team}))["key"]
    answers = await asyncio.gather(*(chat(a if i % 2 else b, key) for i in range(12)))
    assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 7
    # a change made through one instance reaches the other within a second
    other = f"t-{uuid.uuid4().hex[:8]}"
    await admin(a, "/team/new", {"team_id": other})
    key2 = (await admin(a, "/key/generate", {"team_id": other}))["key"]
    assert (await chat(b, key2)).status_code == 200  # b has read the team now
    await admin(a, "/team/block", {"team_id": other})

    async def blocked_on_b() -> bool:
        return (await chat(b, key2)).status_code == 401

    await eventually(blocked_on_b, timeout=3.0)


# -- tag routing --------------------------------------------------------------------------

async def test_tag_routing(tmp_path: Path) -> None:
    deps = [{"model_name": "m", "litellm_params": {"model": "mock/mock", "mock_response": text,
                                                   **({"tags": tags} if tags else {})}}
            for text, tags in (("paid", ["paid"]), ("free", ["default"]),
                               ("eu", ["eu", "paid"]))]
    config = {"model_list": deps, "router_settings": {"enable_tag_filtering": True}}
    async with in_process(tmp_path, config) as p:
        async def answer(**extra: Any) -> Any:
            r = await chat(p, None, "m", **extra)
            return r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else (
                r.status_code, r.json()["error"]["message"])

        assert {await answer(metadata={"tags": ["eu"]}) for _ in range(5)} == {"eu"}
        assert {await answer(metadata={"tags": ["paid"]}) for _ in range(10)} == {"paid", "eu"}
        assert {await answer() for _ in range(5)} == {"free"}
        assert await answer(headers={"x-litellm-tags": "eu"}) == "eu"
        assert await answer(metadata={"tags": ["nobody"]}) == "free"  # default serves
    deps[1]["litellm_params"].pop("tags")
    deps[1]["litellm_params"]["tags"] = ["cheap"]
    config["router_settings"]["tag_filtering_match_any"] = False
    async with in_process(tmp_path / "strict", config) as p:
        r = await chat(p, None, "m", metadata={"tags": ["nobody"]})
        assert r.status_code == 400 and "nobody" in r.json()["error"]["message"]
        r = await chat(p, None, "m", metadata={"tags": ["eu", "paid"]})
        assert r.json()["choices"][0]["message"]["content"] == "eu"
