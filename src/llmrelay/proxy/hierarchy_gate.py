"""The levels above a request's key: its user, team, the team's organisation, its end user
(the request's ``user``, LiteLLM's customer) and its tags, each with its own limits.

A request is admitted only when every level allows it: none is blocked, each one's
``models`` (model groups, or model access groups from ``model_info.access_groups``; empty:
all) includes the requested group, and each one's rpm, tpm, parallel and budget limits
have room. Those limits are counted by the limiter's backend exactly as the key's
(``keys/limits.py``: across workers and instances), the budget reserving the worst case
at admission. A refusal names the level: ``Budget has been exceeded: team t1 has used
...``, ``team t1 may not use model 'gpt-4o'``, ``organization acme is blocked``.

Request tags are ``metadata.tags``, ``tags``, the ``x-litellm-tags`` header (comma
separated) and the key's tags; they are written back to ``metadata.tags`` so that tag
routing and the usage record see them all. Tags with a record (``/tag/new``) are levels;
other tags are only recorded. Levels with a ``soft_budget`` their spend has passed are
named in ``x-llmrelay-soft-budget-exceeded`` and logged once per process.

Records come from the in-process cache (``keys/entity_cache.py``): once warm, no database
read per request; a key with no user or team and a request with no ``user`` and no tags
cost nothing here. A ``team_id``/``user_id`` that names no record (a label from before
teams existed) is no level.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ProxyError
from .key_settings import key_tags
from .keys.levels import Level, entity_level
from .keys.limits import LimitExceeded, model_allowed

__all__ = ["EMPTY", "HierarchyGate", "RequestScope"]

log = logging.getLogger("llmrelay.proxy")
_BLOCKED_STATUS = {"customer": 403, "tag": 403}
_warned: set[tuple[str, float]] = set()


@dataclass(frozen=True)
class RequestScope:
    """What the levels above a request's key say about it."""

    levels: tuple[Level, ...] = ()
    organization_id: str | None = None
    user_role: str | None = None
    soft: tuple[str, ...] = ()  # labels of levels past their soft budget
    records: tuple[tuple[str, str, Mapping[str, Any]], ...] = field(default=(), repr=False)


EMPTY = RequestScope()


def _header_tags(headers: Mapping[str, str]) -> list[str]:
    raw = headers.get("x-litellm-tags")
    return [t.strip() for t in raw.split(",") if t.strip()] if raw else []


class HierarchyGate:
    """Finds and checks the levels of each request (see the module docstring)."""

    def __init__(self, entities: Any, models: Any, cfg: Any) -> None:
        self.entities = entities
        self.cfg = cfg
        self.access_groups = self._access_groups(models)

    @staticmethod
    def _access_groups(models: Any) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for group, deps in getattr(getattr(models, "router", None), "groups", {}).items():
            for dep in deps:
                for name in dep.model_info.get("access_groups") or ():
                    out.setdefault(str(name), set()).add(group)
        return out

    def allowed(self, models: list[str], group: str) -> bool:
        """Whether ``models`` (names, patterns or access groups) let ``group`` through."""
        if model_allowed(models, group):
            return True
        return any(group in self.access_groups.get(m, ()) for m in models)

    def key_view(self, rec: Any) -> Any:
        """The key record as the limiter's model check should see it: access groups in
        its ``models`` replaced by their model groups."""
        if not self.access_groups or not any(m in self.access_groups for m in rec.models):
            return rec
        expanded = [g for m in rec.models for g in sorted(self.access_groups.get(m, {m}))]
        return dataclasses.replace(rec, models=expanded)

    def tags(self, auth: Any, data: dict[str, Any], headers: Mapping[str, str]) -> list[str]:
        """The request's tags (written back to ``metadata.tags``); 400 for header tags a
        proxy with ``reject_clientside_metadata_tags`` does not take."""
        meta = data.get("metadata")
        own = meta.get("tags") if isinstance(meta, dict) else None
        body = data.get("tags")
        from_header = _header_tags(headers)
        if from_header and getattr(self.cfg, "reject_clientside_metadata_tags", False):
            raise ProxyError(400, "the x-litellm-tags header may not be set by the caller: "
                             "this proxy sets general_settings.reject_clientside_metadata_tags",
                             param="x-litellm-tags", code="param_not_allowed")
        found: list[str] = []
        for source in (own, body, from_header, key_tags(getattr(auth, "record", None))):
            if isinstance(source, list):
                found += [t for t in source if isinstance(t, str) and t]
        tags = list(dict.fromkeys(found))
        if tags and (from_header or key_tags(getattr(auth, "record", None))):
            data["metadata"] = {**(meta if isinstance(meta, dict) else {}), "tags": tags}
        return tags

    async def scope(self, auth: Any, data: dict[str, Any], headers: Mapping[str, str],
                    group: str) -> RequestScope:
        """The request's levels, checked (blocked, models); raises LimitExceeded."""
        rec = getattr(auth, "record", None)
        end_user = data.get("user") if isinstance(data.get("user"), str) else None
        tags = self.tags(auth, data, headers)
        if not (tags or end_user or (rec is not None and (rec.team_id or rec.user_id))):
            return EMPTY
        wanted: list[tuple[str, str]] = []
        if rec is not None and rec.user_id:
            wanted.append(("user", rec.user_id))
        if rec is not None and rec.team_id:
            wanted.append(("team", rec.team_id))
        records: list[tuple[str, str, Mapping[str, Any]]] = []
        org_id = None
        for kind, oid in wanted:
            found = await self.entities.get(kind, oid)
            if found is not None:
                records.append((kind, oid, found))
                if kind == "team" and found.get("organization_id"):
                    org_id = str(found["organization_id"])
        if org_id is not None:
            org = await self.entities.get("organization", org_id)
            if org is not None:
                records.append(("organization", org_id, org))
        if end_user:
            customer = await self.entities.get("customer", end_user)
            if customer is not None:
                records.append(("customer", end_user, customer))
        for tag in tags:
            found = await self.entities.get("tag", tag)
            if found is not None:
                records.append(("tag", tag, found))
        return self._check(records, group, org_id)

    def _check(self, records: list[tuple[str, str, Mapping[str, Any]]], group: str,
               org_id: str | None) -> RequestScope:
        levels, soft = [], []
        role = None
        for kind, oid, rec in records:
            name = f"{kind} {oid}"
            if rec.get("blocked"):
                raise LimitExceeded(_BLOCKED_STATUS.get(kind, 401), f"{name[0].upper()}"
                                    f"{name[1:]} is blocked", f"{kind}_blocked",
                                    type="auth_error")
            models = list(rec.get("models") or [])
            if models and not self.allowed(models, group):
                raise LimitExceeded(401, f"{name[0].upper()}{name[1:]} may not use model "
                                    f"{group!r}; allowed: {', '.join(models)}",
                                    "model_not_allowed", type="auth_error")
            levels.append(entity_level(kind, oid, rec, oid))
            limit = rec.get("soft_budget")
            if limit is not None and float(rec.get("spend") or 0.0) >= float(limit):
                soft.append(name)
                if (name, float(limit)) not in _warned:
                    _warned.add((name, float(limit)))
                    log.warning("llmrelay proxy: %s spent $%.6f, past its soft budget of "
                                "$%.6f", name, float(rec.get("spend") or 0.0), float(limit))
            if kind == "user":
                role = rec.get("user_role")
        return RequestScope(tuple(levels), org_id, role, tuple(soft), tuple(records))
