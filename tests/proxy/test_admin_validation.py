"""Admin routes answer bad input with a 400 naming the field, never a 500, and store
nothing a later read cannot serve: on SQLite and on PostgreSQL (NUL characters, 32-bit
counts, deep metadata, durations past year 9999, lone surrogates)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_support import MOCK, QUIET, InProcess, in_process
from keystore_support import drop_schema, new_schema, pg_url, with_schema


@pytest.fixture(params=["sqlite", "postgres"])
async def proxy(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcess]:
    general: dict[str, Any] = {}
    schema = None
    if request.param == "postgres":
        schema = new_schema()
        general["database_url"] = with_schema(pg_url(), schema)
    try:
        async with in_process(tmp_path, {"model_list": [MOCK], **QUIET,
                                         "general_settings": general}) as p:
            yield p
    finally:
        if schema is not None:
            drop_schema(schema)


def _deep(n: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(n):
        node["a"] = {}
        node = node["a"]
    return root


BAD_FIELDS = [
    ({"metadata": _deep(900)}, "metadata"),
    ({"metadata": _deep(9)}, "metadata"),  # over general_settings.max_metadata_depth (8)
    ({"metadata": {"x": "y" * 70000}}, "metadata"),
    ({"metadata": {"x": "nul\x00"}}, "metadata.x"),
    ({"metadata": {"nul\x00": 1}}, "metadata"),
    ({"metadata": "x"}, "metadata"),
    ({"metadata": {"allowed_request_params": ["callbacks"]}},
     "metadata.allowed_request_params"),
    ({"rpm_limit": 10**30}, "rpm_limit"),
    ({"rpm_limit": 1e30}, "rpm_limit"),
    ({"tpm_limit": 2**31}, "tpm_limit"),
    ({"max_parallel_requests": -1}, "max_parallel_requests"),
    ({"max_budget": 1e300}, "max_budget"),
    ({"max_budget": "ten"}, "max_budget"),
    ({"spend": -5}, "spend"),
    ({"budget_duration": "99999999999999d"}, "budget_duration"),
    ({"budget_duration": "9999999w"}, "budget_duration"),
    ({"duration": "99999999999999d"}, "duration"),
    ({"duration": "soon"}, "duration"),
    ({"expires": "0001-01-01T00:00:00+05:00"}, "expires"),
    ({"expires": "x" * 1000}, "expires"),
    ({"key_alias": "nul\x00"}, "key_alias"),
    ({"key_alias": "a" * 5000}, "key_alias"),
    ({"user_id": 5}, "user_id"),
    ({"team_id": ["t"]}, "team_id"),
    ({"models": ["gpt\x00"]}, "models[0]"),
    ({"models": "gpt-4o"}, "models"),
    ({"models": ["m"] * 1001}, "models"),
    ({"blocked": "yes"}, "blocked"),
    ({"key": "short"}, "key"),
    ({"key": "sk-has spaces in it"}, "key"),
    ({"key": "sk-ключ-12345678"}, "key"),
    ({"key": 12345678}, "key"),
]


@pytest.mark.parametrize(("body", "param"), BAD_FIELDS)
async def test_generate_refuses_bad_fields(proxy: InProcess, body: dict[str, Any],
                                           param: str) -> None:
    r = await proxy.post("/key/generate", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error", err
    listed = await proxy.http.get("/key/list", headers=proxy.headers())
    assert listed.status_code == 200 and listed.json()["total_count"] == 0


@pytest.mark.parametrize(("body", "param"), [b for b in BAD_FIELDS if "key" not in b[0]])
async def test_update_refuses_bad_fields(proxy: InProcess, body: dict[str, Any],
                                         param: str) -> None:
    key = await proxy.new_key(key_alias="before")
    r = await proxy.post("/key/update", {"key": key, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    info = await proxy.http.get("/key/info", params={"key": key}, headers=proxy.headers())
    assert info.status_code == 200 and info.json()["info"]["key_alias"] == "before"


async def test_the_largest_storable_values_are_stored_and_served(proxy: InProcess) -> None:
    body = {"rpm_limit": 2**31 - 1, "tpm_limit": 0, "max_budget": 1e15,
            "budget_duration": "1000w", "duration": "52w", "metadata": _deep(7),
            "key_alias": "é" * 1024, "models": ["m"] * 1000, "user_id": "u\u2028"}
    r = await proxy.post("/key/generate", body)
    assert r.status_code == 200, r.text
    listed = await proxy.http.get("/key/list", headers=proxy.headers())
    assert listed.status_code == 200
    (rec,) = listed.json()["keys"]
    assert rec["rpm_limit"] == 2**31 - 1 and rec["metadata"] == _deep(7)


@pytest.mark.parametrize("raw", [
    b'{"key_alias": "\\ud800"}', b'{"metadata": {"\\udfff": 1}}',
    b'{"models": ["a\\ud83d"]}', b'[1]', b'"x"', b'{"metadata": {"a": NaN}}', b'',
])
async def test_unreadable_bodies_are_400(proxy: InProcess, raw: bytes) -> None:
    for path in ("/key/generate", "/key/update", "/key/delete"):
        r = await proxy.http.post(path, content=raw, headers=proxy.headers())
        assert r.status_code == 400, (path, r.text)


@pytest.mark.parametrize(("path", "params", "param"), [
    ("/key/info", {"key": "nul\x00keyyyyy"}, "key"),
    ("/key/info", {"key": "\u00e9" * 20}, "key"),
    ("/key/info", {}, "key"),
    ("/key/list", {"user_id": "u\x00"}, "user_id"),
    ("/key/list", {"team_id": "x" * 2000}, "team_id"),
    ("/spend/logs", {"user_id": "\x00"}, "user_id"),
    ("/spend/logs", {"start_date": "0001-01-01T00:00:00+05:00"}, "start_date"),
    ("/spend/logs", {"end_date": "yesterday"}, "end_date"),
    ("/spend/logs", {"limit": "9" * 40}, "limit"),
    ("/spend/logs", {"limit": "-3"}, "limit"),
    ("/spend/logs", {"api_key": "bad key"}, "key"),
])
async def test_bad_query_parameters_are_400(proxy: InProcess, path: str,
                                            params: dict[str, str], param: str) -> None:
    r = await proxy.http.get(path, params=params, headers=proxy.headers())
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


async def test_delete_and_update_bad_keys(proxy: InProcess) -> None:
    r = await proxy.post("/key/delete", {"keys": ["sk-" + "x" * 20] * 1001})
    assert r.status_code == 400 and r.json()["error"]["param"] == "keys"
    r = await proxy.post("/key/delete", {"keys": [None]})
    assert r.status_code == 400
    r = await proxy.post("/key/update", {"key": "sk-unknown-key-0000", "key_alias": "x"})
    assert r.status_code == 404
    r = await proxy.post("/key/update", {"key": {"a": 1}})
    assert r.status_code == 400


async def test_a_key_with_unservable_stored_metadata_does_not_break_the_list(
        proxy: InProcess) -> None:
    """Keys stored before these checks existed may hold metadata JSON cannot send."""
    key = await proxy.new_key(key_alias="old")
    state = proxy.app.state.proxy
    rec = await state.store.get(__import__("llmrelay.proxy.keys.models",
                                           fromlist=["hash_key"]).hash_key(key))
    rec.metadata = _deep(5000)  # as a legacy row could read back
    from llmrelay.proxy.routes.keys import record_dict

    out = record_dict(rec)
    assert "llmrelay_error" in out["metadata"]
