"""Streamed replies: the iterators callers get, and ``stream_chunk_builder``.

:class:`CustomStreamWrapper` (sync) and :class:`AsyncStreamWrapper` yield
:class:`~llmrelay.types.ModelResponseStream` chunks. They support ``close()``/``aclose()``
and ``with``/``async with``, release the connection when left early, and emit exactly one
terminal callback event: after the last chunk, on error, or when closed or garbage
collected early (``stream_status`` = ``"complete"``, ``"abandoned"`` or ``"error"``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .types import (
    ChatCompletionDeltaToolCall,
    Choices,
    Message,
    ModelResponse,
    ModelResponseStream,
    TextChoices,
    TextCompletionResponse,
    ToolCall,
    Usage,
)
from .types.lazy_chunks import parsed

__all__ = ["AsyncStreamWrapper", "CustomStreamWrapper", "StreamState", "stream_chunk_builder"]


def _merge_tool_call(acc: dict[int, dict[str, Any]], tc: Any) -> None:
    idx = getattr(tc, "index", None) or 0
    slot = acc.setdefault(idx, {"id": None, "type": "function", "name": None, "arguments": ""})
    if getattr(tc, "id", None):
        slot["id"] = tc.id
    fn = getattr(tc, "function", None)
    if fn is not None:
        if getattr(fn, "name", None):
            slot["name"] = fn.name
        if getattr(fn, "arguments", None):
            slot["arguments"] += fn.arguments


def stream_chunk_builder(chunks: list[Any], messages: list[dict[str, Any]] | None = None) -> Any:
    """Assemble streamed chunks into one response: content, tool calls, finish reason, usage.

    Usage comes from the chunk that carries it; without one it is estimated (prompt from
    ``messages`` when given, completion from the assembled text).
    """
    if not chunks:
        return None
    first = chunks[0]
    if isinstance(first, TextCompletionResponse):
        return _build_text(chunks)
    texts: dict[int, list[str]] = {}
    reasoning: dict[int, list[str]] = {}
    tools: dict[int, dict[int, dict[str, Any]]] = {}
    finish: dict[int, str | None] = {}
    usage: Any = None
    for ch in chunks:
        u = getattr(ch, "usage", None)
        if u is not None:
            usage = u
        for c in ch.choices:
            i = c.index or 0
            d = c.delta
            if d.content:
                texts.setdefault(i, []).append(d.content)
            rc = getattr(d, "reasoning_content", None)
            if rc:
                reasoning.setdefault(i, []).append(rc)
            if d.tool_calls:
                for tc in d.tool_calls:
                    _merge_tool_call(tools.setdefault(i, {}), tc)
            if c.finish_reason:
                finish[i] = c.finish_reason
            else:
                finish.setdefault(i, None)
    choices = []
    for i in sorted(set(texts) | set(tools) | set(finish) or {0}):
        msg = Message(role="assistant", content="".join(texts[i]) if i in texts else None)
        if i in tools:
            msg.tool_calls = [ToolCall(id=t["id"], type="function",
                                       function={"name": t["name"], "arguments": t["arguments"]})
                              for _, t in sorted(tools[i].items())]
        if i in reasoning:
            msg.__dict__["reasoning_content"] = "".join(reasoning[i])
        choices.append(Choices(index=i, message=msg, finish_reason=finish.get(i) or "stop"))
    if usage is None:
        usage = _estimate(messages, choices, getattr(first, "model", None) or "")
    elif not isinstance(usage, Usage):
        usage = Usage(**usage) if isinstance(usage, dict) else usage
    resp = ModelResponse(id=first.id, created=first.created, model=first.model,
                         choices=choices, usage=usage,
                         system_fingerprint=getattr(first, "system_fingerprint", None))
    return resp


def _estimate(messages: list[dict[str, Any]] | None, choices: list[Choices],
              model: str) -> Usage:
    from .tokens import token_counter

    out = "".join((c.message.content or "") + "".join(
        t.function.arguments for t in c.message.tool_calls or []) for c in choices)
    prompt = token_counter(model, messages=messages) if messages else 0
    return Usage(prompt_tokens=prompt,
                 completion_tokens=token_counter(model, text=out) if out else 0)


def _build_text(chunks: list[Any]) -> TextCompletionResponse:
    texts: dict[int, list[str]] = {}
    finish: dict[int, str | None] = {}
    usage = None
    for ch in chunks:
        if getattr(ch, "usage", None) is not None and ch.usage.total_tokens:
            usage = ch.usage
        for c in ch.choices:
            texts.setdefault(c.index or 0, []).append(c.text or "")
            if c.finish_reason:
                finish[c.index or 0] = c.finish_reason
    first = chunks[0]
    return TextCompletionResponse(
        id=first.id, created=first.created, model=first.model, usage=usage,
        choices=[TextChoices(index=i, text="".join(t), finish_reason=finish.get(i, "stop"))
                 for i, t in sorted(texts.items())])


def text_chunk_as_chat(chunk: Any) -> Any:
    """A text-completion stream chunk as the chat chunk stream hooks get for it (LiteLLM's
    ``log_stream_event`` receives a ``ModelResponseStream`` whose deltas hold the text);
    any other chunk is returned as it is."""
    if not isinstance(chunk, TextCompletionResponse):
        return chunk
    fields = chunk.__dict__
    out = ModelResponseStream(
        id=chunk.id, created=fields.get("created"), model=fields.get("model"),
        choices=[{"index": c.index or 0, "finish_reason": c.finish_reason,
                  "logprobs": getattr(c, "logprobs", None),
                  "delta": {"role": "assistant", "content": c.text}} for c in chunk.choices])
    if getattr(chunk, "usage", None) is not None:
        out.usage = chunk.usage
    out.__dict__["_hidden_params"].update(fields.get("_hidden_params") or {})
    return out


class StreamState:
    """What the wrappers share: chunk bookkeeping and the single terminal event.

    ``on_end(state, status, error)`` is supplied by the client; it computes cost and emits
    the callback event. Chunks are kept only when someone listens (``collect``).
    """

    __slots__ = ("chunks", "collect", "ended", "hook_view", "log", "meta", "on_end", "started",
                 "usage", "want_usage")

    def __init__(self, log: Any, want_usage: bool,
                 on_end: Callable[[StreamState, str, BaseException | None], None]) -> None:
        self.log = log
        self.collect = log is not None
        self.chunks: list[Any] = []
        self.usage: Any = None
        self.want_usage = want_usage
        self.on_end = on_end
        self.ended = False
        self.started = False
        self.meta: dict[str, Any] | None = None  # the stream wrapper's _hidden_params
        # how stream hooks see a chunk (the call type's ``stream_hook_chunk``), None: as is
        self.hook_view: Callable[[Any], Any] | None = None

    def accept(self, chunk: Any) -> bool:
        """Record a chunk; False when the caller should not see it (a usage chunk the
        caller did not ask for, requested upstream only to price the call)."""
        log = self.log
        if not self.started:
            self.started = True
            if log is not None:
                log.first_chunk()
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        if self.collect:
            self.chunks.append(chunk)
        # a chat usage chunk (no choices) the caller did not ask for is hidden; events of
        # other call types (no ``choices`` at all) always show
        visible = usage is None or bool(getattr(chunk, "choices", True)) or self.want_usage
        if visible and log is not None and log.plan.stream:
            # hooks see the chunks the caller sees (in the call type's hook view, built
            # off the caller's path)
            log.stream_chunk(parsed(chunk), self.hook_view)
        return visible

    def end(self, status: str, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.on_end(self, status, error)


class CustomStreamWrapper:
    """The iterator ``completion(stream=True)`` returns."""

    def __init__(self, chunks: Iterator[Any], close: Callable[[], None], state: StreamState,
                 meta: dict[str, Any]) -> None:
        self._it = chunks
        self._close: Callable[[], None] | None = close
        self._state = state
        self._hidden_params = meta
        if state.log is not None:
            state.log.attach_stream(self)
        state.meta = meta

    @property
    def _response_headers(self) -> dict[str, str] | None:
        """The provider's HTTP response headers, known once the stream is open (LiteLLM's
        ``stream._response_headers``); None for a stream no HTTP reply backs (mock, cache)."""
        return self._hidden_params.get("response_headers") or None

    def tap(self, wrap: Callable[[Iterator[Any]], Iterator[Any]]) -> None:
        """Interpose on the raw chunk source (every upstream chunk, before filtering);
        used by layers such as the cache to see a stream as it is read."""
        self._it = wrap(self._it)

    def __iter__(self) -> CustomStreamWrapper:
        return self

    def __next__(self) -> Any:
        state = self._state
        while True:
            try:
                chunk = next(self._it)
            except StopIteration:
                self._release()
                state.end("complete")
                raise
            except BaseException as exc:
                self._release()
                state.end("error", exc)
                raise
            if state.accept(chunk):
                return chunk

    def _release(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def close(self) -> None:
        """Stop early: release the connection and emit the terminal event."""
        self._release()
        self._state.end("abandoned")

    def __enter__(self) -> CustomStreamWrapper:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class AsyncStreamWrapper(CustomStreamWrapper):
    """The async iterator ``acompletion(stream=True)`` returns. A
    :class:`CustomStreamWrapper`, as LiteLLM's async streams are, so
    ``isinstance(response, CustomStreamWrapper)`` tells a stream from a whole reply in
    both modes; it is iterated with ``async for`` only."""

    def __init__(self, chunks: AsyncIterator[Any], close: Callable[[], None],  # type: ignore[override]
                 state: StreamState, meta: dict[str, Any]) -> None:
        self._ait = chunks
        self._close = close
        self._state = state
        self._hidden_params = meta
        if state.log is not None:
            state.log.attach_stream(self)
        state.meta = meta

    def tap(self, wrap: Callable[[AsyncIterator[Any]], AsyncIterator[Any]]) -> None:  # type: ignore[override]
        """Async twin of :meth:`CustomStreamWrapper.tap`."""
        self._ait = wrap(self._ait)

    def __iter__(self) -> CustomStreamWrapper:
        raise TypeError("an async stream (acompletion(stream=True)): iterate it with "
                        "`async for`")

    def __next__(self) -> Any:
        raise TypeError("an async stream (acompletion(stream=True)): iterate it with "
                        "`async for`")

    def __aiter__(self) -> AsyncStreamWrapper:
        return self

    async def __anext__(self) -> Any:
        state = self._state
        while True:
            try:
                chunk = await self._ait.__anext__()
            except StopAsyncIteration:
                self._release()
                state.end("complete")
                raise
            except BaseException as exc:
                self._release()
                state.end("error", exc)
                raise
            if state.accept(chunk):
                return chunk

    async def aclose(self) -> None:
        """Stop early: release the connection and emit the terminal event."""
        self.close()

    async def __aenter__(self) -> AsyncStreamWrapper:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


# ChatCompletionDeltaToolCall is re-exported for users building chunks by hand.
__all__ += ["ChatCompletionDeltaToolCall"]
