"""``GET /metrics``: Prometheus text format (see :mod:`llmrelay.proxy.metrics`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

__all__ = ["metrics"]

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: Request) -> Response:
    state = request.app.state.proxy
    pending = getattr(state.spend, "pending", None) if state.spend is not None else None
    text = state.metrics.render(llmrelay.callback_stats(),
                                int(pending) if pending is not None else None)
    return Response(text, media_type=_CONTENT_TYPE)
