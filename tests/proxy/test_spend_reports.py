"""Spend reports computed in the database, on SQLite and PostgreSQL: every source table
(daily, hourly and tag/end-user rollups, the rows themselves) gives the sums Python
computes over the same usage records; then the endpoints: /spend/report (JSON and CSV,
scoped by role) and LiteLLM's /global/spend/* views."""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asgi_support import InProcess, in_process
from keystore_support import backend_store

from llmrelay.proxy.keys import SpendRecord
from llmrelay.proxy.keys.reports import Report, ReportError, run_report

BACKENDS = ["sqlite", "postgres"]
DAY0 = datetime(2025, 5, 1, tzinfo=timezone.utc)


def records(n: int = 300) -> list[SpendRecord]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        when = DAY0 + timedelta(seconds=rng.randrange(3 * 86400))
        out.append(SpendRecord(
            call_id=f"r{i}", key_hash=rng.choice(["k1", "k2", None]),
            team_id=rng.choice(["t1", "t2", None]), user_id=rng.choice(["u1", "u2"]),
            organization_id="o1", model="openai/x", model_group=rng.choice(["m1", "m2"]),
            provider=rng.choice(["openai", "anthropic"]), cost=round(rng.random(), 4),
            prompt_tokens=10, completion_tokens=5, total_tokens=15, latency_ms=20.0,
            status=rng.choice(["success", "success", "failure"]), start_time=when,
            end_time=when, request_tags=rng.sample(["a", "b", "c"], rng.randrange(3)),
            end_user=rng.choice(["e1", "e2", None])))
    return out


def expected(recs: list[SpendRecord], interval: str | None, dims: list[str],
             filters: dict[str, str], start: datetime, end: datetime) -> dict[Any, float]:
    attr = {"model": "model_group", "api_key": "key_hash"}
    out: dict[Any, float] = defaultdict(float)
    for r in recs:
        if not start <= r.start_time < end:
            continue
        tags = r.request_tags if "tag" in dims else [None]
        for tag in tags:
            values = {d: (tag if d == "tag" else getattr(r, attr.get(d, d))) for d in
                      {*dims, *filters}}
            if "tag" in filters:
                values["tag"] = filters["tag"] if filters["tag"] in r.request_tags else None
            if any(values[k] != v for k, v in filters.items()):
                continue
            period = None
            if interval == "day":
                period = r.start_time.strftime("%Y-%m-%d")
            elif interval == "hour":
                period = r.start_time.replace(minute=0, second=0).isoformat()
            out[(period, *(values[d] for d in dims))] += r.cost
    return dict(out)


CASES: list[tuple[str | None, list[str], dict[str, str], str]] = [
    ("day", ["model"], {}, "spend_daily_models"),
    (None, ["api_key", "team_id"], {"provider": "openai"}, "spend_daily"),
    ("day", ["user_id", "status"], {"team_id": "t1"}, "spend_daily"),
    ("hour", ["team_id"], {}, "spend_hourly"),
    ("day", ["provider"], {"model": "m2"}, "spend_daily_models"),
    (None, ["organization_id", "status"], {"team_id": "t1"}, "spend_daily_models"),
    ("day", [], {"organization_id": "o1"}, "spend_daily_models"),
    ("day", ["model"], {"user_id": "u2"}, "spend_daily"),
    ("day", ["tag"], {}, "spend_daily_dims"),
    (None, ["end_user", "model"], {}, "spend_daily_dims"),
    (None, ["model"], {"tag": "b"}, "spend_daily_dims"),
    ("day", ["tag"], {"team_id": "t2"}, "spend_logs"),
    ("hour", ["api_key"], {}, "spend_logs"),
    (None, ["organization_id"], {"end_user": "e1"}, "spend_logs"),
]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_source_gives_the_same_sums(backend: str, tmp_path: Path) -> None:
    recs = records()
    async with backend_store(backend, tmp_path) as store:
        for i in range(0, len(recs), 50):
            await store.add_spend(recs[i:i + 50])
        start, end = DAY0, DAY0 + timedelta(days=3)
        for interval, dims, filters, source in CASES:
            report = Report(start, end, interval, dims, filters)
            rows, used = await run_report(store, report)
            assert used == source, (interval, dims, filters)
            got = {(r.get("date"), *(r[d] for d in dims)): r["spend"] for r in rows}
            want = expected(recs, interval, dims, filters, start, end)
            assert got.keys() == want.keys(), (dims, filters)
            for k, v in want.items():
                assert got[k] == pytest.approx(v), (dims, filters, k)
        # a range that does not start at midnight reads the hourly rollup or the rows
        mid = DAY0 + timedelta(hours=5)
        rows, used = await run_report(store, Report(mid, end, None, ["model"]))
        assert used == "spend_hourly"
        want = expected(recs, None, ["model"], {}, mid, end)
        assert {(None, r["model"]): r["spend"] for r in rows} == pytest.approx(want)
        odd = DAY0 + timedelta(minutes=7)
        rows, used = await run_report(store, Report(odd, end, None, ["model"]))
        assert used == "spend_logs"
        want = expected(recs, None, ["model"], {}, odd, end)
        assert {(None, r["model"]): r["spend"] for r in rows} == pytest.approx(want)
        rows, _ = await run_report(store, Report(start, end, None, ["status"]))
        by_status = {r["status"]: r for r in rows}
        assert by_status["failure"]["failures"] == by_status["failure"]["requests"] > 0
        assert by_status["success"]["avg_latency_ms"] == pytest.approx(20.0)
        with pytest.raises(ReportError):
            await run_report(store, Report(start, end, "week", []))
        with pytest.raises(ReportError):
            await run_report(store, Report(end, start, None, []))


# -- the endpoints ------------------------------------------------------------------------

PRICED = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
MODELS = [{"model_name": name, "litellm_params": {"model": "mock/mock", "mock_response": "ok"},
           "model_info": {"id": f"dep-{name}", **PRICED}} for name in ("alpha", "beta")]
HI = [{"role": "user", "content": "hi"}]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def p(module_tmp: Path) -> AsyncIterator[InProcess]:
    async with in_process(module_tmp, {"model_list": MODELS}) as proxy:
        admin = proxy.headers()
        await proxy.http.post("/team/new", json={"team_id": "red", "team_alias": "Red"},
                              headers=admin)
        await proxy.http.post("/team/new", json={"team_id": "blue"}, headers=admin)
        for user, team, role in (("ana", "red", "admin"), ("bo", "red", "user"),
                                 ("cy", "blue", "user")):
            await proxy.http.post("/user/new", json={"user_id": user, "teams": [
                {"team_id": team, "user_role": role}], "auto_create_key": False},
                headers=admin)
        keys = {}
        for user, team in (("ana", "red"), ("bo", "red"), ("cy", "blue")):
            r = await proxy.http.post("/key/generate", json={
                "user_id": user, "team_id": team, "key_alias": f"{user}-key"}, headers=admin)
            keys[user] = r.json()["key"]
        for user, model, tags, n in (("ana", "alpha", ["x"], 2), ("bo", "beta", ["x", "y"], 3),
                                     ("cy", "alpha", [], 4)):
            for _ in range(n):
                r = await proxy.http.post("/v1/chat/completions", json={
                    "model": model, "messages": HI, "metadata": {"tags": tags},
                    "user": f"end-{user}"}, headers=proxy.headers(keys[user]))
                assert r.status_code == 200, r.text
        proxy.keys = keys  # type: ignore[attr-defined]
        yield proxy


@pytest.mark.asyncio(loop_scope="module")
async def test_spend_report_json_and_csv(p: InProcess) -> None:
    r = await p.http.get("/spend/report", params={"group_by": "day,team_id"},
                         headers=p.headers())
    assert r.status_code == 200 and r.headers["x-llmrelay-spend-complete"] == "true"
    body = r.json()
    assert body["source"] == "spend_daily_models" and body["interval"] == "day"
    teams = {row["team_id"]: row for row in body["rows"]}
    assert teams["red"]["requests"] == 5 and teams["blue"]["requests"] == 4
    assert teams["red"]["team_alias"] == "Red" and body["totals"]["requests"] == 9
    assert body["totals"]["spend"] == pytest.approx(sum(t["spend"] for t in teams.values()))
    r = await p.http.get("/spend/report", params={"group_by": "key,model", "format": "csv"},
                         headers=p.headers())
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert {(row["key_alias"], row["model"], row["requests"]) for row in table} == {
        ("ana-key", "alpha", "2"), ("bo-key", "beta", "3"), ("cy-key", "alpha", "4")}
    r = await p.http.get("/spend/report", params={"group_by": "tag", "team": "red"},
                         headers=p.headers())
    assert {row["tag"]: row["requests"] for row in r.json()["rows"]} == {"x": 5, "y": 3}
    r = await p.http.get("/spend/report", params={"group_by": "customer"}, headers=p.headers())
    assert {row["end_user"] for row in r.json()["rows"]} == {"end-ana", "end-bo", "end-cy"}
    for bad in ({"group_by": "weekday"}, {"format": "xml"}, {"start_date": "yesterday"},
                {"group_by": "day,hour"}, {"limit": "0"}):
        r = await p.http.get("/spend/report", params=bad, headers=p.headers())
        assert r.status_code == 400, bad


@pytest.mark.asyncio(loop_scope="module")
async def test_reports_are_scoped_by_role(p: InProcess) -> None:
    keys = p.keys  # type: ignore[attr-defined]

    async def requests_of(key: str, **params: str) -> Any:
        r = await p.http.get("/spend/report", params={"group_by": "user", **params},
                             headers=p.headers(key))
        return r.status_code, {row["user_id"]: row["requests"] for row in r.json().get(
            "rows", [])}

    assert await requests_of(keys["cy"]) == (200, {"cy": 4})  # a user: their own
    assert (await requests_of(keys["cy"], user_id="ana"))[0] == 403
    assert await requests_of(keys["ana"], team_id="red") == (200, {"ana": 2, "bo": 3})
    assert (await requests_of(keys["bo"], team_id="red"))[1] == {"bo": 3}  # not an admin
    r = await p.http.get("/spend/logs", headers=p.headers(keys["cy"]))
    assert {row["user_id"] for row in r.json()} == {"cy"}
    r = await p.http.get("/spend/logs", params={"team_id": "red", "model": "beta"},
                         headers=p.headers(keys["ana"]))
    assert len(r.json()) == 3 and {row["model_group"] for row in r.json()} == {"beta"}
    one = r.json()[0]["call_id"]
    r = await p.http.get("/spend/logs", params={"request_id": one}, headers=p.headers())
    assert [row["call_id"] for row in r.json()] == [one]


@pytest.mark.asyncio(loop_scope="module")
async def test_litellm_views(p: InProcess) -> None:
    async def get(path: str, **params: str) -> Any:
        r = await p.http.get(path, params=params, headers=p.headers())
        assert r.status_code == 200, (path, r.text)
        return r.json()

    teams = await get("/global/spend/report", group_by="team")
    assert {t["team_name"] for day in teams for t in day["teams"]} == {"Red", "blue"}
    keys = await get("/global/spend/report", group_by="api_key")
    assert keys[0]["total_cost"] >= keys[-1]["total_cost"] and keys[0]["model_details"]
    customers = await get("/global/spend/report", group_by="customer")
    assert {c["customer"] for day in customers for c in day["customers"]} == {
        "end-ana", "end-bo", "end-cy"}
    total = (await get("/global/spend"))["spend"]
    assert total == pytest.approx(sum(k["total_cost"] for k in keys))
    assert sum(d["spend"] for d in await get("/global/spend/logs")) == pytest.approx(total)
    top = await get("/global/spend/keys", limit="2")
    assert len(top) == 2 and top[0]["key_alias"] == "cy-key"
    per_team = await get("/global/spend/teams")
    assert per_team["teams"][0] in ("Red", "blue") and per_team["daily_spend"]
    assert {m["model"] for m in await get("/global/spend/models")} == {"alpha", "beta"}
    tags = (await get("/global/spend/tags"))["spend_per_tag"]
    assert {t["individual_request_tag"]: t["log_count"] for t in tags} == {"x": 5, "y": 3}
    assert [t["individual_request_tag"] for t in await get("/spend/tags", tags="y")] == ["y"]
    assert (await get("/global/spend/all_tag_names"))["tag_names"] == ["x", "y"]
    assert [x["provider"] for x in await get("/global/spend/provider")] == ["mock"]
    activity = await get("/global/activity")
    assert activity["sum_api_requests"] == 9 and activity["sum_total_tokens"] > 0
    models = await get("/global/activity/model")
    assert [m["model"] for m in models] == ["alpha", "beta"]
    r = await p.http.post("/global/spend/end_users", json={}, headers=p.headers())
    assert {e["end_user"]: e["total_count"] for e in r.json()} == {
        "end-ana": 2, "end-bo": 3, "end-cy": 4}
