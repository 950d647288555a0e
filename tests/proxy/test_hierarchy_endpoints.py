"""The hierarchy's management endpoints as LiteLLM users call them: teams (members,
blocking, cascades), users (with their first key), organisations, customers, shared
budgets, tags, and the audit log of every change (who, what, when, before and after).
Permissions are in test_roles.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asgi_support import MOCK, InProcess, in_process

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def p(module_tmp: Path) -> AsyncIterator[InProcess]:
    async with in_process(module_tmp, {"model_list": [MOCK]}) as proxy:
        yield proxy


async def call(p: InProcess, method: str, path: str, body: Any = None, *, key: str | None = None,
               status: int = 200) -> Any:
    r = await p.http.request(method, path, json=body, headers=p.headers(key))
    assert r.status_code == status, (path, r.text)
    return r.json()


async def test_teams(p: InProcess) -> None:
    await call(p, "POST", "/organization/new", {"organization_id": "acme",
                                                "organization_alias": "Acme"})
    team = await call(p, "POST", "/team/new", {
        "team_id": "ml", "team_alias": "ML", "organization_id": "acme", "max_budget": 10,
        "budget_duration": "30d", "rpm_limit": 100, "models": ["mock"],
        "members_with_roles": [{"user_id": "ana", "role": "admin"},
                               {"user_email": "bo@example.com", "role": "user"}],
        "not_a_field": 1})
    assert team["team_alias"] == "ML" and team["max_budget"] == 10.0
    assert team["budget_reset_at"] is not None and team["warnings"] == [
        "unknown field(s) ignored: not_a_field"]
    roles = {m["user_id"]: m for m in team["members_with_roles"]}
    assert roles.pop("ana")["role"] == "admin" and team["admins"] == ["ana"]
    [bo] = roles.values()
    assert bo["role"] == "user"
    assert bo["user_email"] == "bo@example.com" and bo["user_id"]  # a user was created
    await call(p, "POST", "/team/new", {"team_id": "ml"}, status=400)
    r = await call(p, "POST", "/team/new", {"organization_id": "nope"}, status=400)
    assert r["error"]["code"] == "organization_not_found"
    r = await call(p, "POST", "/team/new", {"model_max_budget": {"a": 1}}, status=400)
    assert r["error"]["param"] == "model_max_budget"
    key = (await call(p, "POST", "/key/generate", {"team_id": "ml", "key_alias": "k-ml"}))
    info = await call(p, "GET", "/team/info?team_id=ml")
    assert info["team_id"] == "ml" and info["team_info"]["organization_id"] == "acme"
    assert [k["key_alias"] for k in info["keys"]] == ["k-ml"]
    assert {m["user_id"] for m in info["team_memberships"]} == {"ana", bo["user_id"]}
    await call(p, "GET", "/team/info?team_id=nope", status=404)
    updated = await call(p, "POST", "/team/update", {"team_id": "ml", "tpm_limit": 5000,
                                                     "admins": ["cy"]})
    assert updated["tpm_limit"] == 5000 and set(updated["admins"]) == {"ana", "cy"}
    added = await call(p, "POST", "/team/member_add", {"team_id": "ml", "member": [
        {"user_id": "dee", "role": "user"}]})
    assert [u["user_id"] for u in added["updated_users"]] == ["dee"]
    left = await call(p, "POST", "/team/member_delete", {"team_id": "ml",
                                                         "user_email": "bo@example.com"})
    assert bo["user_id"] not in left["members"]
    assert (await call(p, "POST", "/team/block", {"team_id": "ml"}))["blocked"] is True
    assert (await call(p, "POST", "/team/unblock", {"team_id": "ml"}))["blocked"] is False
    listed = await call(p, "GET", "/team/list?organization_id=acme")
    assert [t["team_id"] for t in listed] == ["ml"]
    assert [t["team_id"] for t in await call(p, "GET", "/team/list?user_id=dee")] == ["ml"]
    gone = await call(p, "POST", "/team/delete", {"team_ids": ["ml"]})
    assert gone == {"deleted_teams": ["ml"], "deleted": 1}
    r = await p.http.get("/key/info", params={"key": key["token"]}, headers=p.headers())
    assert r.status_code == 404  # the team's keys went with it
    audit = await call(p, "GET", "/audit?table_name=teams&object_id=ml")
    assert [a["action"] for a in audit["audit_logs"]] == [
        "deleted", "unblocked", "blocked", "updated", "created"]


async def test_users(p: InProcess) -> None:
    await call(p, "POST", "/team/new", {"team_id": "web"})
    made = await call(p, "POST", "/user/new", {
        "user_id": "eve", "user_email": "eve@example.com", "user_role": "proxy_admin_viewer",
        "max_budget": 3, "teams": [{"team_id": "web", "user_role": "admin"}],
        "key_alias": "eve-key"})
    assert made["key"].startswith("sk-") and made["key_alias"] == "eve-key"
    assert made["user_role"] == "proxy_admin_viewer" and made["teams"] == ["web"]
    no_key = await call(p, "POST", "/user/new", {"user_email": "fay@example.com",
                                                 "auto_create_key": False})
    assert "key" not in no_key and len(no_key["user_id"]) == 36
    await call(p, "POST", "/user/new", {"user_role": "emperor"}, status=400)
    await call(p, "POST", "/user/new", {"teams": ["no-such-team"]}, status=400)
    info = await call(p, "GET", "/user/info?user_id=eve")
    assert info["user_info"]["user_email"] == "eve@example.com"
    assert [k["key_alias"] for k in info["keys"]] == ["eve-key"]
    assert [(t["team_id"], t["user_role"]) for t in info["teams"]] == [("web", "admin")]
    mine = await call(p, "GET", "/user/info", key=made["key"])  # a user reads themselves
    assert mine["user_id"] == "eve"
    changed = await call(p, "POST", "/user/update", {"user_email": "fay@example.com",
                                                     "user_alias": "Fay"})
    assert changed["user_alias"] == "Fay" and changed["user_email"] == "fay@example.com"
    page = await call(p, "GET", "/user/list?page_size=1&role=proxy_admin_viewer")
    assert page["total"] == 1 and [u["user_id"] for u in page["users"]] == ["eve"]
    assert (await call(p, "GET", "/user/list?team_id=web"))["users"][0]["user_id"] == "eve"
    picked = await call(p, "GET", f"/user/list?user_ids=eve,{no_key['user_id']}")
    assert picked["total"] == 2
    await call(p, "GET", "/user/list?page=0", status=400)
    gone = await call(p, "POST", "/user/delete", {"user_ids": ["eve"]})
    assert gone["deleted_users"] == ["eve"]
    r = await p.http.get("/key/info", headers=p.headers(made["key"]))
    assert r.status_code == 401  # the user's keys went with them


async def test_organizations(p: InProcess) -> None:
    await call(p, "POST", "/organization/new", {}, status=400)
    org = await call(p, "POST", "/organization/new", {"organization_alias": "Globex",
                                                      "max_budget": 100, "models": ["mock"]})
    oid = org["organization_id"]
    assert org["litellm_budget_table"]["max_budget"] == 100.0 and org["teams"] == []
    await call(p, "POST", "/team/new", {"team_id": "g1", "organization_id": oid})
    patched = await call(p, "PATCH", "/organization/update", {"organization_id": oid,
                                                              "soft_budget": 80})
    assert patched["soft_budget"] == 80.0 and [t["team_id"] for t in patched["teams"]] == [
        "g1"]
    assert (await call(p, "GET", f"/organization/info?organization_id={oid}"))[
        "organization_alias"] == "Globex"
    assert len(await call(p, "POST", "/organization/info", {"organizations": [oid]})) == 1
    assert oid in [o["organization_id"] for o in await call(p, "GET", "/organization/list")]
    r = await call(p, "DELETE", "/organization/delete", {"organization_ids": [oid]},
                   status=400)
    assert r["error"]["code"] == "organization_has_teams"
    await call(p, "POST", "/team/delete", {"team_ids": ["g1"]})
    assert (await call(p, "DELETE", "/organization/delete", {"organization_ids": [oid]}))[
        "deleted"] == 1
    await call(p, "GET", f"/organization/info?organization_id={oid}", status=404)


async def test_customers_budgets_tags(p: InProcess) -> None:
    await call(p, "POST", "/budget/new", {"budget_id": "small", "max_budget": 1,
                                          "rpm_limit": 10})
    await call(p, "POST", "/customer/new", {"user_id": "c-1", "budget_id": "nope"}, status=400)
    cust = await call(p, "POST", "/customer/new", {"user_id": "c-1", "alias": "Client One",
                                                   "budget_id": "small"})
    assert cust["alias"] == "Client One" and cust["litellm_budget_table"]["budget_id"] == "small"
    await call(p, "POST", "/customer/new", {}, status=400)
    assert (await call(p, "POST", "/customer/block", {"user_ids": ["c-1"]})) == {
        "blocked_users": ["c-1"]}
    assert (await call(p, "GET", "/customer/info?end_user_id=c-1"))["blocked"] is True
    await call(p, "POST", "/customer/unblock", {"user_ids": ["c-1"]})
    await call(p, "POST", "/customer/update", {"user_id": "c-1", "max_budget": 2})
    assert [c["max_budget"] for c in await call(p, "GET", "/customer/list")] == [2.0]
    await call(p, "POST", "/customer/delete", {"user_ids": ["c-1"]})
    await call(p, "GET", "/customer/info?end_user_id=c-1", status=404)
    await call(p, "POST", "/budget/update", {"budget_id": "small", "tpm_limit": 99})
    assert (await call(p, "POST", "/budget/info", {"budgets": ["small"]}))[0]["tpm_limit"] == 99
    assert [b["budget_id"] for b in await call(p, "GET", "/budget/list")] == ["small"]
    assert (await call(p, "POST", "/budget/delete", {"id": "small"}))["deleted"] == 1
    tag = await call(p, "POST", "/tag/new", {"name": "prod", "description": "production",
                                             "max_budget": 50})
    assert tag["name"] == "prod" and tag["spend"] == 0.0
    await call(p, "POST", "/tag/new", {"name": "prod"}, status=400)
    await call(p, "POST", "/tag/update", {"name": "prod", "rpm_limit": 20})
    assert (await call(p, "POST", "/tag/info", {"names": ["prod"]}))["prod"]["rpm_limit"] == 20
    assert [t["name"] for t in await call(p, "GET", "/tag/list")] == ["prod"]
    await call(p, "POST", "/tag/delete", {"name": "prod"})
    assert await call(p, "GET", "/tag/list") == []


async def test_the_audit_log(p: InProcess) -> None:
    key = await call(p, "POST", "/key/generate", {"key_alias": "audited", "max_budget": 1})
    await call(p, "POST", "/key/update", {"key": key["key"], "max_budget": 2})
    await call(p, "POST", "/key/block", {"key": key["key"]})
    new = await call(p, "POST", "/key/regenerate", {"key": key["key"]})
    await call(p, "POST", "/key/delete", {"keys": [new["key"]]})
    log = await call(p, "GET", "/audit?table_name=keys&page_size=10")
    mine = [a for a in log["audit_logs"] if a["object_id"] in (key["token"], new["token"])]
    assert [a["action"] for a in mine] == ["deleted", "regenerated", "blocked", "updated",
                                           "created"]
    assert mine[3]["before_value"]["max_budget"] == 1.0
    assert mine[3]["updated_values"]["max_budget"] == 2.0
    assert all(a["changed_by"] == "proxy_admin" for a in mine)
    assert mine[0]["updated_at"] >= mine[-1]["updated_at"]
    one = await call(p, "GET", f"/audit/{mine[0]['id']}")
    assert one["action"] == "deleted" and one["before_value"]["key_alias"] == "audited"
    await call(p, "GET", "/audit/999999999", status=404)
    await call(p, "GET", "/audit/x", status=400)
    paged = await call(p, "GET", "/audit?page_size=1&action=created")
    assert len(paged["audit_logs"]) == 1 and paged["has_more"] is True
    assert (await call(p, "GET", "/audit?start_date=2999-01-01"))["audit_logs"] == []
