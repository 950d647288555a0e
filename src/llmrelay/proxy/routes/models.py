"""``GET /v1/models`` and ``GET /v1/models/{id}``: the model groups a caller may use."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ProxyError, from_exception
from ..sse import json_response

__all__ = ["get_model", "list_models"]


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "llmrelay"}


async def _allowed(request: Request) -> list[str]:
    state = request.app.state.proxy
    auth = await state.auth.authenticate(request.headers)
    names = state.models.names()
    if auth.models:
        allowed = set(auth.models)
        names = [n for n in names if n in allowed]
    return names  # type: ignore[no-any-return]


async def list_models(request: Request) -> Response:
    try:
        names = await _allowed(request)
    except Exception as exc:
        err = from_exception(exc)
        return json_response(err.body(), err.status_code)
    created = int(request.app.state.proxy.started_at)
    return json_response({"object": "list", "data": [_model(n, created) for n in names]})


async def get_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    try:
        names = await _allowed(request)
        if model_id not in names:
            raise ProxyError(404, f"The model `{model_id}` does not exist", param="model",
                             code="model_not_found")
    except Exception as exc:
        err = from_exception(exc)
        return json_response(err.body(), err.status_code)
    return json_response(_model(model_id, int(request.app.state.proxy.started_at)))
