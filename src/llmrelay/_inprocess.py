"""Calls answered in this process by a provider's Python handler (a
:class:`llmrelay.CustomLLM` registered in ``custom_provider_map``), where other providers'
requests are sent: the innermost step of :mod:`._send` for a provider whose
``in_process`` is true. Sync and async twins.

The handler gets LiteLLM's keyword arguments (the provider's ``handler_call``); what it
returns is normalised by the provider (``reply``, ``chunk``) and finished like any reply
(hidden params, usage, cost, the terminal event). A plain exception from the handler
becomes the error a provider call would raise (by its ``status_code``, else a 500
:class:`~llmrelay.APIError`), the original chained; llmrelay errors pass as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._context import CallContext, hidden_params, stream_state
from ._streaming import AsyncStreamWrapper, CustomStreamWrapper
from .exceptions import LLMRelayError
from .providers.base import error_from_exception

__all__ = ["aanswer", "answer"]


@contextlib.contextmanager
def _mapped(ctx: CallContext) -> Iterator[None]:
    try:
        yield
    except LLMRelayError:
        raise
    except Exception as exc:
        raise error_from_exception(ctx.call, exc) from exc


def _method(ctx: CallContext, is_async: bool) -> tuple[Any, bool, dict[str, Any]]:
    found: tuple[Any, bool, dict[str, Any]] = ctx.provider.handler_call(
        ctx.call, is_async, ctx.timeout, ctx.metadata)
    return found


def answer(ctx: CallContext) -> Any:
    """Call the handler for a sync call: the response, or a stream."""
    fn, _, kwargs = _method(ctx, False)
    with _mapped(ctx):
        result = fn(**kwargs)
    if ctx.call.stream:
        return _stream(ctx, result)
    return _whole(ctx, result)


async def aanswer(ctx: CallContext) -> Any:
    """Async :func:`answer`: the handler's async method, else its sync one on a worker
    thread."""
    fn, is_async, kwargs = _method(ctx, True)
    with _mapped(ctx):
        if is_async:
            result = fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        else:
            result = await asyncio.to_thread(lambda: fn(**kwargs))
    if ctx.call.stream:
        return _astream(ctx, result)
    return _whole(ctx, result)


def _whole(ctx: CallContext, result: Any) -> Any:
    with _mapped(ctx):
        resp = ctx.provider.reply(ctx.call, result)
    if ctx.log is not None:
        dump = getattr(resp, "model_dump_json", None)
        ctx.log.post_api_call(dump() if dump is not None else str(resp), {})
    return resp


def _stream(ctx: CallContext, result: Any) -> CustomStreamWrapper:
    items = iter(result)
    provider, call = ctx.provider, ctx.call

    def chunks() -> Iterator[Any]:
        with _mapped(ctx):
            for index, item in enumerate(items):
                yield provider.chunk(call, item, index)

    stream = CustomStreamWrapper(chunks(), getattr(items, "close", _nothing),
                                 stream_state(ctx), hidden_params(ctx, None))
    if ctx.log is not None:
        ctx.log.post_api_call(None, {})
    return stream


def _astream(ctx: CallContext, result: Any) -> AsyncStreamWrapper:
    provider, call = ctx.provider, ctx.call

    async def chunks() -> AsyncIterator[Any]:
        with _mapped(ctx):
            index = 0
            if hasattr(result, "__aiter__"):
                async for item in result:
                    yield provider.chunk(call, item, index)
                    index += 1
            else:  # a sync iterator from a sync method: read it off the event loop
                items, end = iter(result), object()
                while (item := await asyncio.to_thread(next, items, end)) is not end:
                    yield provider.chunk(call, item, index)
                    index += 1

    stream = AsyncStreamWrapper(chunks(), _nothing, stream_state(ctx), hidden_params(ctx, None))
    if ctx.log is not None:
        ctx.log.post_api_call(None, {})
    return stream


def _nothing() -> None:
    return None
