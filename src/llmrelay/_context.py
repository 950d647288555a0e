"""The per-call context the pipeline and its layers share, and the steps that finish a
call: hidden params, pricing, the terminal callback event (no I/O here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ._streaming import AsyncStreamWrapper, CustomStreamWrapper, StreamState, stream_chunk_builder
from .cost import usage_cost
from .exceptions import LLMRelayError
from .providers.base import Call

if TYPE_CHECKING:
    from ._client import Client
    from .callbacks.calllog import CallLog

__all__ = ["UNSET", "CallContext", "fail", "finish", "hidden_params", "stream_state"]

UNSET: Any = object()  # "argument not given" (``None`` can be a real mock_response)


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
        state = stream_state(self)
        meta = hidden_params(self, None)
        if self.is_async:
            return AsyncStreamWrapper(_aiter(chunks), _noop, state, meta)
        return CustomStreamWrapper(iter(chunks), _noop, state, meta)


def hidden_params(ctx: CallContext, headers: dict[str, str] | None) -> dict[str, Any]:
    """The ``_hidden_params`` every response of this call carries."""
    call = ctx.call
    return {"custom_llm_provider": call.provider, "api_base": call.api_base,
            "litellm_call_id": ctx.call_id, "response_headers": headers or {},
            "additional_headers": {}, "cache_hit": ctx.cache_hit,
            "model_id": ctx.extra.get("model_id")}


def finish(ctx: CallContext, response: Any) -> Any:
    """Complete a non-stream response (hidden params, usage, cost) and emit its success."""
    hidden = response.__dict__.setdefault("_hidden_params", {})
    for k, v in hidden_params(ctx, hidden.get("response_headers")).items():
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


def fail(ctx: CallContext, exc: BaseException) -> None:
    """Stamp a failed call's error with its provider/model and emit its failure event."""
    if isinstance(exc, LLMRelayError):
        exc.llm_provider = exc.llm_provider or ctx.call.provider
        exc.model = exc.model or ctx.call.model
    if ctx.log is not None:
        ctx.log.failure(exc, **ctx.extra)


def stream_state(ctx: CallContext) -> StreamState:
    """The bookkeeping a stream wrapper of this call reports its end to."""
    opts = ctx.call.params.get("stream_options") or {}
    return StreamState(ctx.log, bool(opts.get("include_usage")), _stream_end(ctx))


def _stream_end(ctx: CallContext) -> Callable[[StreamState, str, BaseException | None], None]:
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
        resp._hidden_params.update(hidden_params(ctx, None))
        resp._hidden_params["response_cost"] = cost
        log.success(resp, cost=cost, cache_hit=ctx.cache_hit, stream_status=status,
                    **ctx.extra)
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
