"""The call types the pipeline serves, declared once.

A call type says which argument a call must carry and how a stream of its chunks becomes
the one response the success event reports. Adding a call type is a row here, a method on
:class:`~llmrelay.Client` (plus its module function) and the providers' translation;
nothing else in the pipeline names call types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._params import check_messages
from ._streaming import stream_chunk_builder
from .exceptions import BadRequestError
from .providers.base import CHAT_PARAMS, EMBEDDING_PARAMS, TEXT_PARAMS

__all__ = ["CALL_TYPES", "CallType", "call_type", "known_params", "register_call_type"]


def _no_stream(chunks: list[Any], messages: Any) -> Any:
    return None


@dataclass(frozen=True)
class CallType:
    """``name``: as callbacks see it (``"a"`` prefixed for async calls). ``required``: the
    argument the call cannot do without (``"messages"``, or the name the caller used for
    ``input``, e.g. ``"prompt"``), None when nothing is required. ``assemble(chunks,
    messages)``: a finished stream's response (None when there is nothing to assemble).
    ``params``: the parameters OpenAI defines for it (one a provider does not support is
    refused, or dropped with ``drop_params``; any other keyword passes through)."""

    name: str
    required: str | None = "input"
    assemble: Callable[[list[Any], Any], Any] = _no_stream
    params: frozenset[str] = frozenset()

    def check(self, messages: Any, input: Any) -> Any:
        """The checked messages; raises :class:`BadRequestError` naming a missing argument."""
        if self.required == "messages":
            return check_messages(messages)
        if self.required is not None and (input is None or input == "" or input == []):
            raise BadRequestError(f"`{self.required}` is required for {self.name}",
                                  param=self.required)
        return messages


CALL_TYPES: dict[str, CallType] = {}
_known: list[frozenset[str]] = [frozenset()]


def register_call_type(kind: CallType) -> CallType:
    """Declare a call type (a new one, or a replacement of the row of that name)."""
    CALL_TYPES[kind.name] = kind
    _known[0] = frozenset().union(*(k.params for k in CALL_TYPES.values()))
    return kind


def known_params() -> frozenset[str]:
    """Every parameter OpenAI defines, over all call types."""
    return _known[0]


def call_type(name: str) -> CallType:
    """The declared call type ``name``; raises KeyError naming the known ones."""
    try:
        return CALL_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown call type {name!r}; known: {', '.join(CALL_TYPES)}") from None


register_call_type(CallType("completion", "messages", stream_chunk_builder, CHAT_PARAMS))
register_call_type(CallType("text_completion", "prompt", stream_chunk_builder, TEXT_PARAMS))
register_call_type(CallType("embedding", "input", params=EMBEDDING_PARAMS))
