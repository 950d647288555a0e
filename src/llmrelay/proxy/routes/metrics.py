"""``GET /metrics``: Prometheus text format (see :mod:`llmrelay.proxy.metrics`): the
proxy's own series, then the ``prometheus`` integration's when it is configured.

Open by default, as LiteLLM's; ``general_settings.require_auth_for_metrics_endpoint``
(or LiteLLM's ``litellm_settings`` key of that name) set to ``true`` asks for any valid key,
``"admin"`` for the master key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

from ..errors import from_exception
from ..metrics import integration_text
from ..metrics_accounting import accounting_values
from ..sse import json_response

__all__ = ["metrics"]

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: Request) -> Response:
    state = request.app.state.proxy
    try:
        await state.auth.require(request.headers, state.cfg.policy.metrics_auth)
    except Exception as exc:
        err = from_exception(exc)
        return json_response(err.body(), err.status_code)
    text = state.metrics.render(llmrelay.callback_stats(), accounting_values(state))
    if not state.metrics.shared:  # shared: the integration's series are in the same files
        text += integration_text(state.client.settings)
    return Response(text, media_type=_CONTENT_TYPE)
