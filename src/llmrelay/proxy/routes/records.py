"""Organisations, end users (LiteLLM's customers), shared budgets and tags: LiteLLM's
endpoints and fields over one set of handlers.

* ``POST /organization/new`` (``organization_alias`` required), ``PATCH
  /organization/update``, ``DELETE /organization/delete`` (``organization_ids``; refused
  while teams belong to it), ``GET /organization/info?organization_id=`` (with its teams),
  ``POST /organization/info`` (``organizations``), ``GET /organization/list``.
* ``POST /customer/new`` (``user_id`` required: the ``user`` field of requests),
  ``/customer/update``, ``/customer/delete`` and ``/customer/block``/``unblock``
  (``user_ids``), ``GET /customer/info?end_user_id=``, ``GET /customer/list``.
* ``POST /budget/new``, ``/budget/update`` (``budget_id``), ``/budget/delete`` (``id``),
  ``/budget/info`` (``budgets``), ``GET /budget/list``: limits a level takes where it sets
  none of its own (``budget_id`` on an organisation, team, user, customer or tag).
* ``POST /tag/new`` (``name`` required), ``/tag/update``, ``/tag/delete`` (``name``),
  ``/tag/info`` (``names``), ``GET /tag/list``.

Every level holds ``models``, ``max_budget``, ``soft_budget``, ``budget_duration``,
``rpm_limit``, ``tpm_limit``, ``max_parallel_requests``, ``budget_id``, ``metadata``,
``blocked``. Proxy admins change them; proxy admins and viewers read them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..keys.entities import KINDS, check_id
from ..keys.hierarchy import NotFound
from ..roles import Caller
from .admin import bad, body_of, check_refs, fields_of, handle, id_list, record_out, text_param

__all__ = ["BUDGET", "CUSTOMER", "ORGANIZATION", "TAG", "Records"]


@dataclass(frozen=True)
class Records:
    """The endpoints of one kind (see the module docstring)."""

    kind: str
    noun: str  # plural, for messages and answers: "organizations"
    id_field: str  # the request field naming one record
    ids_field: str  # the delete body's list (or single id) field
    info_field: str  # ``GET .../info``'s query parameter
    list_field: str  # ``POST .../info``'s list field
    renamed: dict[str, str] = field(default_factory=dict)  # request name -> column
    required: tuple[str, ...] = ()

    # -- handlers ------------------------------------------------------------------------
    async def _new(self, request: Request, caller: Caller) -> Any:
        caller.need_admin(f"create {self.noun}")
        state = request.app.state.proxy
        body = await body_of(request)
        for name in self.required:
            if body.get(name) is None:
                raise bad(name, "is required")
        fields, warnings = fields_of(body, self.kind, renamed=self.renamed,
                                     request_only=frozenset({self.id_field}))
        oid = body.get(self.id_field)
        if oid is not None:
            check_id(self.id_field, oid)
        await check_refs(state, fields)
        rec = await state.hierarchy.create(self.kind, fields, caller.actor, oid)
        return await self._out(state, rec, warnings)

    async def _update(self, request: Request, caller: Caller) -> Any:
        caller.need_admin(f"change {self.noun}")
        state = request.app.state.proxy
        body = await body_of(request)
        oid = check_id(self.id_field, body.get(self.id_field))
        fields, warnings = fields_of(body, self.kind, renamed=self.renamed,
                                     request_only=frozenset({self.id_field}))
        await check_refs(state, fields)
        rec = await state.hierarchy.update(self.kind, oid, fields, caller.actor)
        return await self._out(state, rec, warnings)

    async def _delete(self, request: Request, caller: Caller) -> Any:
        caller.need_admin(f"delete {self.noun}")
        state = request.app.state.proxy
        body = await body_of(request)
        if self.ids_field.endswith("s"):
            ids = id_list(body, self.ids_field)
        else:
            ids = [check_id(self.ids_field, body.get(self.ids_field))]
        gone = await state.hierarchy.delete(self.kind, ids, caller.actor)
        kind = KINDS[self.kind]
        return {f"deleted_{self.noun}": [g[kind.id] for g in gone], "deleted": len(gone)}

    async def _set_blocked(self, request: Request, caller: Caller, blocked: bool) -> Any:
        caller.need_admin(f"block or unblock {self.noun}")
        state = request.app.state.proxy
        done = []
        for oid in id_list(await body_of(request), self.ids_field):
            await state.hierarchy.update(self.kind, oid, {"blocked": blocked}, caller.actor,
                                         action="blocked" if blocked else "unblocked")
            done.append(oid)
        return {("blocked_users" if blocked else "unblocked_users"): done}

    async def _info_get(self, request: Request, caller: Caller) -> Any:
        caller.need_read_all(f"read {self.noun}")
        state = request.app.state.proxy
        oid = text_param(request, self.info_field, self.id_field)
        if oid is None:
            raise bad(self.info_field, "is required")
        rec = await state.hierarchy.get(self.kind, check_id(self.info_field, oid))
        if rec is None:
            raise NotFound(self.kind, oid)
        return await self._out(state, rec, [])

    async def _info_post(self, request: Request, caller: Caller) -> Any:
        caller.need_read_all(f"read {self.noun}")
        state = request.app.state.proxy
        ids = id_list(await body_of(request), self.list_field)
        records = await state.hierarchy.get_many(self.kind, ids)
        if self.kind == "tag":
            return {r["tag_name"]: await self._out(state, r, []) for r in records}
        return [await self._out(state, r, []) for r in records]

    async def _list(self, request: Request, caller: Caller) -> Any:
        caller.need_read_all(f"list {self.noun}")
        state = request.app.state.proxy
        return [await self._out(state, r, []) for r in await state.hierarchy.list(self.kind)]

    async def _out(self, state: Any, rec: dict[str, Any], warnings: list[str]
                   ) -> dict[str, Any]:
        out = record_out(self.kind, rec)
        if self.kind == "organization":
            teams = await state.hierarchy.list("team", {"organization_id": rec[
                "organization_id"]})
            out["teams"] = [record_out("team", t) for t in teams]
        if warnings:
            out["warnings"] = warnings
        return out

    # -- routes --------------------------------------------------------------------------
    def route(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        """The Starlette endpoint for handler ``name`` (``new``, ``update``, ``delete``,
        ``info_get``, ``info_post``, ``list``, ``block``, ``unblock``)."""
        if name in ("block", "unblock"):
            blocked = name == "block"

            async def endpoint(request: Request) -> Response:
                return await handle(request, lambda r, c: self._set_blocked(r, c, blocked))
        else:
            handler = getattr(self, "_" + name)

            async def endpoint(request: Request) -> Response:
                return await handle(request, handler)
        endpoint.__name__ = f"{self.kind}_{name}"
        return endpoint


ORGANIZATION = Records("organization", "organizations", "organization_id",
                       "organization_ids", "organization_id", "organizations",
                       required=("organization_alias",))
CUSTOMER = Records("customer", "customers", "user_id", "user_ids", "end_user_id", "user_ids",
                   required=("user_id",))
BUDGET = Records("budget", "budgets", "budget_id", "id", "budget_id", "budgets")
TAG = Records("tag", "tags", "name", "name", "name", "names", renamed={"name": "tag_name"},
              required=("name",))
