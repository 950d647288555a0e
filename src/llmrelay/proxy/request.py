"""Reading and checking an LLM request body, once, before anything else happens.

Everything a client can get wrong (no body, malformed JSON, NaN or Infinity numbers,
which Python's json accepts but JSON has not, lone UTF-16 surrogates, which no UTF-8 text
can hold, a body over the size limit, and anything the request contract refuses: see
:mod:`llmrelay.proxy.contract`) becomes a 4xx :class:`~llmrelay.proxy.errors.ProxyError`
with OpenAI's error body, never a 500. A body over the size limit is read and thrown away
(up to a bound) before the 413 goes out, so that the client, still sending, reads the
answer instead of a connection reset. Large bodies are parsed and checked on a worker
thread, so that the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from .contract import ENDPOINTS, CallerPolicy
from .errors import ProxyError
from .lean import AnyRequest

__all__ = ["build_kwargs", "model_of", "read_json", "read_request"]

# Bodies above this size are parsed (and checked) on a worker thread.
OFF_LOOP_BYTES = 256 * 1024
# A body over the limit is drained up to this many times the limit before the 413.
_DRAIN_FACTOR = 4
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


async def read_body(request: AnyRequest, limit: int) -> bytes:
    """The raw request body; a 413 :class:`ProxyError` over ``limit`` bytes, sent after the
    rest of the body was read and dropped (at most ``4 * limit`` bytes more; a client that
    asked ``Expect: 100-continue`` has sent nothing yet and is answered at once)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            raise ProxyError(400, "invalid Content-Length header") from None
        if size > limit:
            if request.headers.get("expect", "").lower() != "100-continue":
                await _drain(request, _DRAIN_FACTOR * limit)
            raise _too_large(limit)
        return await request.body()
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            await _drain(request, _DRAIN_FACTOR * limit - size)
            raise _too_large(limit)
        parts.append(part)
    return b"".join(parts)


async def _drain(request: AnyRequest, budget: int) -> None:
    """Read and drop what is left of the body, up to ``budget`` bytes."""
    try:
        async for part in request.stream():
            budget -= len(part)
            if budget < 0:
                return
    except Exception:
        return  # the client went away or the stream was already read: nothing to drain


async def read_json(request: AnyRequest, limit: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 over ``limit`` bytes, 400 when not JSON."""
    body = await read_body(request, limit)
    if len(body) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse_json, body, True)
    return parse_json(body)


async def read_request(request: AnyRequest, call_type: str, auth: Any, policy: CallerPolicy,
                       limit: int) -> dict[str, Any]:
    """An LLM request body, parsed and checked against the request contract of
    ``call_type``'s endpoint and ``policy`` (on a worker thread when it is large)."""
    body = await read_body(request, limit)
    endpoint = ENDPOINTS[call_type]
    if endpoint.body == "multipart":
        data = await read_form(request.headers, body, endpoint)
        policy.check(endpoint, data, auth)
        return data
    if len(body) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(_parse_and_check, body, call_type, auth, policy, True)
    return _parse_and_check(body, call_type, auth, policy)


async def read_form(headers: Any, body: bytes, endpoint: Any) -> dict[str, Any]:
    """A ``multipart/form-data`` body as request data: files as ``(name, bytes, content
    type)``, ``name[]`` fields as lists, and text fields converted to the type the
    endpoint's contract expects (numbers, booleans). A 400 for anything else."""
    from starlette.formparsers import MultiPartException, MultiPartParser

    ctype = headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ProxyError(400, f"this endpoint takes multipart/form-data, got "
                         f"{ctype or 'no content type'}", code="invalid_content_type")

    async def once() -> Any:
        yield body

    try:
        form = await MultiPartParser(headers, once(), max_files=len(endpoint.files) or 1,
                                     max_fields=100).parse()
    except MultiPartException as exc:
        raise ProxyError(400, f"unreadable multipart body: {exc.message}",
                         code="invalid_multipart") from None
    data: dict[str, Any] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):  # an UploadFile
            if name not in endpoint.files:
                raise ProxyError(400, f"`{name}` cannot be a file here", param=name)
            content = await value.read()
            data[name] = (value.filename or name, content,
                          value.content_type or "application/octet-stream")
            continue
        if name.endswith("[]"):
            data.setdefault(name[:-2], []).append(value)
            continue
        data[name] = _form_value(endpoint.params.get(name), value)
    return data


def _form_value(check: Any, text: str) -> Any:
    """A form field's text as the JSON value its check expects (left as text when it
    does not parse: the check then names the field)."""
    from .contract.checks import Boolean, Integer, Number

    try:
        if isinstance(check, Integer):
            return int(text)
        if isinstance(check, Number):
            return float(text)
    except ValueError:
        return text
    if isinstance(check, Boolean) and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _parse_and_check(body: bytes, call_type: str, auth: Any, policy: CallerPolicy,
                     yielding: bool = False) -> dict[str, Any]:
    data = parse_json(body, yielding)
    policy.check(ENDPOINTS[call_type], data, auth)
    return data


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python code per object (and per integer, below): a thread parsing a large body lets
    # the event loop's thread run every few milliseconds; C-only parsing would hold the
    # GIL throughout.
    return dict(pairs)


def _int(text: str) -> int:
    return int(text)


def parse_json(body: bytes, yielding: bool = False) -> dict[str, Any]:
    """``body`` as a JSON object, or a 400 :class:`ProxyError` saying what is wrong
    (not JSON, NaN/Infinity, a lone surrogate, not an object). ``yielding``: parse with a
    Python hook per object (slower, but lets other threads run; for worker threads)."""
    if not body:
        raise ProxyError(400, "the request body is empty; send a JSON object",
                         code="invalid_json")
    data = _UNREAD if yielding else _parse_plain(body)
    if data is _UNREAD:  # what the plain parse refused, with the reason and where
        bad: list[str] = []
        try:
            data = json.loads(body, parse_constant=_constant(bad), parse_float=_float(bad),
                              object_pairs_hook=_pairs if yielding else None,
                              parse_int=_int if yielding else None)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProxyError(400, f"We could not parse the JSON body of your request: {exc}",
                             code="invalid_json") from None
        except RecursionError:
            raise ProxyError(400, "We could not parse the JSON body of your request: it is "
                             "nested too deeply", code="invalid_json") from None
        if bad:
            where = _path_to(data, _NonFinite)
            field = f"`{where}`" if where else "the request body"
            raise ProxyError(400, f"{field} is {bad[0]}: JSON has no NaN or Infinity; send "
                             f"a finite number or null", param=where or None,
                             code="invalid_json")
    if _SURROGATE_ESCAPE.search(body):
        where = _lone_surrogate(data)
        if where is not None:
            field = f"`{where}`" if where else "a member name"
            raise ProxyError(400, f"{field} holds a lone UTF-16 surrogate (a \\uD800-"
                             f"\\uDFFF escape without its pair), which is not valid Unicode "
                             f"text", param=where or None, code="invalid_json")
    if not isinstance(data, dict):
        raise ProxyError(400, f"the request body must be a JSON object, got "
                         f"{_json_type(data)}", code="invalid_json")
    return data


class _Refused(Exception):
    """A NaN, Infinity or out-of-range number met by the plain parse."""


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf
        raise _Refused
    return value


def _no_constant(name: str) -> float:
    raise _Refused


# One decoder for every body (``json.loads`` with arguments makes a decoder and its scanner
# per call); anything it refuses is parsed again by ``parse_json``'s recording path, which
# says what is wrong and where.
_PLAIN = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)
_UNREAD: Any = object()


def _parse_plain(body: bytes) -> Any:
    """``body`` parsed, or ``_UNREAD`` when it is not plain UTF-8 JSON without NaN,
    Infinity or overflowing numbers (``json.loads`` reads UTF-16 and UTF-32 too)."""
    if body[:1] != b"{" or body[1:2] == b"\x00":
        return _UNREAD
    try:
        return _PLAIN.decode(body.decode("utf-8", "surrogatepass"))
    except (_Refused, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _UNREAD


def _lone_surrogate(value: Any) -> str | None:
    """Where the first string holding a lone surrogate sits (as :func:`_path_to` names
    it; ``""`` when it is a member name), or None."""
    todo: list[tuple[Any, str]] = [(value, "")]
    while todo:
        item, path = todo.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path or None
        elif isinstance(item, dict):
            for k, v in item.items():
                if not _encodable(k):
                    return path
                todo.append((v, f"{path}.{k}" if path else str(k)))
        elif isinstance(item, list):
            todo.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def model_of(data: dict[str, Any]) -> str:
    """The ``model`` of a request body (also one a pre-call hook returned): a 400 unless
    it is a non-empty string."""
    model = data.get("model")
    if isinstance(model, str) and model:
        return model
    if model is None:
        raise ProxyError(400, "Missing required parameter: 'model'.", param="model",
                         code="missing_required_parameter")
    raise ProxyError(400, f"Invalid type for 'model': expected a non-empty string, but got "
                     f"{_json_type(model)} instead.", param="model", code="invalid_type")


def build_kwargs(data: dict[str, Any], auth: Any, call_id: str,
                 group: str) -> dict[str, Any]:
    """SDK call arguments from the request: the key's identity in ``metadata`` (it wins
    over same-named request metadata, so a caller cannot pose as another key)."""
    kwargs = dict(data)
    del kwargs["model"]
    meta = {**(kwargs.pop("litellm_metadata", None) or {}),
            **(kwargs.pop("metadata", None) or {})}
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
