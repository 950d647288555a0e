"""The route table of the hierarchy's management endpoints (teams, users, organisations,
customers, budgets, tags, the audit log, key blocking)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from . import Endpoint, lazy
from .spend_views import VIEWS

__all__ = ["routes"]


def _record(kind: str, action: str) -> Endpoint:
    """The ``action`` route of a record kind of ``records.py`` (ORGANIZATION ...)."""
    return lazy("records", lambda mod: getattr(mod, kind).route(action))


def _view(method: str, path: str) -> Endpoint:
    def pick(mod: Any) -> Endpoint:
        return mod.ENDPOINTS[(method, path)]  # type: ignore[no-any-return]
    return lazy("reports_litellm", pick)


def routes() -> list[BaseRoute]:
    post, get = ["POST"], ["GET"]
    out: list[BaseRoute] = [
        Route("/key/block", lazy("keys", "block"), methods=post),
        Route("/key/unblock", lazy("keys", "unblock"), methods=post),
        Route("/team/new", lazy("teams", "new"), methods=post),
        Route("/team/update", lazy("teams", "update"), methods=post),
        Route("/team/delete", lazy("teams", "delete"), methods=post),
        Route("/team/block", lazy("teams", "block"), methods=post),
        Route("/team/unblock", lazy("teams", "unblock"), methods=post),
        Route("/team/member_add", lazy("teams", "member_add"), methods=post),
        Route("/team/member_delete", lazy("teams", "member_delete"), methods=post),
        Route("/team/info", lazy("teams", "info"), methods=get),
        Route("/team/list", lazy("teams", "list_teams"), methods=get),
        Route("/user/new", lazy("users", "new"), methods=post),
        Route("/user/update", lazy("users", "update"), methods=post),
        Route("/user/delete", lazy("users", "delete"), methods=post),
        Route("/user/info", lazy("users", "info"), methods=get),
        Route("/user/list", lazy("users", "list_users"), methods=get),
        Route("/organization/new", _record("ORGANIZATION", "new"), methods=post),
        Route("/organization/update", _record("ORGANIZATION", "update"), methods=["PATCH"]),
        Route("/organization/delete", _record("ORGANIZATION", "delete"), methods=["DELETE"]),
        Route("/organization/info", _record("ORGANIZATION", "info_get"), methods=get),
        Route("/organization/info", _record("ORGANIZATION", "info_post"), methods=post),
        Route("/organization/list", _record("ORGANIZATION", "list"), methods=get),
        Route("/customer/new", _record("CUSTOMER", "new"), methods=post),
        Route("/customer/update", _record("CUSTOMER", "update"), methods=post),
        Route("/customer/delete", _record("CUSTOMER", "delete"), methods=post),
        Route("/customer/block", _record("CUSTOMER", "block"), methods=post),
        Route("/customer/unblock", _record("CUSTOMER", "unblock"), methods=post),
        Route("/customer/info", _record("CUSTOMER", "info_get"), methods=get),
        Route("/customer/list", _record("CUSTOMER", "list"), methods=get),
        Route("/budget/new", _record("BUDGET", "new"), methods=post),
        Route("/budget/update", _record("BUDGET", "update"), methods=post),
        Route("/budget/delete", _record("BUDGET", "delete"), methods=post),
        Route("/budget/info", _record("BUDGET", "info_post"), methods=post),
        Route("/budget/list", _record("BUDGET", "list"), methods=get),
        Route("/tag/new", _record("TAG", "new"), methods=post),
        Route("/tag/update", _record("TAG", "update"), methods=post),
        Route("/tag/delete", _record("TAG", "delete"), methods=post),
        Route("/tag/info", _record("TAG", "info_post"), methods=post),
        Route("/tag/list", _record("TAG", "list"), methods=get),
        Route("/audit", lazy("audit", "list_entries"), methods=get),
        Route("/audit/{id}", lazy("audit", "entry"), methods=get),
        Route("/spend/report", lazy("reports", "spend_report"), methods=get),
        Route("/model/info", lazy("model_info", "model_info"), methods=get),
    ]
    out += [Route(path, _view(method, path), methods=[method])
            for method, path, _, _, _ in VIEWS]
    return out
