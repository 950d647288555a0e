"""``GET /health``: whether each configured deployment answers now (LiteLLM's model health
check; the probes for orchestrators are ``/health/liveliness`` and ``/health/readiness``).

One small real call per deployment the caller's key may use (``?model=<group>`` for one
group), all at once, each within its ``model_info.health_check_timeout`` (default 60 s).
See :mod:`llmrelay.health_check`: the calls bypass callbacks, the cache and spend records.
The answer lists ``healthy_endpoints`` and ``unhealthy_endpoints`` (each the deployment's
configured ``litellm_params`` without secrets, its group and id; the unhealthy ones with
the ``error``) and their counts. Wildcard deployments (``openai/*``) name no model to call
and are listed under ``skipped_endpoints``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...health_check import HEALTH_CHECK_TIMEOUT, ahealth_check, display_params
from ..errors import ProxyError, from_exception
from ..sse import json_response

__all__ = ["model_health"]


def _shown(dep: Any) -> dict[str, Any]:
    lp = (dep.config.get("litellm_params") or {}) if isinstance(dep.config, dict) else {}
    return {**display_params(lp), "model_name": dep.model_name, "model_id": dep.id}


async def _check(dep: Any) -> dict[str, Any]:
    if dep.error is not None:
        return {"error": dep.error.message}
    info = dep.model_info or {}
    timeout = float(info.get("health_check_timeout") or HEALTH_CHECK_TIMEOUT)
    return await ahealth_check({**dep.params, "model": dep.model}, mode=info.get("mode"),
                               default_timeout=timeout)


async def model_health(request: Request) -> Response:
    state = request.app.state.proxy
    try:
        auth = await state.auth.authenticate(request.headers)
        router = state.models.router
        groups = router.groups  # the router's deployments (params, model_info)
        names = [n for n in groups if not auth.models or n in set(auth.models)]
        patterns = [p for p in router.patterns if not auth.models or p.name in auth.models]
        wanted = request.query_params.get("model")
        if wanted is not None:
            names = [n for n in names if n == wanted]
            patterns = [p for p in patterns if p.name == wanted]
            if not names and not patterns:
                raise ProxyError(404, f"The model `{wanted}` does not exist", param="model",
                                 code="model_not_found")
    except Exception as exc:
        err = from_exception(exc)
        return json_response(err.body(), err.status_code)
    checked = [d for n in names for d in groups[n]]
    results = await asyncio.gather(*(_check(d) for d in checked))
    healthy: list[dict[str, Any]] = []
    unhealthy: list[dict[str, Any]] = []
    for dep, result in zip(checked, results, strict=True):
        entry = _shown(dep)
        if "error" in result:
            unhealthy.append({**entry, "error": result["error"]})
        else:
            healthy.append({**entry, **result})
    return json_response({
        "healthy_endpoints": healthy, "unhealthy_endpoints": unhealthy,
        "healthy_count": len(healthy), "unhealthy_count": len(unhealthy),
        "skipped_endpoints": [{**display_params(entry.get("litellm_params") or {}),
                               "model_name": p.name} for p in patterns for _, entry in p.entries]})
