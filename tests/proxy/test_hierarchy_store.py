"""The hierarchy in the key store, on SQLite and PostgreSQL: records with their audit rows
(written in the change's transaction), team members, cascades, budget windows, the spend
each usage row adds at every level, and the rollups reports read (idempotent like the
rows, and backfilled from rows stored before schema version 4)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from keystore_support import backend_store

from llmrelay.proxy.keys import KeyFieldError, SpendRecord, open_store
from llmrelay.proxy.keys.hierarchy import Actor, Hierarchy, NotFound
from llmrelay.proxy.keys.migrations import MIGRATIONS
from llmrelay.proxy.keys.store import Program

BACKENDS = ["sqlite", "postgres"]
ADMIN = Actor("admin", "tok")


async def rows(store: Any, sql: str) -> list[tuple[Any, ...]]:
    def program() -> Program[list[tuple[Any, ...]]]:
        return (yield (sql, ()))

    return await store.run_program(program, write=False)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_records_and_their_audit_rows(backend: str, tmp_path: Path) -> None:
    async with backend_store(backend, tmp_path) as store:
        h = Hierarchy(store)
        org = await h.create("organization", {"organization_alias": "acme", "max_budget": 10,
                                              "models": ["gpt-4o"]}, ADMIN, "o1")
        assert org["organization_alias"] == "acme" and org["spend"] == 0.0
        assert org["created_by"] == "admin" and org["blocked"] is False
        with pytest.raises(KeyFieldError) as err:
            await h.create("organization", {"organization_alias": "again"}, ADMIN, "o1")
        assert err.value.code == "organization_exists"
        with pytest.raises(KeyFieldError) as err:
            await h.create("team", {"rpm_limit": -1}, ADMIN)
        assert err.value.param == "rpm_limit"
        with pytest.raises(KeyFieldError) as err:
            await h.create("user", {"user_role": "emperor"}, ADMIN)
        assert err.value.param == "user_role"
        with pytest.raises(KeyFieldError) as err:
            await h.create("team", {"spend_epoch": 3}, ADMIN)
        assert err.value.code == "unknown_field"
        team = await h.create("team", {"team_alias": "t", "organization_id": "o1"}, ADMIN)
        assert len(team["team_id"]) == 36  # a generated UUID
        updated = await h.update("team", team["team_id"], {"tpm_limit": 50,
                                                           "metadata": {"a": 1}}, ADMIN)
        assert updated["tpm_limit"] == 50 and updated["metadata"] == {"a": 1}
        with pytest.raises(NotFound):
            await h.update("team", "nope", {"tpm_limit": 1}, ADMIN)
        log = await h.audit_log(table_name="teams")
        assert [r["action"] for r in log] == ["updated", "created"]
        assert log[0]["before_value"]["tpm_limit"] is None
        assert log[0]["updated_values"]["tpm_limit"] == 50
        assert log[0]["changed_by"] == "admin" and log[0]["changed_by_api_key"] == "tok"
        assert log[1]["before_value"] is None
        assert [t["team_id"] for t in await h.list("team", {"organization_id": "o1"})] == [
            team["team_id"]]
        assert await h.count("team") == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_members_and_cascades(backend: str, tmp_path: Path) -> None:
    async with backend_store(backend, tmp_path) as store:
        h = Hierarchy(store)
        await h.create("organization", {"organization_alias": "acme"}, ADMIN, "o1")
        await h.create("team", {"organization_id": "o1"}, ADMIN, "t1")
        await h.create("user", {"user_email": "ana@example.com"}, ADMIN, "ana")
        members = await h.add_members("t1", [("ana", "admin"), ("bo", "user")], ADMIN)
        assert [(m["user_id"], m["role"], m["user_email"]) for m in members] == [
            ("ana", "admin", "ana@example.com"), ("bo", "user", None)]
        assert await h.memberships("ana") == [("t1", "admin")]
        assert [t["team_id"] for t in await h.list("team", member="bo")] == ["t1"]
        await h.add_members("t1", [("bo", "admin")], ADMIN)
        assert await h.memberships("bo") == [("t1", "admin")]
        with pytest.raises(NotFound):
            await h.add_members("nope", [("x", "user")], ADMIN)
        _, key = await store.create(team_id="t1", user_id="bo")
        with pytest.raises(KeyFieldError) as err:
            await h.delete("organization", ["o1"], ADMIN)
        assert err.value.code == "organization_has_teams"
        gone = await h.delete("team", ["t1", "t1", "unknown"], ADMIN)
        assert [g["team_id"] for g in gone] == ["t1"]
        assert await store.get(key.token) is None  # the team's keys go with it
        assert await h.memberships("ana") == []
        actions = {(r["table_name"], r["action"]) for r in await h.audit_log()}
        assert ("keys", "deleted") in actions and ("teams", "deleted") in actions
        assert [g["organization_id"] for g in await h.delete("organization", ["o1"], ADMIN)
                ] == ["o1"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_spend_at_every_level_and_rollups(backend: str, tmp_path: Path) -> None:
    async with backend_store(backend, tmp_path) as store:
        h = Hierarchy(store)
        for kind, oid in (("organization", "o1"), ("team", "t1"), ("user", "u1"),
                          ("customer", "c1"), ("tag", "a")):
            await h.create(kind, {}, ADMIN, oid)
        _, key = await store.create(team_id="t1", user_id="u1")
        when = datetime(2025, 3, 1, 10, 30, tzinfo=timezone.utc)

        def rec(call_id: str, cost: float, **extra: Any) -> SpendRecord:
            return SpendRecord(call_id=call_id, key_hash=key.token, team_id="t1", user_id="u1",
                               organization_id="o1", end_user="c1", model="openai/m",
                               model_group="g", provider="openai", cost=cost,
                               prompt_tokens=3, completion_tokens=2, total_tokens=5,
                               request_tags=["a", "b"], start_time=when, end_time=when,
                               latency_ms=10.0, **extra)

        batch = [rec("r1", 1.0), rec("r2", 0.5, status="failure")]
        assert await store.add_spend(batch) == 2
        assert await store.add_spend(batch) == 0  # replayed: neither stored nor summed
        for kind, oid in (("organization", "o1"), ("team", "t1"), ("user", "u1"),
                          ("customer", "c1"), ("tag", "a")):
            assert (await h.get(kind, oid))["spend"] == pytest.approx(1.5), kind
        assert (await store.get(key.token)).spend == pytest.approx(1.5)
        daily = await rows(store, "SELECT team_id, status, spend, requests, total_tokens, "
                                  "failures, latency_ms FROM spend_daily ORDER BY status")
        assert daily == [("t1", "failure", 0.5, 1, 5, 1, 10.0),
                         ("t1", "success", 1.0, 1, 5, 0, 10.0)]
        models = await rows(store, "SELECT team_id, organization_id, model_group, provider, "
                                   "status, spend, requests FROM spend_daily_models "
                                   "ORDER BY status")
        assert models == [("t1", "o1", "g", "openai", "failure", 0.5, 1),
                          ("t1", "o1", "g", "openai", "success", 1.0, 1)]
        hourly = await rows(store, "SELECT hour, SUM(spend) FROM spend_hourly GROUP BY hour")
        assert len(hourly) == 1 and hourly[0][1] == pytest.approx(1.5)
        hour = hourly[0][0]
        hour = hour if isinstance(hour, datetime) else datetime.fromtimestamp(hour, timezone.utc)
        assert hour == when.replace(minute=0)
        dims = await rows(store, "SELECT dim, value, spend, requests FROM spend_daily_dims "
                                 "ORDER BY dim, value")
        assert dims == [("end_user", "c1", 1.5, 2), ("tag", "a", 1.5, 2), ("tag", "b", 1.5, 2)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_budget_windows_roll_on_read(backend: str, tmp_path: Path) -> None:
    async with backend_store(backend, tmp_path) as store:
        h = Hierarchy(store)
        await h.create("team", {"budget_duration": "1h", "spend": 2.0}, ADMIN, "t1")
        past = datetime.now(timezone.utc) - timedelta(minutes=5)
        await h.update("team", "t1", {"budget_reset_at": past.isoformat()}, ADMIN)
        team = await h.get("team", "t1")
        assert team["spend"] == 0.0 and team["budget_reset_at"] > datetime.now(timezone.utc)
        assert team["budget_reset_at"] - past == timedelta(hours=1)


async def test_schema_4_sums_rows_stored_before_it(tmp_path: Path) -> None:
    """A version-3 SQLite database with usage rows: opening it migrates and backfills."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at REAL NOT NULL)")
    for migration in MIGRATIONS[:3]:
        for sql in migration.sqlite:
            conn.execute(sql)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 0)", (migration.version, "x"))
    day = datetime(2025, 1, 2, tzinfo=timezone.utc).timestamp()
    for i, tags in enumerate(('["x","y"]', "not json", '{"a": 1}')):
        conn.execute("INSERT INTO spend_logs (call_id, team_id, model, model_group, cost, "
                     "status, start_time, end_time, request_tags, end_user) VALUES "
                     "(?, 't', 'm', 'g', 1.0, 'success', ?, ?, ?, 'eu')",
                     (f"c{i}", day + 60 * i, day + 60 * i, tags))
    conn.close()
    store = await open_store(None, str(path))
    try:
        assert await rows(store, "SELECT day, team_id, spend, requests FROM spend_daily") == [
            (day, "t", 3.0, 3)]
        assert await rows(store, "SELECT day, team_id, model_group, spend, requests FROM "
                                 "spend_daily_models") == [(day, "t", "g", 3.0, 3)]  # v6
        assert await rows(store, "SELECT dim, value, requests FROM spend_daily_dims ORDER BY "
                                 "dim, value") == [("end_user", "eu", 3), ("tag", "x", 1),
                                                   ("tag", "y", 1)]
    finally:
        await store.close()
