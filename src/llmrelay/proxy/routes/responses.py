"""``GET`` and ``DELETE /v1/responses/{response_id}``: a response made through this
proxy, for the key that made it (the master key: any).

A response the proxy translated (a model without the Responses API) is answered from the
proxy's Responses store; one an upstream keeps (OpenAI, Azure) is asked of the deployment
that made it, with that deployment's credentials. A response this proxy did not make, or
another key's, is a 404, as OpenAI answers for an unknown id.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..._responses_state import visible
from ...types.responses_api import DeleteResponseResult, ResponsesAPIResponse
from ..errors import ProxyError, for_caller, from_exception
from ..sse import json_response

__all__ = ["delete_response", "get_response"]

_CREDENTIALS = ("api_key", "api_base", "base_url", "api_version", "extra_headers",
                "azure_ad_token", "timeout")


async def get_response(request: Request) -> Response:
    return await _stored(request, "GET")


async def delete_response(request: Request) -> Response:
    return await _stored(request, "DELETE")


async def _answer(state: Any, rid: str, auth: Any, method: str) -> Any:
    owner = None if auth.user_role == "proxy_admin" else auth.token
    record = visible(await state.responses.aget(rid), owner)
    if record is None:
        raise ProxyError(404, f"Response with id '{rid}' not found.", param="response_id",
                         code="not_found")
    if record.get("response") is not None:  # translated here: the proxy keeps it
        if method == "GET":
            return ResponsesAPIResponse(**record["response"])
        await state.responses.adelete(rid)
        return DeleteResponseResult(id=rid)
    dep = state.models.router.get_deployment(str(record.get("model_id") or ""))
    if dep is None:
        raise ProxyError(404, f"Response with id '{rid}' not found: the deployment that "
                         f"made it is no longer configured", param="response_id",
                         code="not_found")
    kwargs = {k: v for k, v in dep.params.items() if k in _CREDENTIALS and v is not None}
    kwargs["model"] = dep.model
    client = state.client
    if method == "GET":
        return await client.aget_responses(rid, **kwargs)
    return await client.adelete_responses(rid, **kwargs)


async def _stored(request: Request, method: str) -> Response:
    state = request.app.state.proxy
    auth = None
    try:
        auth = await state.auth.authenticate(request.headers)
        result = await _answer(state, request.path_params["response_id"], auth, method)
        return json_response(result)
    except Exception as exc:
        err = for_caller(from_exception(exc), exc, auth, "-")
        return json_response(err.body(), err.status_code, err.headers)
