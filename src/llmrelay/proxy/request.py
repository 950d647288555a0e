"""Reading and checking an LLM request body, once, before anything else happens.

Everything a client can get wrong (no body, malformed JSON, NaN or Infinity numbers,
which Python's json accepts but JSON has not, a body over the size limit, missing
``model``/``messages``/``prompt``/``input``, wrong types, options that would let a caller
redirect the upstream call) becomes a 4xx :class:`~llmrelay.proxy.errors.ProxyError`
with OpenAI's error body, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import ProxyError

__all__ = ["DENIED_OPTIONS", "build_kwargs", "check_body", "read_json"]

# SDK options a client must not set: they pick credentials, endpoints or callbacks, which
# belong to the proxy's config (a virtual key could otherwise aim the proxy's provider key
# at a server of its choosing).
DENIED_OPTIONS = frozenset({
    "api_key", "api_base", "base_url", "api_version", "custom_llm_provider", "extra_headers",
    "headers", "organization", "model_list", "callbacks", "success_callback",
    "failure_callback", "input_callback", "litellm_logging_obj", "proxy_server_request",
    "litellm_call_id", "model_info", "turn_off_message_logging", "no-log",
})

_NUMBER = (int, float)
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "stream": ((bool,), "a boolean"),
    "temperature": (_NUMBER, "a number"),
    "top_p": (_NUMBER, "a number"),
    "presence_penalty": (_NUMBER, "a number"),
    "frequency_penalty": (_NUMBER, "a number"),
    "max_tokens": ((int,), "an integer"),
    "max_completion_tokens": ((int,), "an integer"),
    "n": ((int,), "an integer"),
    "seed": ((int,), "an integer"),
    "dimensions": ((int,), "an integer"),
    "stop": ((str, list), "a string or a list of strings"),
    "stream_options": ((dict,), "an object"),
    "metadata": ((dict,), "an object"),
    "tools": ((list,), "an array"),
    "user": ((str,), "a string"),
    "tags": ((list,), "an array of strings"),
    "response_format": ((dict,), "an object"),
}
_INPUT = {"completion": "messages", "text_completion": "prompt", "embeddings": "input"}


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 over ``limit`` bytes, 400 when not JSON."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            raise ProxyError(400, "invalid Content-Length header") from None
        if size > limit:
            raise _too_large(limit)
        body = await request.body()
    else:
        parts: list[bytes] = []
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise _too_large(limit)
            parts.append(part)
        body = b"".join(parts)
    if not body:
        raise ProxyError(400, "the request body is empty; send a JSON object",
                         code="invalid_json")
    bad: list[str] = []
    try:
        data = json.loads(body, parse_constant=_constant(bad), parse_float=_float(bad))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProxyError(400, f"We could not parse the JSON body of your request: {exc}",
                         code="invalid_json") from None
    except RecursionError:
        raise ProxyError(400, "We could not parse the JSON body of your request: it is "
                         "nested too deeply", code="invalid_json") from None
    if bad:
        where = _path_to(data, _NonFinite)
        field = f"`{where}`" if where else "the request body"
        raise ProxyError(400, f"{field} is {bad[0]}: JSON has no NaN or Infinity; send a "
                         f"finite number or null", param=where or None, code="invalid_json")
    if not isinstance(data, dict):
        raise ProxyError(400, f"the request body must be a JSON object, got "
                         f"{_json_type(data)}", code="invalid_json")
    return data


class _NonFinite(float):
    """Stands in for a NaN, Infinity or out-of-range number while the body is parsed, so
    that :func:`_path_to` can name the field holding it."""


def _constant(bad: list[str]) -> Any:
    def parse(name: str) -> float:
        bad.append(name)
        return _NonFinite("nan")
    return parse


def _float(bad: list[str]) -> Any:
    def parse(text: str) -> float:
        value = float(text)
        if value - value != 0.0:  # inf (1e999 overflows to it); NaN never gets here
            bad.append(f"{text}, too large for a number")
            return _NonFinite(value)
        return value
    return parse


def _path_to(value: Any, kind: type) -> str | None:
    """Where the first ``kind`` instance sits in parsed JSON, as ``a.b[0].c``; ``""`` for
    the top level, None when absent. Iterative: deep bodies cannot exhaust the stack."""
    todo: list[tuple[Any, str]] = [(value, "")]
    while todo:
        item, path = todo.pop()
        if isinstance(item, kind):
            return path
        if isinstance(item, dict):
            todo.extend((v, f"{path}.{k}" if path else str(k))
                        for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            todo.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


def _too_large(limit: int) -> ProxyError:
    mb = limit / (1024 * 1024)
    return ProxyError(413, f"request body too large: the limit is {mb:g} MB "
                      f"(general_settings.max_request_size_mb)", code="request_too_large")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad(param: str, message: str) -> ProxyError:
    return ProxyError(400, message, param=param, code="invalid_value")


def check_body(data: dict[str, Any], call_type: str) -> str:
    """Check the fields every request needs and the common types; returns ``model``."""
    model = data.get("model")
    if not isinstance(model, str) or not model:
        if model is None:
            raise ProxyError(400, "you must provide a model parameter", param="model",
                             code="missing_required_parameter")
        raise _bad("model", f"`model` must be a non-empty string, got {_json_type(model)}")
    name = _INPUT[call_type]
    value = data.get(name)
    if value is None:
        raise ProxyError(400, f"Missing required parameter: '{name}'.", param=name,
                         code="missing_required_parameter")
    if call_type == "completion":
        _check_messages(value)
    elif not isinstance(value, (str, list)) or (isinstance(value, list) and not value):
        raise _bad(name, f"`{name}` must be a string or a non-empty array, got "
                         f"{_json_type(value)}")
    for key, v in data.items():
        expected = _TYPES.get(key)
        if expected is not None:
            types, what = expected
            if v is not None and (not isinstance(v, types) or (
                    isinstance(v, bool) and bool not in types)):
                raise _bad(key, f"`{key}` must be {what}, got {_json_type(v)}")
        elif key in DENIED_OPTIONS:
            raise ProxyError(400, f"`{key}` is not allowed in the request body: the "
                             f"proxy's config decides it", param=key,
                             code="param_not_allowed")
    return model


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _bad("messages", f"`messages` must be an array of message objects, got "
                               f"{_json_type(messages)}")
    if not messages:
        raise _bad("messages", "`messages` must not be empty")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad("messages", f"messages[{i}] must be an object with `role` and "
                                   f"`content`, got {_json_type(m)}")
        if not isinstance(m.get("role"), str):
            raise _bad("messages", f"messages[{i}].role is required (a string)")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise _bad("messages", f"messages[{i}].content must be a string or an array of "
                                   f"content parts, got {_json_type(content)}")


def build_kwargs(data: dict[str, Any], auth: Any, call_id: str,
                 group: str) -> dict[str, Any]:
    """SDK call arguments from the request: the key's identity in ``metadata`` (it wins
    over same-named request metadata, so a caller cannot pose as another key)."""
    kwargs = dict(data)
    del kwargs["model"]
    meta = dict(kwargs.pop("metadata", None) or {})
    tags = kwargs.pop("tags", None)
    if tags:
        meta["tags"] = tags
    meta["user_api_key_hash"] = auth.token
    meta["user_api_key_alias"] = auth.key_alias
    meta["user_api_key_user_id"] = auth.user_id
    meta["user_api_key_team_id"] = auth.team_id
    meta["model_group"] = group
    kwargs["metadata"] = meta
    kwargs["litellm_call_id"] = call_id
    return kwargs
