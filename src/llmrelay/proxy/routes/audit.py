"""The audit log of admin changes (proxy admins and viewers):

* ``GET /audit?table_name=&object_id=&changed_by=&action=&start_date=&end_date=&page=
  &page_size=``: ``{"audit_logs": [...], "page", "page_size", "has_more"}``, newest
  first;
* ``GET /audit/{id}``: one entry.

An entry (LiteLLM's fields): ``id``, ``updated_at``, ``changed_by`` (a user id, or
``proxy_admin`` for the master key), ``changed_by_api_key`` (the token of the key used),
``action`` (``created``, ``updated``, ``deleted``, ``blocked``, ``unblocked``,
``regenerated``, ``member_added``, ``member_deleted``), ``table_name`` (``keys``,
``teams``, ``users``, ``organizations``, ``end_users``, ``tags``, ``budgets``,
``team_members``), ``object_id``, ``before_value``, ``updated_values``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ProxyError
from ..keys.entities import jsonable
from ..roles import Caller
from .admin import date_param, handle, int_param, text_param

__all__ = ["entry", "list_entries"]

_FILTERS = ("table_name", "object_id", "changed_by", "action")


async def _list(request: Request, caller: Caller) -> Any:
    caller.need_read_all("read the audit log")
    state = request.app.state.proxy
    page = int_param(request, "page", 1, 1, 1_000_000)
    size = int_param(request, "page_size", 50, 1, 1000)
    filters = {name: text_param(request, name) for name in _FILTERS}
    start, end = date_param(request, "start_date"), date_param(request, "end_date", end=True)
    rows = await state.hierarchy.audit_log(**filters, start=start, end=end, limit=size + 1,
                                           offset=(page - 1) * size)
    more = len(rows) > size
    return {"audit_logs": jsonable(rows[:size]), "page": page, "page_size": size,
            "has_more": more}


async def _entry(request: Request, caller: Caller) -> Any:
    caller.need_read_all("read the audit log")
    state = request.app.state.proxy
    raw = request.path_params.get("id", "")
    if not (isinstance(raw, str) and raw.isdigit() and len(raw) <= 18):
        raise ProxyError(400, "`id` must be an audit entry number", param="id",
                         code="invalid_value")
    rows = await state.hierarchy.audit_log(entry_id=int(raw), limit=1)
    if not rows:
        raise ProxyError(404, f"no audit entry {raw}", param="id", code="audit_not_found")
    return jsonable(rows[0])


async def list_entries(request: Request) -> Response:
    return await handle(request, _list)


async def entry(request: Request) -> Response:
    return await handle(request, _entry)
