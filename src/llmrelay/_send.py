"""The innermost step of a call: build the provider request, run the in-band pre-call
hooks, send it with retries (or answer from a mock), and parse the reply or open the
stream. Sync and async twins; every step without I/O is shared.

Each attempt goes: the body encoded once (``HTTPRequest.payload()``) -> the provider's
``authorize`` step when it has one (signing sees the final bytes, and runs again per
attempt so signatures and tokens are fresh) -> the client's transport. A stream's body is
fed to the provider's decoder line by line, or as raw byte chunks when the decoder's
``raw_bytes`` is true."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from ._context import UNSET, CallContext, api_base, hidden_params, stream_state
from ._inprocess import aanswer, answer
from ._retry import backoff_delay, is_retryable, timeout_seconds
from ._streaming import AsyncStreamWrapper, CustomStreamWrapper
from ._urls import mask_urls_in, split_base, with_query
from .callbacks.payload import redact_call
from .exceptions import APIConnectionError, LLMRelayError, Timeout
from .providers.base import Call, HTTPRequest, Provider
from .sdk_transport import SDKClientTransport, is_sdk_client
from .transport import Reply, Transport, default_transport

__all__ = ["asend", "send"]

_SDK_WIRES = frozenset({"openai", "azure"})  # wires an OpenAI SDK client passed as client= speaks


# ---- sync -----------------------------------------------------------------------------------
def send(ctx: CallContext) -> Any:
    call, provider, log = ctx.call, ctx.provider, ctx.log
    mocked = _mocked(ctx)
    req = _mock_request(ctx, call) if mocked else _build(provider, call)
    if log is not None:
        log.pre_api_call(req.body, req.headers, "" if mocked else api_base(call),
                         _redacted_body(ctx, mocked) if log.redacts else None)
    if mocked:
        pause = _mock_pause(ctx)
        if pause:
            time.sleep(pause)
        return _mock(ctx)
    if getattr(provider, "in_process", False):  # a Python handler (CustomLLM) answers
        return answer(ctx)
    if call.stream:
        return _open_stream(ctx, req)
    tr = _transport(ctx)
    reply = _with_retries(ctx, lambda: tr.send(_authorized(ctx, req), ctx.timeout), provider)
    if getattr(provider, "follow_up", None) is not None:
        reply = _followed(ctx, tr, reply)
    if log is not None:
        log.post_api_call(reply.body.decode("utf-8", "replace"), reply.headers)
    resp = _parse(ctx, reply)
    resp._hidden_params["response_headers"] = reply.headers
    return resp


def _with_retries(ctx: CallContext, attempt_fn: Callable[[], Any], provider: Provider) -> Any:
    attempt = 0
    while True:
        try:
            reply = attempt_fn()
            if reply.status >= 400:
                body = reply.read() if hasattr(reply, "read") else reply.body
                if ctx.log is not None:
                    # an error body may echo the request URL, query credentials included
                    ctx.log.post_api_call(mask_urls_in(body.decode("utf-8", "replace")),
                                          reply.headers)
                raise provider.map_error(ctx.call, reply.status, reply.headers, body)
            return reply
        except LLMRelayError as exc:
            if attempt >= ctx.num_retries or not is_retryable(exc):
                exc.num_retries = attempt
                raise
            time.sleep(backoff_delay(attempt, exc, ctx.retry_delay))
            attempt += 1


def _follow_deadline(ctx: CallContext) -> float:
    return time.monotonic() + (timeout_seconds(ctx.timeout) or _FOLLOW_LIMIT)


def _next_follow_up(ctx: CallContext, reply: Reply, deadline: float) -> Any:
    """The provider's next request after ``reply`` (None: ``reply`` is the answer);
    raises when its pause would pass the call's deadline (shared by both twins)."""
    nxt = ctx.provider.follow_up(ctx.call, reply.status, reply.headers, reply.body)  # type: ignore[attr-defined]
    if nxt is not None:
        _check_deadline(ctx, deadline, nxt.after)
    return nxt


def _followed(ctx: CallContext, tr: Transport, reply: Reply) -> Reply:
    """The reply that answers the call: the provider's follow-up requests sent (after
    their pause) until it has none, within the call's timeout."""
    deadline = _follow_deadline(ctx)
    while (nxt := _next_follow_up(ctx, reply, deadline)) is not None:
        time.sleep(nxt.after)
        reply = _with_retries(ctx, _sender(ctx, tr, nxt.request), ctx.provider)
    return reply


def _stream_request(ctx: CallContext, tr: Transport, req: HTTPRequest) -> HTTPRequest:
    """The request whose body is streamed: ``req``, or for a provider with a follow-up
    step, the one it names after ``req``'s reply."""
    if getattr(ctx.provider, "follow_up", None) is None:
        return req
    first = _with_retries(ctx, lambda: tr.send(_authorized(ctx, req), ctx.timeout),
                          ctx.provider)
    nxt = ctx.provider.follow_up(ctx.call, first.status, first.headers, first.body)  # type: ignore[attr-defined]
    return req if nxt is None else nxt.request


def _open_stream(ctx: CallContext, req: HTTPRequest) -> CustomStreamWrapper:
    tr = _transport(ctx)
    req = _stream_request(ctx, tr, req)
    s = _with_retries(ctx, lambda: tr.stream(_authorized(ctx, req), ctx.timeout), ctx.provider)
    decoder = ctx.provider.stream_decoder(ctx.call)
    feed, rest = _feeders(decoder)
    pieces = s.chunks()

    def chunks() -> Iterator[Any]:
        try:
            for piece in pieces:
                yield from feed(piece)
            yield from rest()
            yield from decoder.finish()
        except LLMRelayError:
            raise
        except _READ_ERRORS as exc:
            raise _unreadable(ctx, exc) from exc

    stream = CustomStreamWrapper(chunks(), s.close, stream_state(ctx),
                                 hidden_params(ctx, s.headers))
    if ctx.log is not None:  # after the wrapper exists: hooks see it as original_response
        ctx.log.post_api_call(None, s.headers)
    return stream


# ---- async ----------------------------------------------------------------------------------
async def asend(ctx: CallContext) -> Any:
    call, provider, log = ctx.call, ctx.provider, ctx.log
    mocked = _mocked(ctx)
    req = _mock_request(ctx, call) if mocked else _build(provider, call)
    if log is not None:
        await log.apre_api_call(req.body, req.headers, "" if mocked else api_base(call),
                                _redacted_body(ctx, mocked) if log.redacts else None)
    if mocked:
        pause = _mock_pause(ctx)
        if pause:
            await asyncio.sleep(pause)
        return _mock(ctx)
    if getattr(provider, "in_process", False):
        return await aanswer(ctx)
    if call.stream:
        return await _aopen_stream(ctx, req)
    tr = _transport(ctx)

    async def attempt() -> Reply:
        return await tr.asend(await _aauthorized(ctx, req), ctx.timeout)

    reply = await _awith_retries(ctx, attempt, provider)
    if getattr(provider, "follow_up", None) is not None:
        reply = await _afollowed(ctx, tr, reply)
    if log is not None:
        log.post_api_call(reply.body.decode("utf-8", "replace"), reply.headers)
    resp = _parse(ctx, reply)
    resp._hidden_params["response_headers"] = reply.headers
    return resp


async def _awith_retries(ctx: CallContext, attempt_fn: Callable[[], Any],
                         provider: Provider) -> Any:
    attempt = 0
    while True:
        try:
            reply = await attempt_fn()
            if reply.status >= 400:
                body = await reply.read() if hasattr(reply, "read") else reply.body
                if ctx.log is not None:
                    # an error body may echo the request URL, query credentials included
                    ctx.log.post_api_call(mask_urls_in(body.decode("utf-8", "replace")),
                                          reply.headers)
                raise provider.map_error(ctx.call, reply.status, reply.headers, body)
            return reply
        except LLMRelayError as exc:
            if attempt >= ctx.num_retries or not is_retryable(exc):
                exc.num_retries = attempt
                raise
            await asyncio.sleep(backoff_delay(attempt, exc, ctx.retry_delay))
            attempt += 1


async def _afollowed(ctx: CallContext, tr: Transport, reply: Reply) -> Reply:
    """Async :func:`_followed`."""
    deadline = _follow_deadline(ctx)
    while (nxt := _next_follow_up(ctx, reply, deadline)) is not None:
        await asyncio.sleep(nxt.after)
        reply = await _awith_retries(ctx, _asender(ctx, tr, nxt.request), ctx.provider)
    return reply


async def _astream_request(ctx: CallContext, tr: Transport, req: HTTPRequest) -> HTTPRequest:
    """Async :func:`_stream_request`."""
    if getattr(ctx.provider, "follow_up", None) is None:
        return req

    async def attempt() -> Reply:
        return await tr.asend(await _aauthorized(ctx, req), ctx.timeout)

    first = await _awith_retries(ctx, attempt, ctx.provider)
    nxt = ctx.provider.follow_up(ctx.call, first.status, first.headers, first.body)  # type: ignore[attr-defined]
    return req if nxt is None else nxt.request


async def _aopen_stream(ctx: CallContext, req: HTTPRequest) -> AsyncStreamWrapper:
    tr = _transport(ctx)
    req = await _astream_request(ctx, tr, req)

    async def attempt() -> Any:
        return await tr.astream(await _aauthorized(ctx, req), ctx.timeout)

    s = await _awith_retries(ctx, attempt, ctx.provider)
    decoder = ctx.provider.stream_decoder(ctx.call)
    feed, rest = _feeders(decoder)
    pieces = s.chunks()

    async def chunks() -> AsyncIterator[Any]:
        try:
            async for piece in pieces:
                for c in feed(piece):
                    yield c
            for c in rest():
                yield c
            for c in decoder.finish():
                yield c
        except LLMRelayError:
            raise
        except _READ_ERRORS as exc:
            raise _unreadable(ctx, exc) from exc

    stream = AsyncStreamWrapper(chunks(), s.close, stream_state(ctx),
                                hidden_params(ctx, s.headers))
    if ctx.log is not None:  # after the wrapper exists: hooks see it as original_response
        ctx.log.post_api_call(None, s.headers)
    return stream


# ---- shared ---------------------------------------------------------------------------------
_FOLLOW_LIMIT = 600.0  # seconds a call without a timeout waits for a polled job


def _sender(ctx: CallContext, tr: Transport, req: HTTPRequest) -> Callable[[], Reply]:
    return lambda: tr.send(_authorized(ctx, req), ctx.timeout)


def _asender(ctx: CallContext, tr: Transport, req: HTTPRequest
             ) -> Callable[[], Awaitable[Reply]]:
    async def attempt() -> Reply:
        return await tr.asend(await _aauthorized(ctx, req), ctx.timeout)
    return attempt


def _check_deadline(ctx: CallContext, deadline: float, pause: float) -> None:
    """Raise :class:`Timeout` when the next follow-up would start past ``deadline``."""
    if time.monotonic() + pause > deadline:
        raise Timeout(f"no answer within the call's timeout ({ctx.timeout}s): the upstream "
                      f"was still working on it", llm_provider=ctx.call.provider,
                      model=ctx.call.model)


def _transport(ctx: CallContext) -> Transport:
    tr: Transport | None = ctx.settings.transport
    base = tr if tr is not None else default_transport()
    client = ctx.kwargs.get("client") if ctx.kwargs else None
    if client is not None and ctx.call.spec.wire in _SDK_WIRES and is_sdk_client(client):
        # the caller's own client; a key given to the call replaces the client's
        own_auth = ctx.call.api_key != getattr(client, "api_key", None)
        return SDKClientTransport(client, ctx.call.model, base, own_auth)
    return base


def _raw_base(call: Call) -> str | None:
    return call.api_base or call.spec.env_base()


def _build(provider: Provider, call: Call) -> HTTPRequest:
    """The provider's request; a base URL carrying a query string or a user and password
    (see :mod:`llmrelay._urls`) is given to the provider without them, and the query goes
    back on the final URL."""
    base = _raw_base(call)
    if not base or ("?" not in base and "@" not in base):
        return provider.build_request(call)
    clean, query, _ = split_base(base)
    req = provider.build_request(dataclasses.replace(call, api_base=clean))
    req.url = with_query(req.url, query)
    return req


def _url_auth(call: Call, req: HTTPRequest) -> None:
    """The base URL's user and password as ``Basic`` auth, unless the provider's own
    ``Authorization`` (its API key) is already set."""
    base = _raw_base(call)
    if base and "@" in base and not any(k.lower() == "authorization" for k in req.headers):
        auth = split_base(base)[2]
        if auth:
            req.headers["Authorization"] = auth


def _authorized(ctx: CallContext, req: HTTPRequest) -> HTTPRequest:
    """``req`` with its body bytes final and the provider's auth headers for this attempt
    (providers whose auth covers the request, like SigV4, or needs a fresh token define
    ``authorize``)."""
    req.payload()
    _url_auth(ctx.call, req)
    authorize = getattr(ctx.provider, "authorize", None)
    if authorize is not None:
        authorize(ctx.call, req)
    return req


async def _aauthorized(ctx: CallContext, req: HTTPRequest) -> HTTPRequest:
    """:func:`_authorized` without blocking the event loop: when credentials must be
    fetched or refreshed, that happens on a worker thread."""
    req.payload()
    _url_auth(ctx.call, req)
    authorize = getattr(ctx.provider, "authorize", None)
    if authorize is not None and not authorize(ctx.call, req, may_block=False):
        await asyncio.to_thread(authorize, ctx.call, req)
    return req


class _Lines:
    """A line decoder fed the body's byte chunks: each chunk is split into lines (without
    their ``\n``) in one pass, instead of one async-generator step per line through the
    transport's ``lines()``."""

    __slots__ = ("_buf", "_feed")

    def __init__(self, feed: Callable[[bytes], list[Any]]) -> None:
        self._feed = feed
        self._buf = b""

    def feed(self, piece: bytes) -> list[Any]:
        if self._buf:
            piece = self._buf + piece
        lines = piece.split(b"\n")
        self._buf = lines.pop()
        feed = self._feed
        if len(lines) == 1:
            return feed(lines[0])
        out: list[Any] = []
        for line in lines:
            out += feed(line)
        return out

    def rest(self) -> list[Any]:
        """The last line, when the body did not end with a line break."""
        buf, self._buf = self._buf, b""
        return self._feed(buf) if buf else []


def _no_rest() -> list[Any]:
    return []


def _feeders(decoder: Any) -> tuple[Callable[[bytes], list[Any]], Callable[[], list[Any]]]:
    """``(feed, rest)`` for the body's byte chunks: the decoder's own ``feed`` when it takes
    bytes (``raw_bytes``: binary framings), else its lines split here."""
    if getattr(decoder, "raw_bytes", False):
        return decoder.feed, _no_rest
    lines = _Lines(decoder.feed)
    return lines.feed, lines.rest


def _mocked(ctx: CallContext) -> bool:
    """Whether the call is answered without the network (``mock_response``, the ``mock``
    provider, or ``mock_timeout``)."""
    return ctx.mock is not UNSET or ctx.call.spec.wire == "mock" or ctx.mock_timeout


def _mock_pause(ctx: CallContext) -> float:
    """Seconds a mocked call waits before answering: its timeout with ``mock_timeout``
    (then it raises :class:`~llmrelay.Timeout`, as a call that got no reply would), else
    ``mock_delay``."""
    if ctx.mock_timeout:
        return timeout_seconds(ctx.timeout) or 0.0
    delay = ctx.mock_delay
    return float(delay) if isinstance(delay, (int, float)) and delay > 0 else 0.0


def _mock(ctx: CallContext) -> Any:
    from .providers.mock import mock_chunks, mock_result

    mock = None if ctx.mock is UNSET else ctx.mock
    log = ctx.log
    if ctx.mock_timeout:
        raise Timeout(f"mock timeout: no reply within {ctx.timeout}s",
                      llm_provider=ctx.call.provider, model=ctx.call.model)
    tool_calls = ctx.kwargs.get("mock_tool_calls")
    if not ctx.call.stream:
        result = mock_result(ctx.call, mock, tool_calls)
        if log is not None:  # the simulated raw reply
            log.post_api_call(mock if isinstance(mock, str) else None, {})
        return result
    stream = ctx.replay_stream(mock_chunks(ctx.call, mock, tool_calls))
    if log is not None:
        log.post_api_call(None, {})
    return stream


def _redacted_body(ctx: CallContext, mocked: bool) -> Callable[[], Any]:
    """The request body callbacks see when prompts are redacted: the provider's own
    request, built from the redacted call (asked for only when a logger redacts)."""
    def build() -> Any:
        redacted = redact_call(ctx.call, ctx.kind.prompt_params)
        if mocked:
            return _mock_request(ctx, redacted).body
        return _build(ctx.provider, redacted).body
    return build


def _mock_request(ctx: CallContext, call: Call) -> HTTPRequest:
    """The request the provider would get, for callbacks of a mocked call: built with a
    stand-in key and URL when none is configured (no network I/O happens)."""
    stand_in = dataclasses.replace(call, api_key=call.api_key or "mock-key",
                                   api_base=call.api_base or "http://mock.invalid")
    try:
        req: HTTPRequest = ctx.provider.build_request(stand_in)
        return req
    except LLMRelayError:
        from .providers.mock import MockProvider

        return MockProvider(call.spec).build_request(call)


_READ_ERRORS = (KeyError, ValueError, TypeError, AttributeError, IndexError)


def _unreadable(ctx: CallContext, exc: BaseException) -> APIConnectionError:
    """A translation bug on an odd upstream reply as a mapped error, never a bare
    KeyError/ValueError (raised ``from`` the original by the reading code)."""
    return APIConnectionError(
        f"could not read the upstream reply: {type(exc).__name__}: {exc}",
        llm_provider=ctx.call.provider, model=ctx.call.model)


def _parse(ctx: CallContext, reply: Reply) -> Any:
    try:
        return ctx.provider.parse_response(ctx.call, reply.status, reply.headers, reply.body)
    except LLMRelayError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(ctx, exc) from exc


