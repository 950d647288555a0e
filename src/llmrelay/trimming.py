"""``trim_messages``: fit a conversation into a token budget (LiteLLM's helper of that name,
reached as ``llmrelay.utils.trim_messages``).

The budget is ``max_tokens`` when given, else ``trim_ratio`` of the model's input limit from
the price table (a model the table does not know is returned as it is). System messages
are kept; then the newest messages, as many as fit whole; the next older one is shortened
to the tokens left, by cutting text out of its middle (marked ``..``), and older ones are
dropped. Tokens are counted with :func:`llmrelay.token_counter` for ``model``. The input
list and its messages are never changed.
"""

from __future__ import annotations

from typing import Any

from .tokens import token_counter

__all__ = ["trim_messages"]

_CUT = ".."


def _tokens(model: str, messages: list[dict[str, Any]]) -> int:
    return token_counter(model=model, messages=messages)


def _budget(model: str | None, trim_ratio: float, max_tokens: int | None) -> int | None:
    if max_tokens is not None:
        return int(max_tokens)
    if not model:
        return None
    from .cost import lookup

    row = lookup(model)
    limit = row and (row.get("max_input_tokens") or row.get("max_tokens"))
    return int(limit * trim_ratio) if limit else None


def _shorten(model: str, message: dict[str, Any], budget: int) -> dict[str, Any] | None:
    """A copy of ``message`` whose text is cut in the middle to fit ``budget`` tokens
    (None when not even an empty message fits, or its content is not plain text)."""
    text = message.get("content")
    if not isinstance(text, str):
        return None
    empty = dict(message, content="")
    if _tokens(model, [empty]) > budget:
        return None
    lo, hi = 0, len(text)  # the most characters kept that still fit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        head = mid // 2
        trial = dict(message, content=text[:head] + _CUT + text[len(text) - (mid - head):])
        if _tokens(model, [trial]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    head = lo // 2
    return dict(message, content=text[:head] + _CUT + text[len(text) - (lo - head):])


def trim_messages(messages: list[dict[str, Any]], model: str | None = None,
                  trim_ratio: float = 0.75, return_response_tokens: bool = False,
                  max_tokens: int | None = None) -> Any:
    """``messages`` trimmed to the token budget (see the module docstring); with
    ``return_response_tokens=True`` a tuple ``(messages, tokens left for the reply)``."""
    if not 0 < trim_ratio <= 1:
        raise ValueError(f"trim_ratio must be in (0, 1], got {trim_ratio!r}")
    name = model or ""
    budget = _budget(model, trim_ratio, max_tokens)
    out = list(messages)
    if budget is not None and _tokens(name, out) > budget:
        out = _trimmed(name, out, budget)
    if return_response_tokens:
        left = budget - _tokens(name, out) if budget is not None else 0
        return out, left
    return out


def _trimmed(model: str, messages: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    system = [m for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    if system and _tokens(model, system) > budget:
        # the system prompt alone is too long: it is all that is kept, shortened
        joined = dict(system[0], content="\n".join(str(m.get("content") or "")
                                                   for m in system))
        short = _shorten(model, joined, budget)
        return [short] if short is not None else []
    kept: list[dict[str, Any]] = []
    for message in reversed(rest):
        trial = [*system, message, *kept]
        if _tokens(model, trial) <= budget:
            kept.insert(0, message)
            continue
        left = budget - _tokens(model, [*system, *kept])
        short = _shorten(model, message, left)
        if short is not None:
            kept.insert(0, short)
        break
    return [*system, *kept]
