"""The public interface for wrappers (router, cache, budget ...) that stack on a client.

A layer sees every call of the client it is stacked on, as a typed
:class:`~llmrelay._context.CallContext`, and decides whether and how to call the rest of
the pipeline (``call_next``), which ends in the provider request::

    class Timing:
        def handle(self, ctx: CallContext, call_next: Handler) -> Any:
            t = time.perf_counter()
            try:
                return call_next(ctx)
            finally:
                print(ctx.call.model, time.perf_counter() - t)

        async def ahandle(self, ctx: CallContext, call_next: AsyncHandler) -> Any:
            return await call_next(ctx)

    client = llmrelay.Client(callbacks=[...]).with_layers(Timing())

A layer may call ``call_next`` several times (retries, fallbacks), replace ``ctx.call``
(a router points it at a deployment) and record what it did in the context's named
fields (``attempts``, ``model_id``, ``cache_hit``, ``cache_key`` ...), which callbacks then
see. It must not emit callback events itself: the client emits exactly one terminal event
per call, after the outermost layer returns or raises.

A wrapper that drives calls itself uses :meth:`llmrelay.Client.prepare` (arguments
checked, context built) and :meth:`llmrelay.Client.run` / ``arun``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from ._context import CallContext

__all__ = ["AsyncHandler", "CallContext", "Handler", "Layer"]

Handler = Callable[[CallContext], Any]
AsyncHandler = Callable[[CallContext], Awaitable[Any]]


@runtime_checkable
class Layer(Protocol):
    """``handle`` serves sync calls, ``ahandle`` async ones; both get the call's context
    and the next step of the pipeline, and return the response (or stream)."""

    def handle(self, ctx: CallContext, call_next: Handler) -> Any: ...

    async def ahandle(self, ctx: CallContext, call_next: AsyncHandler) -> Any: ...
