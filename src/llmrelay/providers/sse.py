"""Server-sent events, decoded line by line (shared by every SSE-speaking provider)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..exceptions import APIConnectionError

__all__ = ["SSEDecoder", "SSEStreamDecoder"]


class SSEDecoder:
    """Feeds body lines, returns completed ``(event, data)`` pairs.

    Per the SSE format an event ends at a blank line and several ``data:`` lines join with
    newlines. Most servers send one ``data:`` line per event, so callers may also take the
    fast path of :meth:`feed_fast`, which hands out a lone data line at once.
    """

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, line: bytes) -> tuple[str | None, bytes] | None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            if not self._data:
                self._event = None
                return None
            out = (self._event, b"\n".join(self._data))
            self._event = None
            self._data = []
            return out
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value)
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
        # comments (":...") and other fields (id:, retry:) carry nothing we use
        return None

    def flush(self) -> tuple[str | None, bytes] | None:
        """The pending event at end of body, if the server omitted the final blank line."""
        return self.feed(b"")


class SSEStreamDecoder:
    """Base of a provider's stream decoder over SSE: :meth:`feed` hands each completed
    event's data to ``_event`` (the subclass's), and :meth:`finish` also raises
    :class:`~llmrelay.exceptions.APIConnectionError` (``cut_message``) when the body ended
    before the provider's last event set ``_finished``. Subclasses set ``_call``, ``_sse``
    and ``_finished``."""

    __slots__ = ()
    cut_message: ClassVar[str] = "the stream ended before its last event; the reply was cut"
    _call: Any
    _sse: SSEDecoder
    _finished: bool

    def _event(self, data: bytes) -> list[Any]:
        raise NotImplementedError

    def feed(self, line: bytes) -> list[Any]:
        ev = self._sse.feed(line)
        return [] if ev is None else self._event(ev[1])

    def _flush(self) -> list[Any]:
        """The last pending event's output; raises when the stream was cut."""
        ev = self._sse.flush()
        out = [] if ev is None else self._event(ev[1])
        if not self._finished:
            raise APIConnectionError(self.cut_message, llm_provider=self._call.provider,
                                     model=self._call.model)
        return out

    def finish(self) -> list[Any]:
        return self._flush()
