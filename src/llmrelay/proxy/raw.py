"""Raw pass-through: an answer read from an OpenAI-shaped upstream goes to the client as
the upstream's own bytes (the JSON body; each SSE event's JSON) instead of the parsed
object encoded again, whenever nothing on the proxy changed the object or asked to.

The SDK keeps the bytes it parsed each reply and chunk from
(:func:`llmrelay.types.responses.raw_json`); everyone who wants objects still gets them
(callbacks, hooks, the spend record read the parsed usage), so the callback contract and
the accounting are unchanged. The bytes are used only when:

- no ``async_post_call_success_hook`` is registered (it may change the response), for a
  whole answer; no ``async_post_call_streaming_hook`` or
  ``async_post_call_streaming_iterator_hook``, for a stream;
- the object is not a cache hit and its usage was not estimated by the SDK (both change
  what the client would see);
- for a stream, the chunk is not the usage chunk the proxy prices (``usage.cost`` is
  added to it), which is encoded as before.

Everything else (other call types, mocks, bridged providers, answers from another wire
format) is encoded from the object as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types.responses import raw_json
from .lean import LeanResponse

__all__ = ["PASS_THROUGH_CALLS", "raw_answer", "raw_event"]

# the call types whose answers the SDK reads from OpenAI's own wire format
PASS_THROUGH_CALLS = frozenset({"completion", "text_completion", "embeddings"})


def raw_answer(call_type: str, hooks: Any, response: Any,
               headers: Mapping[str, str]) -> LeanResponse | None:
    """The answer as the upstream's bytes, or None when it must be encoded."""
    if call_type not in PASS_THROUGH_CALLS or hooks.success:
        return None
    raw = raw_json(response)
    if raw is None:
        return None
    hidden = getattr(response, "_hidden_params", None)
    if hidden and (hidden.get("cache_hit") or hidden.get("usage_estimated")):
        return None
    return LeanResponse(raw, headers, 200, "application/json")


def raw_event(chunk: Any) -> bytes | None:
    """One chat SSE event of the upstream's bytes for ``chunk``, or None."""
    raw = raw_json(chunk)
    return None if raw is None else b"data: " + raw + b"\n\n"
