"""``GET /metrics``: Prometheus text format (see :mod:`llmrelay.proxy.metrics`): the
proxy's own series, then the ``prometheus`` integration's when it is configured."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

from ..metrics import integration_text

__all__ = ["metrics"]

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: Request) -> Response:
    state = request.app.state.proxy
    pending = getattr(state.spend, "pending", None) if state.spend is not None else None
    text = state.metrics.render(llmrelay.callback_stats(),
                                int(pending) if pending is not None else None)
    if not state.metrics.shared:  # shared: the integration's series are in the same files
        text += integration_text()
    return Response(text, media_type=_CONTENT_TYPE)
