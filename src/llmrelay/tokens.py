"""Token-count estimates, with no tokenizer and no network.

:func:`token_counter` does not use ``tiktoken`` even when it is installed: tiktoken downloads
its encodings on first use, and a gateway must never fetch files in the middle of a call. The
numbers are therefore estimates (about 4 characters per token, which is close for English
text under the GPT and Claude tokenizers) and are the same for every model. They are used
where a provider reports no usage (mock replies, interrupted streams) and for
:func:`llmrelay.completion_cost` on raw text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["token_counter"]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3  # role and separators around each message
TOKENS_PER_NAME = 1  # a message's optional "name"
REPLY_PRIMING = 3  # the assistant turn the model is primed with
TOKENS_PER_IMAGE = 85  # an image part, at OpenAI's low-detail price


def _text_tokens(text: str) -> int:
    """ceil(len / 4): 0 for "", at least 1 otherwise."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _value_tokens(value: Any) -> int:
    """Tokens of a string, or of any other JSON-able value as its JSON text."""
    if value is None:
        return 0
    if isinstance(value, str):
        return _text_tokens(value)
    try:
        return _text_tokens(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return _text_tokens(str(value))


def _content_tokens(content: Any) -> int:
    """Tokens of a message's content: a string, or a list of parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return _text_tokens(content)
    if not isinstance(content, list):
        return _value_tokens(content)
    total = 0
    for part in content:
        if isinstance(part, str):
            total += _text_tokens(part)
            continue
        text = _get(part, "text")
        if isinstance(text, str):
            total += _text_tokens(text)
        elif _get(part, "type") in ("image_url", "image", "input_image"):
            total += TOKENS_PER_IMAGE
    return total


def _call_tokens(calls: Iterable[Any]) -> int:
    total = 0
    for call in calls:
        function = _get(call, "function") or call
        total += _value_tokens(_get(function, "name")) + _value_tokens(_get(function, "arguments"))
    return total


def _message_tokens(message: Any) -> int:
    total = TOKENS_PER_MESSAGE + _content_tokens(_get(message, "content"))
    name = _get(message, "name")
    if isinstance(name, str) and name:
        total += TOKENS_PER_NAME + _text_tokens(name)
    calls = _get(message, "tool_calls")
    if isinstance(calls, list):
        total += _call_tokens(calls)
    function_call = _get(message, "function_call")
    if function_call is not None:
        total += _call_tokens([function_call])
    return total


def token_counter(model: str = "", messages: list[dict[str, Any]] | None = None,
                  text: str | list[str] | None = None) -> int:
    """Estimate the tokens in ``text`` and/or ``messages`` (both counted when both are given).

    * text: ceil(characters / 4) per string, so at least 1 for any non-empty string; a list
      of strings is the sum of its items.
    * messages: for each message, its content (a string, or a list of parts whose ``"text"``
      is counted and whose image parts count 85 each), the ``name`` (+1), and the name and
      arguments of its ``tool_calls``/``function_call``, plus 3 tokens per message; plus 3
      for the reply priming when there is at least one message. Messages may be dicts or
      response objects.

    ``model`` is accepted for LiteLLM compatibility and does not change the estimate. Never
    uses a tokenizer or the network; never raises for odd content (unknown values are counted
    by their JSON text).
    """
    total = 0
    if isinstance(text, str):
        total += _text_tokens(text)
    elif text:
        total += sum(_value_tokens(item) for item in text)
    if messages:
        total += REPLY_PRIMING + sum(_message_tokens(m) for m in messages)
    return total
