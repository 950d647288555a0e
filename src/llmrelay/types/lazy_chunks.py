"""Chat stream chunks kept as the upstream's JSON bytes and parsed on first use.

A gateway that forwards a stream's events as the upstream sent them (the proxy's raw
pass-through) needs from each chunk only whether it carries usage, an error or a finish
reason; parsing every event into objects would be work nobody reads. When a caller asks
for it (:data:`LAZY_CHUNKS`, a context variable the proxy sets for a request whose chunks
no hook needs), the OpenAI stream decoder scans each event's bytes for those few things
and yields a :class:`LazyChunk` for a plain delta event; events that carry usage or an
error, or that do not look like a JSON object, are parsed as before.

A :class:`LazyChunk` is a :class:`~llmrelay.types.ModelResponseStream`: reading any field
(attribute or item access, ``model_dump``, ``repr``, equality) parses the bytes then, once,
so whoever does need objects (a stream hook, a logger assembling the response, the
proxy's usage estimate) gets exactly what an eager parse would have given.
``chunk.usage`` is None without parsing (the scan found no usage in the event).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from .responses import RAW_JSON, ModelResponseStream

__all__ = ["LAZY_CHUNKS", "LazyChunk", "parsed", "scan_event"]

# Set (to True) by a caller whose stream chunks no hook needs as objects; read once per
# stream by the decoder when it is created, in the caller's context.
LAZY_CHUNKS: ContextVar[bool] = ContextVar("llmrelay_lazy_chunks", default=False)

_LAZY = "_lazy"
_USAGE = re.compile(rb'"usage"\s*:\s*\{')
_FINISHED = re.compile(rb'"finish_reason"\s*:\s*"')


def scan_event(data: bytes) -> tuple[bool, bool]:
    """``(plain, finished)`` for one event's JSON: ``plain`` when the event may stay
    unparsed (a JSON object with no usage object and no error), ``finished`` when it
    carries a finish reason."""
    if data[:1] != b"{" or b'"error"' in data or _USAGE.search(data) is not None:
        return False, False
    return True, _FINISHED.search(data) is not None


class LazyChunk(ModelResponseStream):
    """A chunk whose fields are parsed from its JSON bytes on first read (see the module
    docstring). Only the decoder builds these, for events :func:`scan_event` passed."""

    usage = None  # the scan found none; an instance value after parsing wins

    def __init__(self, raw: bytes) -> None:
        self.__dict__ = {RAW_JSON: raw, _LAZY: True}

    def parse(self) -> LazyChunk:
        """Fill the fields from the bytes (once); returns the chunk."""
        d = self.__dict__
        if d.get(_LAZY):
            full = ModelResponseStream.from_dict(json.loads(d[RAW_JSON])).__dict__
            del d[_LAZY]
            full.update(d)  # anything set on the chunk before it was read stays
            self.__dict__ = full
        return self

    def __getattr__(self, name: str) -> Any:
        # called only for names not found the usual way: a field not parsed yet
        d = self.__dict__
        if d.get(_LAZY) and not (name.startswith("__") and name.endswith("__")):
            self.parse()
            try:
                return self.__dict__[name]
            except KeyError:
                pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getitem__(self, key: str) -> Any:
        return ModelResponseStream.__getitem__(self.parse(), key)

    def __contains__(self, key: object) -> bool:
        return ModelResponseStream.__contains__(self.parse(), key)

    def get(self, key: str, default: Any = None) -> Any:
        return ModelResponseStream.get(self.parse(), key, default)

    def keys(self) -> list[str]:
        return ModelResponseStream.keys(self.parse())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def model_dump(self, exclude_none: bool = False, **kw: Any) -> dict[str, Any]:
        return ModelResponseStream.model_dump(self.parse(), exclude_none, **kw)

    dict = model_dump

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyChunk):
            other.parse()
        return ModelResponseStream.__eq__(self.parse(), other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return ModelResponseStream.__repr__(self.parse())


def parsed(chunk: Any) -> Any:
    """``chunk`` with its fields filled when it is a :class:`LazyChunk`."""
    if type(chunk) is LazyChunk:
        chunk.parse()
    return chunk
