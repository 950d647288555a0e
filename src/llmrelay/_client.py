"""Client: the call pipeline behind completion/acompletion/embedding/...

One call goes: check arguments and resolve the provider (``_prepare``) -> wrap in the
configured layers (caching ...) -> ``_send``: build the provider request, run the in-band
pre-call hooks, send with retries, parse -> ``_finish``: price it and emit the terminal
callback event. Sync and async twins share every step that does no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import types as _pytypes
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from . import transport
from ._params import check_messages, split_params
from ._retry import backoff_delay, is_retryable
from ._streaming import AsyncStreamWrapper, CustomStreamWrapper, StreamState, stream_chunk_builder
from .callbacks.calllog import CallLog
from .callbacks.plan import plan_for
from .cost import usage_cost
from .exceptions import APIConnectionError, BadRequestError, LLMRelayError, Timeout
from .providers.base import Call, HTTPRequest, Provider
from .providers.registry import get_provider, resolve_model
from .types import new_call_id

__all__ = ["CallContext", "Client"]

_UNSET: Any = object()
_SETTINGS: dict[str, Any] = {
    "callbacks": [], "input_callback": [], "success_callback": [], "failure_callback": [],
    "cache": None, "num_retries": 0, "request_timeout": None, "drop_params": False,
    "turn_off_message_logging": False, "api_key": None, "api_base": None,
    "retry_initial_delay": 0.5,
}


class CallContext:
    """Everything one call needs after argument checking; layers may read and annotate it."""

    __slots__ = (
        "cache_hit",
        "cache_options",
        "call",
        "call_id",
        "call_type",
        "client",
        "extra",
        "is_async",
        "kwargs",
        "log",
        "metadata",
        "mock",
        "num_retries",
        "provider",
        "retry_delay",
        "timeout",
    )

    cache_hit: bool
    cache_options: Any
    call: Call
    client: Client
    call_id: str
    call_type: str
    is_async: bool
    kwargs: dict[str, Any]
    log: CallLog | None
    metadata: dict[str, Any] | None
    mock: Any
    num_retries: int
    provider: Any  # a Provider; typed loosely since wires add methods beyond the protocol
    retry_delay: float
    timeout: Any
    extra: dict[str, Any]

    def __init__(self) -> None:
        self.cache_hit = False
        self.extra = {}

    def replay_stream(self, chunks: list[Any]) -> Any:
        """A stream of ready chunks through the same wrapper and end-of-stream bookkeeping
        as a live one (used by mock replies and cache hits)."""
        c = self.client
        state = StreamState(self.log, c._want_usage(self), c._stream_end(self))
        meta = c._hidden(self, None)
        if self.is_async:
            return AsyncStreamWrapper(_aiter(chunks), _noop, state, meta)
        return CustomStreamWrapper(iter(chunks), _noop, state, meta)


class Client:
    """The llmrelay API with its own settings and no global state.

    ``Client(callbacks=[...], cache=..., num_retries=2)`` offers ``completion``,
    ``acompletion``, ``embedding``, ``aembedding``, ``text_completion`` and
    ``atext_completion`` exactly like the module functions, which use a default client
    that reads the ``llmrelay.*`` module settings at call time.
    """

    def __init__(self, *, callbacks: list[Any] | None = None,
                 input_callback: list[Any] | None = None,
                 success_callback: list[Any] | None = None,
                 failure_callback: list[Any] | None = None, cache: Any = None,
                 num_retries: int = 0, timeout: float | None = None, drop_params: bool = False,
                 turn_off_message_logging: bool = False, api_key: str | None = None,
                 api_base: str | None = None, _settings: Any = None) -> None:
        if _settings is not None:
            self._src = _settings
        else:
            self._src = _pytypes.SimpleNamespace(
                callbacks=list(callbacks or []), input_callback=list(input_callback or []),
                success_callback=list(success_callback or []),
                failure_callback=list(failure_callback or []), cache=cache,
                num_retries=num_retries, request_timeout=timeout, drop_params=drop_params,
                turn_off_message_logging=turn_off_message_logging, api_key=api_key,
                api_base=api_base, retry_initial_delay=0.5)
        self.layers: list[Any] = []  # extra layers (outermost first), e.g. a router's

    def _get(self, name: str) -> Any:
        return getattr(self._src, name, _SETTINGS[name])

    # ---- preparation (no I/O) -----------------------------------------------------------
    def _prepare(self, call_type: str, model: str, messages: Any, input: Any,
                 kwargs: dict[str, Any], is_async: bool) -> CallContext:
        """Check arguments and build the call's context. A bad argument raises before any
        I/O, after its failure event is handed to the callbacks (one terminal event per
        call, even for calls that never reached a provider)."""
        try:
            return self._build_ctx(call_type, model, messages, input, kwargs, is_async)
        except LLMRelayError as exc:
            self._fail_early(call_type, model, messages, input, kwargs, is_async, exc)
            raise

    def _lists(self, kwargs: dict[str, Any]) -> list[Any]:
        lists = []
        for name in ("callbacks", "input_callback", "success_callback", "failure_callback"):
            base = self._get(name)
            extra = kwargs.get(name)
            lists.append(list(base) + list(extra) if extra else base)
        return lists

    def _redact(self, kwargs: dict[str, Any]) -> bool:
        redact = kwargs.get("turn_off_message_logging")
        return bool(self._get("turn_off_message_logging") if redact is None else redact)

    def _fail_early(self, call_type: str, model: Any, messages: Any, input: Any,
                    kwargs: dict[str, Any], is_async: bool, exc: LLMRelayError) -> None:
        try:
            lists = self._lists(kwargs)
            plan = plan_for(lists[0], lists[1], lists[2], lists[3], is_async)
            if plan is None or not plan.failure:
                return
            name = model if isinstance(model, str) else repr(model)
            provider = kwargs.get("custom_llm_provider") or (
                name.partition("/")[0] if "/" in name else None)
            log = CallLog(plan, call_type=("a" if is_async else "") + call_type, model=name,
                          provider=provider,
                          messages=messages if isinstance(messages, list) else None,
                          input=input, optional_params={}, metadata=kwargs.get("metadata"),
                          api_base=None, api_key=None,
                          call_id=kwargs.get("litellm_call_id") or new_call_id(),
                          trace_id=kwargs.get("litellm_trace_id"),
                          stream=bool(kwargs.get("stream")), is_async=is_async,
                          redact=self._redact(kwargs))
            log.failure(exc)
        except Exception:  # reporting a bad call must never hide its real error
            logging.getLogger("llmrelay").debug("failure event for a bad call failed",
                                                exc_info=True)

    def _build_ctx(self, call_type: str, model: str, messages: Any, input: Any,
                   kwargs: dict[str, Any], is_async: bool) -> CallContext:
        spec, model_name = resolve_model(model, kwargs.get("custom_llm_provider"))
        provider = get_provider(spec)
        if call_type == "completion":
            messages = check_messages(messages)
        elif input is None or input == "" or input == []:
            what = "prompt" if call_type == "text_completion" else "input"
            raise BadRequestError(f"`{what}` is required for {call_type}", param=what)
        drop = kwargs.get("drop_params")
        if drop is None:
            drop = self._get("drop_params")
        params = split_params(kwargs, provider.supported_params(call_type), bool(drop),
                              spec.name, model_name)
        stream = bool(params.pop("stream", False))
        api_key = kwargs.get("api_key") or self._get("api_key") or spec.env_key()
        api_base = kwargs.get("api_base") or kwargs.get("base_url") or self._get("api_base")
        headers = kwargs.get("extra_headers") or kwargs.get("headers")
        call = Call(call_type, model_name, spec, messages, input, params, stream, api_base,
                    api_key, kwargs.get("api_version"), headers, kwargs.get("extra_body"),
                    kwargs.get("azure_ad_token"))
        ctx = CallContext()
        ctx.client = self
        ctx.call = call
        ctx.call_type = call_type
        ctx.provider = provider
        ctx.kwargs = kwargs
        ctx.is_async = is_async
        ctx.mock = kwargs.get("mock_response", _UNSET)
        ctx.metadata = kwargs.get("metadata")
        ctx.call_id = kwargs.get("litellm_call_id") or new_call_id()
        timeout = kwargs.get("timeout") or kwargs.get("request_timeout")
        ctx.timeout = timeout if timeout is not None else self._get("request_timeout")
        retries = kwargs.get("num_retries", kwargs.get("max_retries"))
        ctx.num_retries = int(retries if retries is not None else self._get("num_retries") or 0)
        ctx.retry_delay = float(self._get("retry_initial_delay"))
        ctx.cache_options = kwargs.get("cache")
        ctx.log = self._make_log(ctx, kwargs, is_async)
        return ctx

    def _make_log(self, ctx: CallContext, kwargs: dict[str, Any], is_async: bool) -> CallLog | None:
        lists = self._lists(kwargs)
        plan = plan_for(lists[0], lists[1], lists[2], lists[3], is_async)
        if plan is None:
            return None
        call = ctx.call
        prefix = "a" if is_async else ""
        return CallLog(plan, call_type=prefix + ctx.call_type, model=call.model,
                       provider=call.provider, messages=call.messages, input=call.input,
                       optional_params=call.params, metadata=ctx.metadata,
                       api_base=call.api_base, api_key=call.api_key, call_id=ctx.call_id,
                       trace_id=kwargs.get("litellm_trace_id"), stream=call.stream,
                       is_async=is_async, redact=self._redact(kwargs))

    def _layers(self, ctx: CallContext) -> list[Any]:
        """Outermost first: the cache (a hit skips routing entirely), then ``self.layers``
        (e.g. a router's)."""
        cache = self._get("cache")
        layer = getattr(cache, "as_layer", None) if cache is not None else None
        if layer is None:
            return self.layers
        return [layer(), *self.layers]

    # ---- finishing (no I/O) -----------------------------------------------------------------
    def _hidden(self, ctx: CallContext, headers: dict[str, str] | None) -> dict[str, Any]:
        call = ctx.call
        return {"custom_llm_provider": call.provider, "api_base": call.api_base,
                "litellm_call_id": ctx.call_id, "response_headers": headers or {},
                "additional_headers": {}, "cache_hit": ctx.cache_hit,
                "model_id": ctx.extra.get("model_id")}

    def _finish(self, ctx: CallContext, response: Any) -> Any:
        hidden = response.__dict__.setdefault("_hidden_params", {})
        for k, v in self._hidden(ctx, hidden.get("response_headers")).items():
            hidden.setdefault(k, v)
        usage = getattr(response, "usage", None)
        if usage is not None and not usage.total_tokens and not ctx.cache_hit:
            _estimate_usage(ctx, response)  # some compatible servers send no usage
        if ctx.cache_hit:
            hidden["cache_hit"] = True
            cost: float | None = 0.0
        else:
            cost = usage_cost(ctx.call.model, ctx.call.provider, response.usage)
        hidden["response_cost"] = cost
        if ctx.log is not None:
            ctx.log.success(response, cost=cost, cache_hit=ctx.cache_hit, **ctx.extra)
        return response

    def _stream_end(self, ctx: CallContext) -> Callable[[StreamState, str, BaseException | None],
                                                         None]:
        def on_end(state: StreamState, status: str, error: BaseException | None) -> None:
            log = ctx.log
            if log is None:
                return
            if error is not None:
                log.failure(error, stream_status=status, **ctx.extra)
                return
            resp = stream_chunk_builder(state.chunks, ctx.call.messages)
            if resp is None:
                resp = stream_chunk_builder([_empty_chunk(ctx)], ctx.call.messages)
            cost = 0.0 if ctx.cache_hit else usage_cost(ctx.call.model, ctx.call.provider,
                                                        resp.usage)
            resp._hidden_params.update(self._hidden(ctx, None))
            resp._hidden_params["response_cost"] = cost
            log.success(resp, cost=cost, cache_hit=ctx.cache_hit, stream_status=status,
                        **ctx.extra)
        return on_end

    def _want_usage(self, ctx: CallContext) -> bool:
        opts = ctx.call.params.get("stream_options") or {}
        return bool(opts.get("include_usage"))

    def _fail(self, ctx: CallContext, exc: BaseException) -> None:
        if isinstance(exc, LLMRelayError):
            exc.llm_provider = exc.llm_provider or ctx.call.provider
            exc.model = exc.model or ctx.call.model
        if ctx.log is not None:
            ctx.log.failure(exc, **ctx.extra)

    # ---- sync pipeline ----------------------------------------------------------------------
    def _run(self, ctx: CallContext) -> Any:
        handler: Callable[[CallContext], Any] = self._send
        for layer in reversed(self._layers(ctx)):
            handler = _bind(layer.handle, handler)
        try:
            result = handler(ctx)
        except BaseException as exc:
            self._fail(ctx, exc)
            raise
        if ctx.call.stream:
            return result
        return self._finish(ctx, result)

    def _send(self, ctx: CallContext) -> Any:
        call, provider, log = ctx.call, ctx.provider, ctx.log
        mocked = ctx.mock is not _UNSET or call.spec.wire == "mock"
        req = _mock_request(ctx) if mocked else provider.build_request(call)
        if log is not None:
            log.pre_api_call(req.body, req.headers, None if mocked else _api_base(call))
        if mocked:
            return self._mock(ctx)
        if call.stream:
            return self._open_stream(ctx, req)
        reply = self._with_retries(ctx, lambda: transport.send(req, ctx.timeout), provider)
        if log is not None:
            log.post_api_call(reply.body.decode("utf-8", "replace"), reply.headers)
        resp = _parse(ctx, reply)
        resp._hidden_params["response_headers"] = reply.headers
        return resp

    def _with_retries(self, ctx: CallContext, attempt_fn: Callable[[], Any],
                      provider: Provider) -> Any:
        attempt = 0
        while True:
            try:
                reply = attempt_fn()
                if reply.status >= 400:
                    body = reply.read() if hasattr(reply, "read") else reply.body
                    if ctx.log is not None:
                        ctx.log.post_api_call(body.decode("utf-8", "replace"), reply.headers)
                    raise provider.map_error(ctx.call, reply.status, reply.headers, body)
                return reply
            except LLMRelayError as exc:
                if attempt >= ctx.num_retries or not is_retryable(exc):
                    exc.num_retries = attempt
                    raise
                time.sleep(backoff_delay(attempt, exc, ctx.retry_delay))
                attempt += 1

    def _open_stream(self, ctx: CallContext, req: HTTPRequest) -> CustomStreamWrapper:
        s = self._with_retries(ctx, lambda: transport.stream(req, ctx.timeout), ctx.provider)
        decoder = ctx.provider.stream_decoder(ctx.call)

        def chunks() -> Iterator[Any]:
            feed = decoder.feed
            with _reading(ctx):
                for line in s.lines():
                    yield from feed(line)
                yield from decoder.finish()

        if ctx.log is not None:
            ctx.log.post_api_call(None, s.headers)
        state = StreamState(ctx.log, self._want_usage(ctx), self._stream_end(ctx))
        return CustomStreamWrapper(chunks(), s.close, state, self._hidden(ctx, s.headers))

    def _mock(self, ctx: CallContext) -> Any:
        from .providers.mock import mock_chunks, mock_result

        mock = None if ctx.mock is _UNSET else ctx.mock
        log = ctx.log
        if ctx.kwargs.get("mock_timeout"):
            raise Timeout(f"mock timeout: no reply within {ctx.timeout}s",
                          llm_provider=ctx.call.provider, model=ctx.call.model)
        tool_calls = ctx.kwargs.get("mock_tool_calls")
        if not ctx.call.stream:
            result = mock_result(ctx.call, mock, tool_calls)
            if log is not None:  # the simulated raw reply
                log.post_api_call(mock if isinstance(mock, str) else None, {})
            return result
        items = mock_chunks(ctx.call, mock, tool_calls)
        if log is not None:
            log.post_api_call(None, {})
        return ctx.replay_stream(items)

    # ---- async pipeline ---------------------------------------------------------------------
    async def _arun(self, ctx: CallContext) -> Any:
        handler: Callable[[CallContext], Any] = self._asend
        for layer in reversed(self._layers(ctx)):
            handler = _bind(layer.ahandle, handler)
        try:
            result = await handler(ctx)
        except BaseException as exc:
            self._fail(ctx, exc)
            raise
        if ctx.call.stream:
            return result
        return self._finish(ctx, result)

    async def _asend(self, ctx: CallContext) -> Any:
        call, provider, log = ctx.call, ctx.provider, ctx.log
        mocked = ctx.mock is not _UNSET or call.spec.wire == "mock"
        req = _mock_request(ctx) if mocked else provider.build_request(call)
        if log is not None:
            await log.apre_api_call(req.body, req.headers,
                                    None if mocked else _api_base(call))
        if mocked:
            return self._mock(ctx)
        if call.stream:
            return await self._aopen_stream(ctx, req)
        reply = await self._awith_retries(ctx, lambda: transport.asend(req, ctx.timeout),
                                          provider)
        if log is not None:
            log.post_api_call(reply.body.decode("utf-8", "replace"), reply.headers)
        resp = _parse(ctx, reply)
        resp._hidden_params["response_headers"] = reply.headers
        return resp

    async def _awith_retries(self, ctx: CallContext, attempt_fn: Callable[[], Any],
                             provider: Provider) -> Any:
        attempt = 0
        while True:
            try:
                reply = await attempt_fn()
                if reply.status >= 400:
                    body = await reply.read() if hasattr(reply, "read") else reply.body
                    if ctx.log is not None:
                        ctx.log.post_api_call(body.decode("utf-8", "replace"), reply.headers)
                    raise provider.map_error(ctx.call, reply.status, reply.headers, body)
                return reply
            except LLMRelayError as exc:
                if attempt >= ctx.num_retries or not is_retryable(exc):
                    exc.num_retries = attempt
                    raise
                await asyncio.sleep(backoff_delay(attempt, exc, ctx.retry_delay))
                attempt += 1

    async def _aopen_stream(self, ctx: CallContext, req: HTTPRequest) -> AsyncStreamWrapper:
        s = await self._awith_retries(ctx, lambda: transport.astream(req, ctx.timeout),
                                      ctx.provider)
        decoder = ctx.provider.stream_decoder(ctx.call)

        async def chunks() -> AsyncIterator[Any]:
            feed = decoder.feed
            with _reading(ctx):
                async for line in s.lines():
                    for c in feed(line):
                        yield c
                for c in decoder.finish():
                    yield c

        if ctx.log is not None:
            ctx.log.post_api_call(None, s.headers)
        state = StreamState(ctx.log, self._want_usage(ctx), self._stream_end(ctx))
        return AsyncStreamWrapper(chunks(), s.close, state, self._hidden(ctx, s.headers))

    # ---- public API -------------------------------------------------------------------------
    def completion(self, model: str = "", messages: list[Any] | None = None,
                   **kwargs: Any) -> Any:
        """A chat completion: a :class:`~llmrelay.types.ModelResponse`, or with
        ``stream=True`` an iterator of chunks. Raises :class:`~llmrelay.LLMRelayError`
        subclasses, bad arguments before any network I/O."""
        return self._run(self._prepare("completion", model, messages, None, kwargs, False))

    async def acompletion(self, model: str = "", messages: list[Any] | None = None,
                          **kwargs: Any) -> Any:
        """Async :meth:`completion`; with ``stream=True`` an async iterator of chunks."""
        return await self._arun(self._prepare("completion", model, messages, None, kwargs,
                                              True))

    def embedding(self, model: str = "", input: Any = None, **kwargs: Any) -> Any:
        """Embeddings for a string or a list of strings: an ``EmbeddingResponse``."""
        return self._run(self._prepare("embedding", model, None, input, kwargs, False))

    async def aembedding(self, model: str = "", input: Any = None, **kwargs: Any) -> Any:
        """Async :meth:`embedding`."""
        return await self._arun(self._prepare("embedding", model, None, input, kwargs, True))

    def text_completion(self, model: str = "", prompt: Any = None, **kwargs: Any) -> Any:
        """A legacy completion (``/v1/completions``): a ``TextCompletionResponse``."""
        return self._run(self._prepare("text_completion", model, None, prompt, kwargs, False))

    async def atext_completion(self, model: str = "", prompt: Any = None,
                               **kwargs: Any) -> Any:
        """Async :meth:`text_completion`."""
        return await self._arun(self._prepare("text_completion", model, None, prompt, kwargs,
                                              True))


def _bind(layer_fn: Callable[..., Any], nxt: Callable[[CallContext], Any]
          ) -> Callable[[CallContext], Any]:
    def handler(ctx: CallContext) -> Any:
        return layer_fn(ctx, nxt)
    return handler


def _mock_request(ctx: CallContext) -> HTTPRequest:
    """The request the provider would get, for callbacks of a mocked call: built with a
    stand-in key and URL when none is configured (no network I/O happens)."""
    call = ctx.call
    stand_in = dataclasses.replace(call, api_key=call.api_key or "mock-key",
                                   api_base=call.api_base or "http://mock.invalid")
    try:
        req: HTTPRequest = ctx.provider.build_request(stand_in)
        return req
    except LLMRelayError:
        from .providers.mock import MockProvider

        return MockProvider(call.spec).build_request(call)


_READ_ERRORS = (KeyError, ValueError, TypeError, AttributeError, IndexError)


@contextlib.contextmanager
def _reading(ctx: CallContext) -> Iterator[None]:
    """Turn a translation bug on an odd upstream reply into a mapped error, never a bare
    KeyError/ValueError."""
    try:
        yield
    except LLMRelayError:
        raise
    except _READ_ERRORS as exc:
        raise APIConnectionError(
            f"could not read the upstream reply: {type(exc).__name__}: {exc}",
            llm_provider=ctx.call.provider, model=ctx.call.model) from exc


def _parse(ctx: CallContext, reply: transport.Reply) -> Any:
    with _reading(ctx):
        return ctx.provider.parse_response(ctx.call, reply.status, reply.headers, reply.body)


def _api_base(call: Call) -> str | None:
    """The base URL a call goes to, as callbacks report it (not the full endpoint URL)."""
    return call.api_base or call.spec.env_base() or call.spec.base_url


def _estimate_usage(ctx: CallContext, response: Any) -> None:
    """Fill usage from token estimates when the upstream sent none (marked as estimated)."""
    from .tokens import token_counter
    from .types import Usage

    call = ctx.call
    prompt = (token_counter(messages=call.messages) if call.messages is not None
              else token_counter(text=[str(x) for x in call.input]
                                 if isinstance(call.input, list) else str(call.input)))
    texts = []
    for c in getattr(response, "choices", None) or []:
        msg = getattr(c, "message", None)
        texts.append(getattr(msg, "content", None) or getattr(c, "text", None) or "")
    out = "".join(t for t in texts if isinstance(t, str))
    response.usage = Usage(prompt_tokens=prompt,
                           completion_tokens=token_counter(text=out) if out else 0)
    response._hidden_params["usage_estimated"] = True


def _noop() -> None:
    return None


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _empty_chunk(ctx: CallContext) -> Any:
    from .types import ModelResponseStream

    return ModelResponseStream(model=ctx.call.model, choices=[])
