"""``GET /model/info`` (LiteLLM's): every deployment of the model groups the caller may
use, with its health as the router sees it in this process (in flight, requests and
tokens this minute, moving-average latency, cooldown and why) and its group's usage over
the last 24 hours from the database (requests, failures, error rate, average latency,
spend: every instance's). ``litellm_model_id`` picks one deployment. Credentials are never
shown; ``api_base`` is shown without its password.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..keys.reports import Report, run_report
from ..roles import Caller
from .admin import handle, text_param

__all__ = ["model_info"]

_INFO = ("id", "access_groups", "input_cost_per_token", "output_cost_per_token", "mode",
         "max_input_tokens", "max_output_tokens", "base_model")


async def _usage(state: Any) -> dict[str, dict[str, Any]]:
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=1)
    rows, _ = await run_report(state.store, Report(end - timedelta(hours=24), end, None,
                                                   ["model"]))
    out = {}
    for row in rows:
        requests = row["requests"]
        out[row["model"] or ""] = {
            "requests": requests, "failures": row["failures"],
            "error_rate": row["failures"] / requests if requests else 0.0,
            "avg_latency_ms": row["avg_latency_ms"], "spend": row["spend"],
            "total_tokens": row["total_tokens"]}
    return out


def _visible(caller: Caller, group: str, state: Any) -> bool:
    if caller.reads_all or caller.key is None or not caller.key.models:
        return True
    return bool(state.gate.allowed(list(caller.key.models), group))


async def _model_info(request: Request, caller: Caller) -> Any:
    state = request.app.state.proxy
    router = state.models.router
    wanted = text_param(request, "litellm_model_id")
    usage = await _usage(state)
    cooling = router.cooldowns()
    data = []
    for group, deps in router.groups.items():
        if not _visible(caller, group, state):
            continue
        for dep in deps:
            if wanted is not None and dep.id != wanted:
                continue
            info = {k: dep.model_info.get(k) for k in _INFO if dep.model_info.get(k)
                    is not None}
            health = dict(router.deployment_stats(dep.id))
            health["cooling_down"] = dep.id in cooling
            data.append({"model_name": group,
                         "litellm_params": {"model": dep.model,
                                            "api_base": state.models.by_id[dep.id].api_base
                                            if dep.id in state.models.by_id else None},
                         "model_info": {**info, "id": dep.id, "provider": dep.provider},
                         "health": health, "usage_24h": usage.get(group)})
    return {"data": data}


async def model_info(request: Request) -> Response:
    return await handle(request, _model_info)
