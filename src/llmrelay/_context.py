"""The per-call context the pipeline and its layers share, and the steps that finish a
call: hidden params, pricing, the terminal callback event (no I/O here)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ._calltypes import CallType
from ._headers import additional_headers
from ._settings import Settings
from ._streaming import AsyncStreamWrapper, CustomStreamWrapper, StreamState
from ._urls import mask_url
from .cost import usage_cost
from .exceptions import LLMRelayError
from .providers.base import Call

if TYPE_CHECKING:
    from .callbacks.calllog import CallLog

__all__ = ["UNSET", "CallContext", "api_base", "fail", "finish", "hidden_params", "stream_state"]

UNSET: Any = object()  # "argument not given" (``None`` can be a real mock_response)


class CallContext:
    """One call after argument checking: what every layer of the pipeline reads and may
    annotate. Built by :meth:`llmrelay.Client.prepare`.

    What the call is: ``call`` (the normalised :class:`~llmrelay.providers.base.Call`,
    which a layer may replace, e.g. a router pointing it at a deployment), ``kind`` (its
    :class:`~llmrelay._calltypes.CallType`), ``call_type``, ``provider`` (the wire's
    translator), ``kwargs`` (the caller's keyword arguments, read only), ``is_async``,
    ``mock`` (``mock_response``, or :data:`UNSET`), ``mock_timeout`` / ``mock_delay``
    (LiteLLM's test switches: answer with a timeout after the call's timeout, or the mock
    after a pause), ``metadata``, ``call_id``.
    How to send it: ``settings`` (the client's), ``timeout``, ``num_retries``,
    ``retry_delay``, ``cache_options`` (``cache=`` of the call). How to price it:
    ``price_model`` (``base_model``: the model whose prices apply) and ``price_row``
    (custom prices: ``input_cost_per_token`` ... of the call or its deployment).
    ``started``: ``time.perf_counter()`` when the call began (for ``_response_ms``).
    What happened, reported to callbacks: ``cache_hit``, ``cache_key``, ``cache_keys``,
    ``saved_cache_cost`` (set by the cache layer), ``attempts`` and ``model_id`` (set by
    the router layer); ``log`` is the call's callback state (None when nobody listens).
    """

    __slots__ = (
        "attempts",
        "cache_hit",
        "cache_key",
        "cache_keys",
        "cache_options",
        "call",
        "call_id",
        "call_type",
        "is_async",
        "kind",
        "kwargs",
        "log",
        "metadata",
        "mock",
        "mock_delay",
        "mock_timeout",
        "model_id",
        "num_retries",
        "price_model",
        "price_row",
        "provider",
        "retry_delay",
        "saved_cache_cost",
        "settings",
        "started",
        "timeout",
    )

    attempts: list[dict[str, Any]] | None
    cache_hit: bool
    cache_key: str | None
    cache_keys: list[str] | None
    cache_options: Any
    call: Call
    call_id: str
    call_type: str
    is_async: bool
    kind: CallType
    kwargs: dict[str, Any]
    log: CallLog | None
    metadata: dict[str, Any] | None
    mock: Any
    mock_delay: float | None
    mock_timeout: bool
    model_id: str | None
    num_retries: int
    price_model: str | None
    price_row: dict[str, Any] | None
    provider: Any  # a Provider; typed loosely since wires add methods beyond the protocol
    retry_delay: float
    saved_cache_cost: float | None
    settings: Settings
    started: float
    timeout: Any

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.cache_hit = self.mock_timeout = False
        self.mock_delay = self.price_model = self.price_row = None
        self.attempts = self.cache_key = self.cache_keys = None
        self.saved_cache_cost = self.model_id = None

    def event_fields(self) -> dict[str, Any]:
        """What layers recorded, as the extra keys of the callback ``kwargs``."""
        if not self.cache_hit and self.attempts is None and self.model_id is None and (
                self.cache_key is None and self.cache_keys is None):
            return {}
        out: dict[str, Any] = {}
        if self.attempts is not None:
            out["attempts"] = self.attempts
        if self.model_id is not None:
            out["model_id"] = self.model_id
        if self.cache_key is not None:
            out["cache_key"] = self.cache_key
        if self.cache_keys is not None:
            out["cache_keys"] = self.cache_keys
        if self.cache_hit:
            out["saved_cache_cost"] = self.saved_cache_cost
        return out

    def cost(self, usage: Any) -> float | None:
        """USD cost of ``usage`` for this call (0.0 on a cache hit; None when unpriced)."""
        if self.cache_hit:
            return 0.0
        return usage_cost(self.call.model, self.call.provider, usage,
                          self.settings.model_prices, base_model=self.price_model,
                          custom=self.price_row)

    def price(self, response: Any) -> float | None:
        """USD cost of this call's ``response``: by the call type's own pricing (images,
        seconds, characters, search units), else by the response's token usage."""
        pricer = self.kind.price
        if pricer is None or self.cache_hit:
            return self.cost(getattr(response, "usage", None))
        return pricer(self.call, response, self.settings.model_prices)

    def replay_stream(self, chunks: list[Any]) -> Any:
        """A stream of ready chunks through the same wrapper and end-of-stream bookkeeping
        as a live one (used by mock replies and cache hits)."""
        state = stream_state(self)
        meta = hidden_params(self, None)
        if self.is_async:
            return AsyncStreamWrapper(_aiter(chunks), _noop, state, meta)
        return CustomStreamWrapper(iter(chunks), _noop, state, meta)


def api_base(call: Call) -> str | None:
    """The base URL a call goes to (or, mocked, would go to), as callbacks and hidden
    params show it: not the full endpoint URL, credentials masked."""
    return mask_url(call.api_base or call.spec.env_base() or call.spec.base_url)


def hidden_params(ctx: CallContext, headers: dict[str, str] | None) -> dict[str, Any]:
    """The ``_hidden_params`` every response of this call carries (``additional_headers``:
    the upstream headers as LiteLLM names them, see :mod:`llmrelay._headers`)."""
    call = ctx.call
    return {"custom_llm_provider": call.provider, "api_base": api_base(call),
            "litellm_call_id": ctx.call_id, "response_headers": headers or {},
            "additional_headers": additional_headers(headers), "cache_hit": ctx.cache_hit,
            "model_id": ctx.model_id}


def finish(ctx: CallContext, response: Any) -> Any:
    """Complete a non-stream response (hidden params, usage, cost) and emit its success."""
    hidden = _hidden(response)
    for k, v in hidden_params(ctx, hidden.get("response_headers")).items():
        hidden.setdefault(k, v)
    usage = getattr(response, "usage", None)
    if (usage is not None and not usage.total_tokens and not ctx.cache_hit
            and ctx.kind.estimate_usage):
        _estimate_usage(ctx, response)  # some compatible servers send no usage
    if ctx.cache_hit:
        hidden["cache_hit"] = True
    elapsed_ms = (time.perf_counter() - ctx.started) * 1000.0
    hidden["_response_ms"] = elapsed_ms
    d = getattr(response, "__dict__", None)
    if d is not None:
        d["_response_ms"] = elapsed_ms  # LiteLLM's ``response._response_ms``
    cost = ctx.price(response)
    hidden["response_cost"] = cost
    if ctx.log is not None:
        ctx.log.success(response, cost=cost, cache_hit=ctx.cache_hit, **ctx.event_fields())
    return response


def _hidden(response: Any) -> dict[str, Any]:
    """``response._hidden_params`` (created when missing; a throwaway dict for replies that
    cannot carry attributes, such as raw bytes)."""
    d = getattr(response, "__dict__", None)
    if d is None:
        return {}
    hidden: dict[str, Any] = d.setdefault("_hidden_params", {})
    return hidden


def fail(ctx: CallContext, exc: BaseException) -> None:
    """Stamp a failed call's error with its provider/model and emit its failure event."""
    if isinstance(exc, LLMRelayError):
        exc.llm_provider = exc.llm_provider or ctx.call.provider
        exc.model = exc.model or ctx.call.model
    if ctx.log is not None:
        ctx.log.failure(exc, **ctx.event_fields())


def stream_state(ctx: CallContext) -> StreamState:
    """The bookkeeping a stream wrapper of this call reports its end to."""
    opts = ctx.call.params.get("stream_options") or {}
    state = StreamState(ctx.log, bool(opts.get("include_usage")), _stream_end(ctx))
    if ctx.kind.stream_cost:
        state.collect = True  # priced at the end even when no callback listens
    state.hook_view = ctx.kind.stream_hook_chunk
    return state


def _stream_end(ctx: CallContext) -> Callable[[StreamState, str, BaseException | None], None]:
    def on_end(state: StreamState, status: str, error: BaseException | None) -> None:
        log = ctx.log
        if log is None and not (ctx.kind.stream_cost and error is None):
            return
        if error is not None:
            log.failure(error, stream_status=status, **ctx.event_fields())  # type: ignore[union-attr]
            return
        assemble = ctx.kind.assemble
        resp = assemble(state.chunks, ctx.call.messages)
        if resp is None and not state.chunks and ctx.kind.estimate_usage:
            resp = assemble([_empty_chunk(ctx)], ctx.call.messages)
        cost = ctx.price(resp)
        hidden = _hidden(resp)
        hidden.update(hidden_params(ctx, None))
        hidden["response_cost"] = cost
        if state.meta is not None:  # the caller's stream reports what it cost
            state.meta["response_cost"] = cost
        if log is None:
            return
        log.success(resp, cost=cost, cache_hit=ctx.cache_hit, stream_status=status,
                    **ctx.event_fields())
    return on_end


def _estimate_usage(ctx: CallContext, response: Any) -> None:
    """Fill usage from token estimates when the upstream sent none (marked as estimated)."""
    from .tokens import token_counter
    from .types import Usage

    call = ctx.call
    model = call.model
    prompt = (token_counter(model, messages=call.messages) if call.messages is not None
              else token_counter(model, text=[str(x) for x in call.input]
                                 if isinstance(call.input, list) else str(call.input)))
    texts = []
    for c in getattr(response, "choices", None) or []:
        msg = getattr(c, "message", None)
        texts.append(getattr(msg, "content", None) or getattr(c, "text", None) or "")
    out = "".join(t for t in texts if isinstance(t, str))
    response.usage = Usage(prompt_tokens=prompt,
                           completion_tokens=token_counter(model, text=out) if out else 0)
    response._hidden_params["usage_estimated"] = True


def _noop() -> None:
    return None


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _empty_chunk(ctx: CallContext) -> Any:
    from .types import ModelResponseStream

    return ModelResponseStream(model=ctx.call.model, choices=[])
