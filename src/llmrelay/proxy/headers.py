"""LiteLLM's response headers, next to llmrelay's own ``x-llmrelay-*`` ones, so that
dashboards and clients reading them keep working (names as LiteLLM 1.108.7 sends them):

==================================  =====================================================
``x-litellm-call-id``               the call id (also ``x-llmrelay-call-id``)
``x-litellm-model-group``           the model name the request asked for
``x-litellm-model-id``              the deployment that answered (``model_info.id``)
``x-litellm-model-name``            that deployment's model, e.g. ``openai/gpt-4o-mini``
``x-litellm-model-api-base``        its API base, without the query string
``x-litellm-version``               llmrelay's version
``x-litellm-response-cost``         USD (absent while unknown: streams, unpriced models)
``x-litellm-key-spend``             the key's spend including this response
``x-litellm-key-max-budget``        the key's limits, when it has them
``x-litellm-key-rpm-limit`` / ``x-litellm-key-tpm-limit``
``x-litellm-response-duration-ms``  the proxy's whole time for the request
``x-litellm-overhead-duration-ms``  the proxy's own time (upstream excluded)
``x-litellm-attempted-retries``     retries in the serving model group
``x-litellm-attempted-fallbacks``   fallback groups tried
==================================  =====================================================
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import llmrelay

from .key_settings import check_soft_budget

if TYPE_CHECKING:
    from .routes.llm import LLMRequest

__all__ = ["litellm_headers"]


def _ms(seconds: float) -> str:
    return f"{max(seconds, 0.0) * 1000.0:.3f}"


def litellm_headers(req: LLMRequest, cost: float | None, hidden: dict[str, Any] | None,
                    overhead_s: float) -> dict[str, str]:
    """The ``x-litellm-*`` headers of one response (``hidden``: its ``_hidden_params``,
    None for errors before any upstream answer)."""
    hidden = hidden or {}
    out = {"x-litellm-call-id": req.call_id, "x-litellm-version": llmrelay.__version__,
           "x-litellm-response-duration-ms": _ms(time.perf_counter() - req.t0),
           "x-litellm-overhead-duration-ms": _ms(overhead_s)}
    if req.group:
        out["x-litellm-model-group"] = req.group
    if cost is not None:
        out["x-litellm-response-cost"] = repr(float(cost))
    model_id = hidden.get("model_id")
    if model_id and req.group:
        try:
            dep = req.state.models.deployment_for(req.group, hidden)
        except Exception:
            dep = None
        out["x-litellm-model-id"] = str(model_id)
        if dep is not None:
            out["x-litellm-model-name"] = dep.model
            base = dep.api_base or hidden.get("api_base")
            if base:
                out["x-litellm-model-api-base"] = str(base).split("?", 1)[0]
    for name, header in _ATTEMPTS:
        value = hidden.get(name)
        if value is not None:
            out[header] = str(value)
    _key(req, cost, out)
    return out


_ATTEMPTS = (("attempted_retries", "x-litellm-attempted-retries"),
             ("attempted_fallbacks", "x-litellm-attempted-fallbacks"))


def _key(req: LLMRequest, cost: float | None, out: dict[str, str]) -> None:
    auth = req.auth
    if auth is None:
        return
    rec = getattr(auth, "record", None)
    try:
        spend = req.state.spend_now(rec) if rec is not None else 0.0
    except Exception:
        spend = float(getattr(auth, "spend", 0.0) or 0.0)
    total = float(spend) + float(cost or 0.0)
    out["x-litellm-key-spend"] = repr(total)
    check_soft_budget(rec, total, out)
    for attr, header in _KEY_LIMITS:
        value = getattr(auth, attr, None)
        if value is not None:
            out[header] = str(value)


_KEY_LIMITS = (("max_budget", "x-litellm-key-max-budget"),
               ("rpm_limit", "x-litellm-key-rpm-limit"), ("tpm_limit", "x-litellm-key-tpm-limit"))
