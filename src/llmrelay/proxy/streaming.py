"""One streamed response: chunks out as SSE, the stream priced and accounted once.

The SDK's stream wrapper yields parsed chunks; they are sent as they come, and only
rebuilt when a streaming hook replaces them. Usage is always requested upstream: the usage
chunk is priced (``usage.cost``) and passed on only when the client asked for it
(``stream_options.include_usage``). Without an upstream usage chunk (a provider that does
not send one, or a client that left early) the tokens are estimated from the chunks seen.
:meth:`StreamRun.finish` runs once however the stream ends: it closes the SDK stream (for
an early end that cancels the upstream request and emits the SDK's one "abandoned" event),
runs the failure hooks for an upstream error, and writes the usage record. A stream that
ends (``[DONE]`` or an error event) runs it before that last event is sent, so a client
that saw the end of a stream has its usage record spooled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from .answers import encode_named, stream_error
from .errors import for_caller, from_exception
from .raw import raw_event
from .sse import DONE, dumps, encode_event

if TYPE_CHECKING:
    from .routes.llm import LLMRequest

__all__ = ["StreamRun"]


class StreamRun:
    """The state of one streamed response, shared by its event generator and ``finish``.

    ``style`` (the endpoint's): ``"chat"`` as described above; ``"events"`` (the
    Responses and Messages APIs): named SSE events passed on as they come, usage read
    from the events that carry it, no ``[DONE]``; ``"audio"``: the upstream's bytes
    passed through. For the last two the cost is the SDK's, computed when the stream
    ended (the call type prices it)."""

    def __init__(self, req: LLMRequest, stream: Any, want_usage: bool,
                 style: str = "chat") -> None:
        self.req = req
        self.stream = stream
        self.style = style
        self.want_usage = want_usage
        self.usage: Any = None
        self.cost: float | None = None
        self.chunks: list[Any] = []
        self.error: BaseException | None = None
        self.source: Any = None
        self.finished = False
        self.abandoned = False

    def _price(self, usage: Any) -> float | None:
        req = self.req
        hidden = getattr(self.stream, "_hidden_params", None)
        dep = req.state.models.deployment_for(req.group, hidden)
        if hidden and hidden.get("cache_hit"):
            return 0.0
        cost: float | None = dep.cost(usage)
        return cost

    async def events(self) -> AsyncGenerator[bytes, None]:
        req = self.req
        runner, hooks = req.state.hooks, req.hooks
        source = self.stream
        if hooks.iterator:
            source = runner.wrap_stream(hooks, req.auth, source, req.data or {})
        self.source = source
        per_chunk = hooks.stream_chunk
        chunks = self.chunks
        chat = self.style == "chat"
        encode = encode_event if chat else encode_named
        # raw pass-through (see raw.py): the upstream's event bytes when no hook may change
        # or replace chunks
        raw = chat and not per_chunk and not hooks.iterator
        try:
            async for chunk in source:
                usage = getattr(chunk, "usage", None)
                as_sent = raw
                if not chat:
                    if usage is not None and _counts(usage):
                        self.usage = usage
                elif usage is not None and _counts(usage):
                    self.usage = usage
                    self.cost = cost = self._price(usage)
                    if self.want_usage:
                        _set_cost(usage, cost)
                        as_sent = False  # changed: usage.cost added
                    elif not getattr(chunk, "choices", None):
                        continue
                else:
                    chunks.append(chunk)
                if per_chunk:
                    chunk = await runner.stream_chunk(hooks, req.auth, chunk)
                event = raw_event(chunk) if as_sent else None
                yield event if event is not None else encode(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
            reported = await req.fail_hooks(exc)
            err = for_caller(from_exception(reported), reported, req.auth, req.call_id)
            await self.finish()  # the usage record is spooled before the client sees the end
            if self.style != "audio":  # audio bytes cannot carry an error: the body ends
                yield stream_error(req.endpoint, err) if not chat else (
                    b"data: " + dumps(err.body()) + b"\n\n")
            return
        await self.finish()
        if chat:
            yield DONE

    def abandon(self) -> None:
        """The client went away: close the upstream stream now, which cancels the upstream
        request and emits the SDK's one "abandoned" event with the partial usage."""
        self.abandoned = True
        close = getattr(self.stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                pass

    async def finish(self) -> None:
        """Close the upstream stream and account for the request (idempotent)."""
        if self.finished:
            return
        self.finished = True
        req = self.req
        try:
            for it in (self.source, self.stream):
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        pass
            usage, cost = self.usage, self.cost
            hidden = getattr(self.stream, "_hidden_params", None)
            if self.style != "chat":  # priced by the SDK's call type at the stream's end
                cost = (hidden or {}).get("response_cost")
                if cost is None and usage is not None:
                    cost = self._price(usage)
            elif usage is None and self.chunks:
                usage = _estimate(self.chunks, req.data)
                cost = self._price(usage) if usage is not None else None
            status = "failure" if self.error is not None else "success"
            if self.style == "chat" and req.state.keep_bodies:
                from .bodies import stream_summary

                req.served = stream_summary(self.chunks)
            req.account(status, 200, usage, cost, hidden)
        finally:
            req.state.metrics.in_flight -= 1


def _counts(usage: Any) -> bool:
    """True when a chunk's usage carries tokens (text-completion chunks carry zeros)."""
    if isinstance(usage, dict):
        return bool(usage.get("total_tokens") or usage.get("prompt_tokens"))
    return bool(getattr(usage, "total_tokens", 0) or getattr(usage, "prompt_tokens", 0))


def _set_cost(usage: Any, cost: float | None) -> None:
    if isinstance(usage, dict):
        usage["cost"] = cost
    else:
        try:
            usage.cost = cost
        except AttributeError:
            pass


def _estimate(chunks: list[Any], data: dict[str, Any] | None) -> Any:
    """Usage estimated from the chunks (and the prompt) when upstream sent none."""
    import llmrelay

    try:
        messages = (data or {}).get("messages")
        built = llmrelay.stream_chunk_builder(chunks, messages if isinstance(messages, list)
                                              else None)
    except Exception:
        return None
    return getattr(built, "usage", None)
