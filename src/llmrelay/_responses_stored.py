"""Retrieving and deleting a stored response (``get_responses`` / ``delete_responses``).

A response llmrelay translated is in the client's Responses store (see
:mod:`llmrelay._responses_state`) and is answered from there; any other is asked of the
upstream that keeps it (``GET``/``DELETE {base}/responses/{id}`` on OpenAI or Azure): the
provider comes from the stored record, else from ``model=`` / ``custom_llm_provider=``
(default ``openai``), with the usual ``api_key`` / ``api_base`` arguments. Raises
:class:`~llmrelay.NotFoundError` for a response nobody keeps.
"""

from __future__ import annotations

from typing import Any

from ._responses_state import Record, default_store, visible
from .exceptions import NotFoundError
from .types.responses_api import DeleteResponseResult, ResponsesAPIResponse

__all__ = ["adelete_stored", "aget_stored", "delete_stored", "get_stored"]


def _local(client: Any, response_id: str, kwargs: dict[str, Any]) -> Record | None:
    owner = kwargs.get("owner")
    return visible(default_store(client.settings).get(response_id), owner)


def _upstream(client: Any, response_id: str, record: Record | None,
              kwargs: dict[str, Any], method: str) -> tuple[Any, Any, Any]:
    """(translation, call, request) for the upstream keeping ``response_id``."""
    from ._calltypes import call_type
    from .providers.base import Call
    from .providers.registry import provider_for, resolve_model

    if kwargs.get("model"):
        model = str(kwargs["model"])
    elif record is not None:
        model = f"{record.get('provider')}/{record.get('model')}"
    else:
        model = f"{kwargs.get('custom_llm_provider') or 'openai'}/responses"
    spec, name = resolve_model(model, kwargs.get("custom_llm_provider"))
    surface = provider_for(spec, call_type("responses"))
    if not hasattr(surface, "stored_request"):
        raise NotFoundError(f"Response with id '{response_id}' not found: {spec.name} keeps "
                            f"no responses", llm_provider=spec.name, model=name)
    s = client.settings
    call = Call("responses", name, spec, None, None, {}, False,
                kwargs.get("api_base") or kwargs.get("base_url") or s.api_base,
                kwargs.get("api_key") or s.api_key or spec.env_key(),
                kwargs.get("api_version"), kwargs.get("extra_headers"))
    return surface, call, surface.stored_request(call, response_id, method)


def _answer(surface: Any, call: Any, method: str, reply: Any) -> Any:
    if reply.status >= 400:
        raise surface.map_error(call, reply.status, reply.headers, reply.body)
    return surface.parse_stored(call, method, reply.status, reply.headers, reply.body)


def _transport(client: Any) -> Any:
    from .transport import default_transport

    return client.settings.transport or default_transport()


def get_stored(client: Any, response_id: str, kwargs: dict[str, Any]) -> Any:
    record = _local(client, response_id, kwargs)
    if record is not None and record.get("response") is not None:
        return ResponsesAPIResponse(**record["response"])
    surface, call, req = _upstream(client, response_id, record, kwargs, "GET")
    return _answer(surface, call, "GET", _transport(client).send(req, kwargs.get("timeout")))


async def aget_stored(client: Any, response_id: str, kwargs: dict[str, Any]) -> Any:
    store = default_store(client.settings)
    record = visible(await store.aget(response_id), kwargs.get("owner"))
    if record is not None and record.get("response") is not None:
        return ResponsesAPIResponse(**record["response"])
    surface, call, req = _upstream(client, response_id, record, kwargs, "GET")
    reply = await _transport(client).asend(req, kwargs.get("timeout"))
    return _answer(surface, call, "GET", reply)


def delete_stored(client: Any, response_id: str, kwargs: dict[str, Any]) -> Any:
    record = _local(client, response_id, kwargs)
    store = default_store(client.settings)
    if record is not None:
        store.delete(response_id)
        if record.get("response") is not None:
            return DeleteResponseResult(id=response_id)
    surface, call, req = _upstream(client, response_id, record, kwargs, "DELETE")
    return _answer(surface, call, "DELETE",
                   _transport(client).send(req, kwargs.get("timeout")))


async def adelete_stored(client: Any, response_id: str, kwargs: dict[str, Any]) -> Any:
    store = default_store(client.settings)
    record = visible(await store.aget(response_id), kwargs.get("owner"))
    if record is not None:
        await store.adelete(response_id)
        if record.get("response") is not None:
            return DeleteResponseResult(id=response_id)
    surface, call, req = _upstream(client, response_id, record, kwargs, "DELETE")
    reply = await _transport(client).asend(req, kwargs.get("timeout"))
    return _answer(surface, call, "DELETE", reply)
