"""The route table of the hierarchy's management endpoints (teams, users, organisations,
customers, budgets, tags, the audit log, key blocking)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

__all__ = ["routes"]


def routes() -> list[BaseRoute]:
    from . import audit, keys, model_info, reports, teams, users
    from .records import BUDGET, CUSTOMER, ORGANIZATION, TAG
    from .reports_litellm import ROUTES as SPEND_VIEWS

    post, get = ["POST"], ["GET"]
    out: list[BaseRoute] = [
        Route("/key/block", keys.block, methods=post),
        Route("/key/unblock", keys.unblock, methods=post),
        Route("/team/new", teams.new, methods=post),
        Route("/team/update", teams.update, methods=post),
        Route("/team/delete", teams.delete, methods=post),
        Route("/team/block", teams.block, methods=post),
        Route("/team/unblock", teams.unblock, methods=post),
        Route("/team/member_add", teams.member_add, methods=post),
        Route("/team/member_delete", teams.member_delete, methods=post),
        Route("/team/info", teams.info, methods=get),
        Route("/team/list", teams.list_teams, methods=get),
        Route("/user/new", users.new, methods=post),
        Route("/user/update", users.update, methods=post),
        Route("/user/delete", users.delete, methods=post),
        Route("/user/info", users.info, methods=get),
        Route("/user/list", users.list_users, methods=get),
        Route("/organization/new", ORGANIZATION.route("new"), methods=post),
        Route("/organization/update", ORGANIZATION.route("update"), methods=["PATCH"]),
        Route("/organization/delete", ORGANIZATION.route("delete"), methods=["DELETE"]),
        Route("/organization/info", ORGANIZATION.route("info_get"), methods=get),
        Route("/organization/info", ORGANIZATION.route("info_post"), methods=post),
        Route("/organization/list", ORGANIZATION.route("list"), methods=get),
        Route("/customer/new", CUSTOMER.route("new"), methods=post),
        Route("/customer/update", CUSTOMER.route("update"), methods=post),
        Route("/customer/delete", CUSTOMER.route("delete"), methods=post),
        Route("/customer/block", CUSTOMER.route("block"), methods=post),
        Route("/customer/unblock", CUSTOMER.route("unblock"), methods=post),
        Route("/customer/info", CUSTOMER.route("info_get"), methods=get),
        Route("/customer/list", CUSTOMER.route("list"), methods=get),
        Route("/budget/new", BUDGET.route("new"), methods=post),
        Route("/budget/update", BUDGET.route("update"), methods=post),
        Route("/budget/delete", BUDGET.route("delete"), methods=post),
        Route("/budget/info", BUDGET.route("info_post"), methods=post),
        Route("/budget/list", BUDGET.route("list"), methods=get),
        Route("/tag/new", TAG.route("new"), methods=post),
        Route("/tag/update", TAG.route("update"), methods=post),
        Route("/tag/delete", TAG.route("delete"), methods=post),
        Route("/tag/info", TAG.route("info_post"), methods=post),
        Route("/tag/list", TAG.route("list"), methods=get),
        Route("/audit", audit.list_entries, methods=get),
        Route("/audit/{id}", audit.entry, methods=get),
        Route("/spend/report", reports.spend_report, methods=get),
        Route("/model/info", model_info.model_info, methods=get),
    ]
    out += [Route(path, endpoint, methods=[method])
            for method, path, endpoint, _, _ in SPEND_VIEWS]
    return out
