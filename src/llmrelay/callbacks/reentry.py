"""The re-entrancy guard: a call made from inside a hook does not fire that hook's logger
again.

While llmrelay runs a hook (in-band on the caller's side, or in the background), a context
variable names the logger being served; hooks run in a copy of the caller's context, so
the mark travels with anything the hook does, a ``completion()`` inside it included. A
call started under the mark leaves the marked loggers out of its events (other loggers
still hear about it), so a logger that calls the model from its success hook cannot loop
on itself. This is the same idea as OpenTelemetry's suppress-instrumentation context key,
applied per logger.

Switch it off with ``llmrelay.suppress_reentrant_callbacks = False`` (or the client setting
of that name): a hook's own calls then fire it again, as in LiteLLM.
:func:`suppressed` tells whether code runs under the mark, and
:func:`delivering` sets it around code of your own that should count as a hook of
``target``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

__all__ = ["call_marked", "current", "delivering", "mark", "mark_sink", "reset", "suppressed"]

_EMPTY: frozenset[int] = frozenset()
_DELIVERING: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "llmrelay_delivering", default=_EMPTY)


def current() -> frozenset[int]:
    """Ids of the loggers whose hooks the current context runs inside."""
    return _DELIVERING.get()


def mark(target: Any) -> contextvars.Token[frozenset[int]]:
    """Mark the current context as running a hook of ``target`` (undo with ``reset``)."""
    return _DELIVERING.set(_DELIVERING.get() | {id(target)})


def mark_sink(sink: Any) -> contextvars.Token[frozenset[int]]:
    """:func:`mark` for a plan's sink (its mark is computed once, with the plan)."""
    current = _DELIVERING.get()
    return _DELIVERING.set(current | sink.mark if current else sink.mark)


def call_marked(sink: Any, args: tuple[Any, ...]) -> Any:
    """``sink.fn(*args)`` marked as a hook of ``sink``'s target (for the dispatcher, which
    runs it inside a fresh context copy, so the mark ends with the call)."""
    current = _DELIVERING.get()
    _DELIVERING.set(current | sink.mark if current else sink.mark)
    return sink.fn(*args)


def reset(token: contextvars.Token[frozenset[int]]) -> None:
    _DELIVERING.reset(token)


@contextlib.contextmanager
def delivering(target: Any) -> Iterator[None]:
    """Run a block as if it were a hook of ``target``."""
    token = mark(target)
    try:
        yield
    finally:
        _DELIVERING.reset(token)


def suppressed(target: Any) -> bool:
    """Whether calls made here leave ``target`` out of their events."""
    return id(target) in _DELIVERING.get()
