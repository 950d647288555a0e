"""Response objects in OpenAI's shapes: the classes behind :mod:`llmrelay.types`.

Every object supports attribute access (``r.choices[0].message.content``), item access
(``r["choices"][0]["message"]["content"]``), ``get``, ``model_dump()``,
``model_dump_json()`` and ``json()``. They are plain classes rather than pydantic models so
that building one costs a few microseconds and ``import llmrelay`` stays light.
"""

from __future__ import annotations

import builtins
import json
import random
import time
from collections.abc import Iterator
from typing import Any, ClassVar

__all__ = [
    "RAW_JSON",
    "Choices",
    "CompletionTokensDetails",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "Message",
    "ModelResponse",
    "ModelResponseStream",
    "OpenAIObject",
    "PromptTokensDetails",
    "StreamingChoices",
    "TextChoices",
    "TextCompletionResponse",
    "ToolCall",
    "Usage",
    "raw_json",
]


def _dump(value: Any) -> Any:
    if isinstance(value, OpenAIObject):
        return value.model_dump()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


class OpenAIObject:
    """Base of every response object: a record with attribute and item access.

    ``_fields`` lists the public fields in output order with their defaults; unknown keys
    given to the constructor are kept as extra fields so nothing a provider sends is lost.
    """

    _fields: ClassVar[dict[str, Any]] = {}
    _children: ClassVar[dict[str, Any]] = {}

    def __init__(self, **data: Any) -> None:
        self._load(data)

    def _load(self, data: dict[str, Any]) -> None:
        d = dict(self._fields)
        d.update(data)
        for name, kind in self._children.items():
            value = d.get(name)
            if value is None:
                continue
            if type(value) is dict:
                d[name] = kind.from_dict(value)
            elif type(value) is list:
                d[name] = [kind.from_dict(v) if type(v) is dict else v for v in value]
        self.__dict__ = d
        self._post()

    def _post(self) -> None:
        """Fill defaults that depend on other fields; overridden where needed."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Build from a parsed JSON dict (the fast path used on every reply and chunk)."""
        obj = cls.__new__(cls)
        obj._load(data)
        return obj

    # item access, for code written against LiteLLM's dict-like objects
    def __getitem__(self, key: str) -> Any:
        try:
            return self.__dict__[key]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self.__dict__[key] = value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and not key.startswith("_") and key in self.__dict__

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def keys(self) -> list[str]:
        return [k for k in self.__dict__ if not k.startswith("_")]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def model_dump(self, exclude_none: bool = False, **_: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if k.startswith("_") or (exclude_none and v is None):
                continue
            out[k] = _dump(v)
        return out

    dict = model_dump  # pydantic v1 spelling, still used in the wild

    def model_dump_json(self, exclude_none: bool = False, **_: Any) -> str:
        return json.dumps(self.model_dump(exclude_none=exclude_none), default=str)

    def json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OpenAIObject):
            return self.model_dump() == other.model_dump()
        if isinstance(other, dict):
            return self.model_dump() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def _response_headers(self) -> builtins.dict[str, str] | None:
        """The provider's HTTP response headers for this reply (LiteLLM's
        ``response._response_headers``; llmrelay keeps them whether or not
        ``return_response_headers`` is set). None when no HTTP reply made this object
        (a mock, a cache hit, a nested object)."""
        hidden = self.__dict__.get("_hidden_params")
        return (hidden.get("response_headers") or None) if hidden else None

    @_response_headers.setter
    def _response_headers(self, value: builtins.dict[str, str] | None) -> None:
        self.__dict__.setdefault("_hidden_params", {})["response_headers"] = value

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if not k.startswith("_"))
        return f"{type(self).__name__}({inner})"


class Function(OpenAIObject):
    _fields = {"name": None, "arguments": ""}
    name: str | None
    arguments: str


class ToolCall(OpenAIObject):
    _fields = {"id": None, "type": "function", "function": None}
    _children = {"function": Function}
    id: str | None
    type: str
    function: Function


class ChatCompletionDeltaToolCall(ToolCall):
    _fields = {"index": 0, "id": None, "type": None, "function": None}
    index: int


class Message(OpenAIObject):
    _fields = {"content": None, "role": "assistant", "tool_calls": None, "function_call": None}
    provider_specific_fields: Any = None  # read by code ported from LiteLLM; not dumped
    _children = {"tool_calls": ToolCall, "function_call": Function}
    content: str | None
    role: str
    tool_calls: list[ToolCall] | None
    function_call: Function | None


class Delta(OpenAIObject):
    _fields = {"content": None, "role": None, "tool_calls": None, "function_call": None}
    provider_specific_fields: Any = None
    _children = {"tool_calls": ChatCompletionDeltaToolCall, "function_call": Function}
    content: str | None
    role: str | None
    tool_calls: list[ChatCompletionDeltaToolCall] | None


class Choices(OpenAIObject):
    _fields = {"finish_reason": "stop", "index": 0, "message": None, "logprobs": None}
    provider_specific_fields: Any = None
    _children = {"message": Message}
    finish_reason: str | None
    index: int
    message: Message
    logprobs: Any

    def _post(self) -> None:
        if self.message is None:
            self.__dict__["message"] = Message()


class StreamingChoices(OpenAIObject):
    _fields = {"finish_reason": None, "index": 0, "delta": None, "logprobs": None}
    provider_specific_fields: Any = None
    _children = {"delta": Delta}
    finish_reason: str | None
    index: int
    delta: Delta
    logprobs: Any

    def _post(self) -> None:
        if self.delta is None:
            self.__dict__["delta"] = Delta()


class PromptTokensDetails(OpenAIObject):
    _fields = {"cached_tokens": 0, "audio_tokens": None}
    cached_tokens: int


class CompletionTokensDetails(OpenAIObject):
    _fields = {"reasoning_tokens": 0, "audio_tokens": None}
    reasoning_tokens: int


class Usage(OpenAIObject):
    """Token counts. ``cache_creation_input_tokens``/``cache_read_input_tokens`` carry
    Anthropic-style prompt-cache counts; ``prompt_tokens`` always includes cached tokens."""

    _fields = {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    _children = {
        "prompt_tokens_details": PromptTokensDetails,
        "completion_tokens_details": CompletionTokensDetails,
    }
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None
    completion_tokens_details: CompletionTokensDetails | None

    def _post(self) -> None:
        d = self.__dict__
        if d["prompt_tokens"] is None:
            d["prompt_tokens"] = 0
        if d["completion_tokens"] is None:
            d["completion_tokens"] = 0
        if not d["total_tokens"]:
            d["total_tokens"] = d["prompt_tokens"] + d["completion_tokens"]

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return int(getattr(details, "cached_tokens", 0) or 0)

    @property
    def reasoning_tokens(self) -> int:
        details = self.completion_tokens_details
        return int(getattr(details, "reasoning_tokens", 0) or 0)


def new_id(prefix: str = "chatcmpl-") -> str:
    """A random id; ``random`` is reseeded after fork, and ids need not be secret."""
    return f"{prefix}{random.getrandbits(96):024x}"


def new_call_id() -> str:
    """A random UUID-4-shaped string, ten times cheaper than ``str(uuid.uuid4())``."""
    h = f"{random.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class ModelResponse(OpenAIObject):
    """A chat completion (``object == "chat.completion"``)."""

    _fields = {
        "id": None,
        "object": "chat.completion",
        "created": None,
        "model": None,
        "choices": None,
        "usage": None,
        "system_fingerprint": None,
    }
    _children = {"choices": Choices, "usage": Usage}
    id: str
    object: str
    created: int
    model: str | None
    choices: list[Choices]
    usage: Usage
    system_fingerprint: str | None
    _hidden_params: dict[str, Any]

    def _post(self) -> None:
        d = self.__dict__
        if d["id"] is None:
            d["id"] = new_id()
        if d["created"] is None:
            d["created"] = int(time.time())
        if d["choices"] is None:
            d["choices"] = [Choices()]
        if d["usage"] is None:
            d["usage"] = Usage()
        d.setdefault("_hidden_params", {})


class ModelResponseStream(OpenAIObject):
    """One streamed chunk (``object == "chat.completion.chunk"``)."""

    _fields = {
        "id": None,
        "object": "chat.completion.chunk",
        "created": None,
        "model": None,
        "choices": None,
        "system_fingerprint": None,
    }
    _children = {"choices": StreamingChoices, "usage": Usage}
    id: str
    object: str
    created: int
    model: str | None
    choices: list[StreamingChoices]
    usage: Usage | None

    def _post(self) -> None:
        d = self.__dict__
        if d["choices"] is None:
            d["choices"] = []
        if d["created"] is None:
            d["created"] = int(time.time())
        if d["id"] is None:
            d["id"] = new_id()
        d.setdefault("_hidden_params", {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The per-chunk hot path: the common shape (text deltas, no usage, no tool calls)
        is built inline; anything else takes the general path."""
        if cls is not ModelResponseStream or data.get("usage") is not None:
            return super().from_dict(data)
        d = dict(_CHUNK_FIELDS)
        d.update(data)
        choices = d["choices"]
        if type(choices) is not list or d["id"] is None or d["created"] is None:
            return super().from_dict(data)
        built = []
        for c in choices:
            if type(c) is not dict:
                return super().from_dict(data)
            cd = dict(_CHOICE_FIELDS)
            cd.update(c)
            delta = cd["delta"]
            if type(delta) is not dict:
                return super().from_dict(data)
            dd = dict(_DELTA_FIELDS)
            dd.update(delta)
            if dd["tool_calls"] is not None or dd["function_call"] is not None:
                return super().from_dict(data)
            dobj = _new(Delta)
            dobj.__dict__ = dd
            cd["delta"] = dobj
            cobj = _new(StreamingChoices)
            cobj.__dict__ = cd
            built.append(cobj)
        d["choices"] = built
        d["_hidden_params"] = {}
        obj = _new(cls)
        obj.__dict__ = d
        return obj


_new = object.__new__
_CHUNK_FIELDS = ModelResponseStream._fields
_CHOICE_FIELDS = StreamingChoices._fields
_DELTA_FIELDS = Delta._fields


class Embedding(OpenAIObject):
    _fields = {"object": "embedding", "index": 0, "embedding": None}
    index: int
    embedding: list[float] | str


class EmbeddingResponse(OpenAIObject):
    _fields = {"object": "list", "data": None, "model": None, "usage": None}
    _children = {"data": Embedding, "usage": Usage}
    data: list[Embedding]
    model: str | None
    usage: Usage

    def _post(self) -> None:
        d = self.__dict__
        if d["data"] is None:
            d["data"] = []
        if d["usage"] is None:
            d["usage"] = Usage()
        d.setdefault("_hidden_params", {})


class TextChoices(OpenAIObject):
    _fields = {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    text: str
    index: int
    finish_reason: str | None


class TextCompletionResponse(OpenAIObject):
    _fields = {
        "id": None,
        "object": "text_completion",
        "created": None,
        "model": None,
        "choices": None,
    }
    _children = {"choices": TextChoices, "usage": Usage}
    id: str
    choices: list[TextChoices]
    usage: Usage | None  # a streamed chunk carries None (given explicitly) unless counted

    def _post(self) -> None:
        d = self.__dict__
        if d["id"] is None:
            d["id"] = new_id("cmpl-")
        if d["created"] is None:
            d["created"] = int(time.time())
        if d["choices"] is None:
            d["choices"] = []
        if "usage" not in d:
            d["usage"] = Usage()
        d.setdefault("_hidden_params", {})


# LiteLLM spells the tool-call type this way; keep the alias for code ported from it.
ChatCompletionMessageToolCall = ToolCall


# Replies and stream chunks parsed from an OpenAI-shaped upstream keep the JSON bytes they
# were parsed from under this private attribute (never serialized: objects write their
# public fields only). A gateway may send those bytes on instead of re-encoding the object
# while nothing has changed the object (the proxy's raw pass-through).
RAW_JSON = "_raw_json"


def raw_json(obj: Any) -> bytes | None:
    """The upstream JSON ``obj`` was parsed from, when it was kept, else None."""
    d = getattr(obj, "__dict__", None)
    raw = d.get(RAW_JSON) if d is not None else None
    return raw if type(raw) is bytes else None
