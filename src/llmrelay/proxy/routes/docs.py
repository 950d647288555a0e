"""``GET /openapi.json``: the proxy's OpenAPI document (see :mod:`llmrelay.proxy.openapi`),
for this config's model groups and request contract. Open, like LiteLLM's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

from ..sse import json_response

__all__ = ["openapi"]


async def openapi(request: Request) -> Response:
    from ..openapi import document  # built on request: a serving process never loads it

    state = request.app.state.proxy
    return json_response(document(state.cfg.policy, state.models.names(),
                                  llmrelay.__version__))
