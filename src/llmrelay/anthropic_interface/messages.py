"""``llmrelay.anthropic.messages``: Anthropic's Messages API to any model, as the
Anthropic SDK's ``messages.create`` takes it.

``create`` / ``acreate`` are the default client's ``anthropic_messages`` /
``aanthropic_messages`` (see :class:`llmrelay.Client`). ``count_tokens`` asks Anthropic's
``/v1/messages/count_tokens`` for Anthropic models, and estimates the count for every other
model from the same prompt in chat form (:func:`llmrelay.token_counter`; exact with
``pip install 'llmrelay[tokens]'`` for OpenAI's tokenizers).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["acount_tokens", "acreate", "count_tokens", "create"]


def _client(client: Client | None) -> Client:
    from .._client import default_client

    return client if client is not None else default_client()


def create(max_tokens: int | None = None, messages: list[Any] | None = None,
           model: str = "", **kwargs: Any) -> Any:
    """A Messages API call (sync): the message, or with ``stream=True`` an iterator of
    events."""
    return _client(kwargs.pop("client", None)).anthropic_messages(max_tokens, messages, model,
                                                                   **kwargs)


async def acreate(max_tokens: int | None = None, messages: list[Any] | None = None,
                  model: str = "", **kwargs: Any) -> Any:
    """Async :func:`create`."""
    return await _client(kwargs.pop("client", None)).aanthropic_messages(
        max_tokens, messages, model, **kwargs)


def _prepare(model: str, messages: list[Any], kwargs: dict[str, Any],
             client: Client) -> tuple[Any, Any, Any]:
    """(native translation or None, the call, the estimate) for a count request."""
    from .._calltypes import call_type
    from ..providers.base import Call
    from ..providers.registry import provider_for, resolve_model

    spec, name = resolve_model(model, kwargs.get("custom_llm_provider"))
    kind = call_type("anthropic_messages")
    params = {k: kwargs[k] for k in ("system", "tools", "tool_choice", "thinking")
              if kwargs.get(k) is not None}
    s = client.settings
    call = Call("anthropic_messages", name, spec, messages, None,
                {"max_tokens": 1, **params}, False,
                kwargs.get("api_base") or s.api_base,
                kwargs.get("api_key") or s.api_key or spec.env_key(),
                extra_headers=kwargs.get("extra_headers"))
    native = provider_for(spec, kind)
    if hasattr(native, "count_tokens_request"):
        return native, call, None
    from ..providers.bridges.messages_in import chat_messages
    from ..tokens import token_counter

    chat = chat_messages(params.get("system"), messages)
    count = token_counter(name, messages=chat)
    if params.get("tools"):
        count += token_counter(name, text=json.dumps(params["tools"]))
    return None, call, {"input_tokens": count}


def count_tokens(model: str, messages: list[Any], client: Client | None = None,
                 **kwargs: Any) -> dict[str, int]:
    """``{"input_tokens": n}`` for a Messages API request (``system``, ``tools`` ...).
    Raises the mapped error when Anthropic refuses the count."""
    c = _client(client)
    native, call, estimate = _prepare(model, messages, kwargs, c)
    if native is None:
        return dict(estimate)
    from ..transport import default_transport

    tr = c.settings.transport or default_transport()
    req = native.count_tokens_request(call)
    reply = tr.send(req, kwargs.get("timeout"))
    return _read(native, call, reply)


async def acount_tokens(model: str, messages: list[Any], client: Client | None = None,
                        **kwargs: Any) -> dict[str, int]:
    """Async :func:`count_tokens`."""
    c = _client(client)
    native, call, estimate = _prepare(model, messages, kwargs, c)
    if native is None:
        return dict(estimate)
    from ..transport import default_transport

    tr = c.settings.transport or default_transport()
    req = native.count_tokens_request(call)
    reply = await tr.asend(req, kwargs.get("timeout"))
    return _read(native, call, reply)


def _read(native: Any, call: Any, reply: Any) -> dict[str, int]:
    if reply.status >= 400:
        raise native.map_error(call, reply.status, reply.headers, reply.body)
    data = json.loads(reply.body)
    return {"input_tokens": int(data.get("input_tokens") or 0)}
