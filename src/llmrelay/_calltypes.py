"""The call types the pipeline serves, declared once.

A call type says which argument a call must carry, how a stream of its chunks becomes the
one response the success event reports, how the call is priced, which parameters carry
prompt text (redacted with the prompt), whether its answers may be cached, and, for an
API some wires lack, the bridge that serves it over a wire's chat API. Adding a call type
is a row here (:mod:`llmrelay._surfaces` holds the rows beyond chat, text and
embeddings; the client imports it), a method on :class:`~llmrelay.Client` (plus its module function) and the
providers' translation; nothing else in the pipeline names call types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._params import check_messages
from ._streaming import stream_chunk_builder, text_chunk_as_chat
from .exceptions import BadRequestError
from .providers.base import CHAT_PARAMS, EMBEDDING_PARAMS, TEXT_PARAMS

__all__ = ["CALL_TYPES", "CallType", "call_type", "known_params", "register_call_type"]

# price(call, response, prices) -> USD or None (unpriced)
Pricer = Callable[[Any, Any, Any], "float | None"]


def _no_stream(chunks: list[Any], messages: Any) -> Any:
    return None


@dataclass(frozen=True)
class CallType:
    """``name``: as callbacks see it (``"a"`` prefixed for async calls). ``required``: the
    argument the call cannot do without (``"messages"``, or the name the caller used for
    ``input``, e.g. ``"prompt"``), None when nothing is required. ``assemble(chunks,
    messages)``: a finished stream's response (None when there is nothing to assemble).
    ``params``: the parameters OpenAI (or the API's owner) defines for it (one a provider
    does not support is refused, or dropped with ``drop_params``; any other keyword passes
    through).

    ``price(call, response, prices)``: the call's USD cost (None: unpriced); None prices
    the response's token ``usage``. ``estimate_usage``: a reply without token counts gets
    estimated ones. ``prompt_params``: parameters holding prompt text (``instructions``,
    ``system`` ...), redacted with the prompt. ``bridge``: the module (``create(provider)``)
    serving this call type over the chat API of wires that lack it. ``cache``: whole
    answers may be cached (streams only when ``assemble`` is the chat builder);
    ``response_type`` rebuilds a cached answer. ``stream_cost``: a stream's cost is
    computed at its end even when no callback listens (the proxy reads it from the
    stream's ``_hidden_params``). ``layer(settings)``: a layer this call type adds inside
    the client's own (e.g. the Responses API's conversation state). ``convert(input)``:
    the input as the pipeline carries it (an uploaded file read into an ``AudioFile``);
    it may raise BadRequestError. ``stream_hook_chunk(chunk)``: what stream hooks
    (``log_stream_event``) get for a chunk the caller sees (None: the chunk itself)."""

    name: str
    required: str | None = "input"
    assemble: Callable[[list[Any], Any], Any] = _no_stream
    params: frozenset[str] = frozenset()
    price: Pricer | None = None
    estimate_usage: bool = False
    prompt_params: frozenset[str] = frozenset()
    bridge: str | None = None
    cache: bool = True
    response_type: Any = None
    stream_cost: bool = False
    layer: Callable[[Any], Any] | None = None
    convert: Callable[[Any], Any] | None = None
    stream_hook_chunk: Callable[[Any], Any] | None = None

    def check(self, messages: Any, input: Any) -> Any:
        """The checked messages; raises :class:`BadRequestError` naming a missing argument."""
        if self.required == "messages":
            return check_messages(messages)
        if self.required is not None and (input is None or input == "" or input == []):
            raise BadRequestError(f"`{self.required}` is required for {self.name}",
                                  param=self.required)
        return messages

    def check_input(self, input: Any) -> Any:
        """``input`` as the pipeline carries it (see ``convert``)."""
        return input if self.convert is None or input is None else self.convert(input)


CALL_TYPES: dict[str, CallType] = {}
_BASE = frozenset().union(CHAT_PARAMS, TEXT_PARAMS, EMBEDDING_PARAMS)


def register_call_type(kind: CallType) -> CallType:
    """Declare a call type (a new one, or a replacement of the row of that name)."""
    CALL_TYPES[kind.name] = kind
    return kind


def known_params(kind: CallType | None = None) -> frozenset[str]:
    """The parameters OpenAI defines for chat, text and embeddings, plus ``kind``'s own:
    one of these a provider does not support is refused rather than passed through."""
    if kind is None:
        return _BASE
    made = _KNOWN.get(kind.name)
    if made is None or made[0] is not kind:  # first use, or the row was replaced
        made = _KNOWN[kind.name] = (kind, _BASE | kind.params)
    return made[1]


_KNOWN: dict[str, tuple[CallType, frozenset[str]]] = {}  # known_params per call type row


def call_type(name: str) -> CallType:
    """The declared call type ``name``; raises KeyError naming the known ones."""
    try:
        return CALL_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown call type {name!r}; known: {', '.join(CALL_TYPES)}") from None


register_call_type(CallType("completion", "messages", stream_chunk_builder, CHAT_PARAMS,
                            estimate_usage=True))
# LiteLLM's stream hooks get a text completion's chunks as chat chunks (text in the delta)
register_call_type(CallType("text_completion", "prompt", stream_chunk_builder, TEXT_PARAMS,
                            estimate_usage=True, stream_hook_chunk=text_chunk_as_chat))
register_call_type(CallType("embedding", "input", params=EMBEDDING_PARAMS,
                            estimate_usage=True))
