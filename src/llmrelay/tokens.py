"""Token counts for requests without usage: a real tokenizer when one is on disk, else an
estimate. Never a network fetch.

OpenAI models (``gpt-3.5``/``gpt-4`` -> ``cl100k_base``; ``gpt-4o``, ``gpt-4.1``, ``gpt-5``,
``o1``/``o3``/``o4`` -> ``o200k_base``) are counted with ``tiktoken`` when it is installed
*and* its encoding file is already in tiktoken's cache (``TIKTOKEN_CACHE_DIR``,
``DATA_GYM_CACHE_DIR``, or ``<tmp>/data-gym-cache``) with the published checksum. tiktoken
downloads a missing or damaged file on first use, and a gateway must never fetch files in the
middle of a call, so the file is checked here first; without it the estimate is used.

Everything else (other vendors' models, or no tokenizer available) is an estimate: about 4
characters per token, which is close for English text under the GPT and Claude tokenizers.
Counts are used where a provider reports no usage (mock replies, interrupted streams,
embeddings without usage) and for :func:`llmrelay.completion_cost` on raw text.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ENCODING_FILES", "decode", "encode", "encoding_for", "token_counter"]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3  # role and separators around each message
TOKENS_PER_NAME = 1  # a message's optional "name"
REPLY_PRIMING = 3  # the assistant turn the model is primed with
TOKENS_PER_IMAGE = 85  # an image part, at OpenAI's low-detail price


# Published SHA-256 of tiktoken's encoding files (what tiktoken itself checks).
ENCODING_FILES: dict[str, tuple[str, str]] = {
    "cl100k_base": ("https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "o200k_base": ("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
}
# Model-name prefixes (after any "provider/") -> encoding; the first match wins.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"), ("chatgpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"), ("gpt-5", "o200k_base"), ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"), ("o3", "o200k_base"), ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"), ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"), ("text-embedding-ada-002", "cl100k_base"),
)
_OPENAI_HOSTS = frozenset({"openai", "azure", "text-completion-openai"})
_encoders: dict[str, Callable[[str], int] | None] = {}
_encoders_lock = threading.Lock()


def encoding_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model name (``openai/``/``azure/`` allowed)."""
    head, sep, rest = (model or "").partition("/")
    if sep:
        if head not in _OPENAI_HOSTS:
            return None
        model = rest
    for prefix, encoding in _FAMILIES:
        if model.startswith(prefix):
            return encoding
    return None


def _cached_file(encoding: str) -> str | None:
    """Path of tiktoken's cached copy of ``encoding`` if it is there and intact."""
    url, digest = ENCODING_FILES[encoding]
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:  # tiktoken reads straight from the URL then: a fetch
        return None
    path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return path if hashlib.sha256(data).hexdigest() == digest else None


def _load(encoding: str) -> Callable[[str], int] | None:
    try:
        import tiktoken  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    if _cached_file(encoding) is None:
        return None  # tiktoken would download it
    try:
        enc = tiktoken.get_encoding(encoding)
    except Exception:  # a broken install must not break a call
        return None

    def count(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    return count


def _counter(model: str) -> Callable[[str], int] | None:
    """A real token counter for ``model``, or None (see the module docstring)."""
    encoding = encoding_for(model) if model else None
    if encoding is None:
        return None
    found = _encoders.get(encoding, _encoders)
    if found is _encoders:
        with _encoders_lock:
            if encoding not in _encoders:
                _encoders[encoding] = _load(encoding)
            found = _encoders[encoding]
    return found  # type: ignore[return-value]


def _text_tokens(text: str) -> int:
    """ceil(len / 4): 0 for "", at least 1 otherwise."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


Count = Callable[[str], int]


def _value_tokens(value: Any, count: Count = _text_tokens) -> int:
    """Tokens of a string, or of any other JSON-able value as its JSON text."""
    if value is None:
        return 0
    if isinstance(value, str):
        return count(value)
    try:
        return count(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return count(str(value))


def _content_tokens(content: Any, count: Count) -> int:
    """Tokens of a message's content: a string, or a list of parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return count(content)
    if not isinstance(content, list):
        return _value_tokens(content, count)
    total = 0
    for part in content:
        if isinstance(part, str):
            total += count(part)
            continue
        text = _get(part, "text")
        if isinstance(text, str):
            total += count(text)
        elif _get(part, "type") in ("image_url", "image", "input_image"):
            total += TOKENS_PER_IMAGE
    return total


def _call_tokens(calls: Iterable[Any], count: Count) -> int:
    total = 0
    for call in calls:
        function = _get(call, "function") or call
        total += (_value_tokens(_get(function, "name"), count)
                  + _value_tokens(_get(function, "arguments"), count))
    return total


def _message_tokens(message: Any, count: Count) -> int:
    total = TOKENS_PER_MESSAGE + _content_tokens(_get(message, "content"), count)
    name = _get(message, "name")
    if isinstance(name, str) and name:
        total += TOKENS_PER_NAME + count(name)
    calls = _get(message, "tool_calls")
    if isinstance(calls, list):
        total += _call_tokens(calls, count)
    function_call = _get(message, "function_call")
    if function_call is not None:
        total += _call_tokens([function_call], count)
    return total


def token_counter(model: str = "", messages: list[dict[str, Any]] | None = None,
                  text: str | list[str] | None = None, *,
                  count_response_tokens: bool | None = False,
                  tools: list[dict[str, Any]] | None = None,
                  custom_tokenizer: dict[str, Any] | None = None,
                  tool_choice: Any = None) -> int:
    """Count the tokens in ``text`` and/or ``messages`` (both counted when both are given).

    LiteLLM's keywords: ``count_response_tokens=True`` counts the messages' text only
    (a reply's tokens: no per-message or priming overhead); ``tools`` adds the tools'
    definitions and ``tool_choice`` a named choice, counted as their JSON text;
    ``custom_tokenizer={"type": ..., "tokenizer": tok}`` counts strings with
    ``tok.encode(text)`` (a Hugging Face ``tokenizers.Tokenizer`` or anything whose
    ``encode`` returns ids, or an object with ``.ids``).

    Strings are counted with ``model``'s tokenizer when one is available offline (OpenAI
    models with tiktoken and its cached encoding file, see the module docstring), else
    estimated as ceil(characters / 4), so at least 1 for any non-empty string. On top of the
    strings, following OpenAI's accounting for chat messages:

    * text: a list of strings is the sum of its items.
    * messages: for each message, its content (a string, or a list of parts whose ``"text"``
      is counted and whose image parts count 85 each), the ``name`` (+1), and the name and
      arguments of its ``tool_calls``/``function_call``, plus 3 tokens per message; plus 3
      for the reply priming when there is at least one message. Messages may be dicts or
      response objects.

    Never fetches anything over the network; never raises for odd content (unknown values
    are counted by their JSON text).
    """
    count = _custom_counter(custom_tokenizer) or _counter(model) or _text_tokens
    total = 0
    if isinstance(text, str):
        total += count(text)
    elif text:
        total += sum(_value_tokens(item, count) for item in text)
    if messages:
        counted = sum(_message_tokens(m, count) for m in messages)
        if count_response_tokens:
            counted -= TOKENS_PER_MESSAGE * len(messages)
        else:
            counted += REPLY_PRIMING
        total += counted
    if tools:
        total += _value_tokens(tools, count)
    if isinstance(tool_choice, dict):
        total += _value_tokens(tool_choice, count)
    return total


def _custom_counter(custom: dict[str, Any] | None) -> Count | None:
    """A counter over a user-supplied tokenizer (LiteLLM's ``custom_tokenizer`` dict)."""
    tokenizer = custom.get("tokenizer") if isinstance(custom, dict) else None
    encode = getattr(tokenizer, "encode", None)
    if encode is None:
        return None

    def count(text: str) -> int:
        encoded = encode(text)
        ids = getattr(encoded, "ids", encoded)
        return len(ids)
    return count


def _encoding(model: str) -> Any:
    try:
        import tiktoken  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ImportError("llmrelay.encode()/decode() need tiktoken: pip install "
                          "'llmrelay[tokens]'") from None
    name = encoding_for(model) or "cl100k_base"
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # e.g. no network for tiktoken's first download of the file
        raise RuntimeError(
            f"llmrelay.encode()/decode(): tiktoken could not load its {name!r} encoding "
            f"({type(exc).__name__}: {exc}). tiktoken downloads the file on first use; "
            f"without network access, put the file into the folder TIKTOKEN_CACHE_DIR "
            f"names (or pass custom_tokenizer=)") from exc


def encode(model: str = "", text: str = "", custom_tokenizer: Any = None) -> list[int]:
    """The token ids of ``text`` under ``model``'s tokenizer: tiktoken's encoding for
    OpenAI models, ``cl100k_base`` for others (as LiteLLM does), or ``custom_tokenizer``
    (anything with ``encode(text)``). Unlike :func:`token_counter`, this may let tiktoken
    download its encoding file on first use. Raises ImportError without tiktoken, and
    RuntimeError naming the encoding when tiktoken cannot load it (no network)."""
    enc = custom_tokenizer if custom_tokenizer is not None else _encoding(model)
    if isinstance(enc, dict) and "tokenizer" in enc:  # LiteLLM's {"type", "tokenizer"} form
        enc = enc["tokenizer"]
    ids = enc.encode(text)
    return list(getattr(ids, "ids", ids))


def decode(model: str = "", tokens: list[int] | None = None,
           custom_tokenizer: Any = None) -> str:
    """The text of ``tokens`` (ids from :func:`encode` with the same model)."""
    enc = custom_tokenizer if custom_tokenizer is not None else _encoding(model)
    if isinstance(enc, dict) and "tokenizer" in enc:
        enc = enc["tokenizer"]
    return str(enc.decode(list(tokens or [])))
