"""llmrelay: one OpenAI-shaped API over many LLM providers, with callbacks you can trust.

    import llmrelay
    r = llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])

Module settings are read at call time by the module functions (they use a default
:class:`Client` whose settings are these module attributes): ``callbacks``,
``input_callback``, ``success_callback``, ``failure_callback``, ``cache``, ``num_retries``,
``request_timeout``, ``drop_params``, ``turn_off_message_logging``, ``api_key``, ``api_base``,
``callback_timeout``, ``callback_queue_size``, ``callback_concurrency``,
``suppress_reentrant_callbacks``, ``model_prices``; ``callback_exit_timeout`` is the
process's exit deadline for callback delivery. ``Client(...)`` takes the same settings and
shares none of them.

``llmrelay.callbacks`` is always the callback list (as in LiteLLM). The subpackage of the
same name, which holds the callback machinery, is reached by its full import path only
(``import llmrelay.callbacks.registry``); the list is never replaced by it.
"""

from __future__ import annotations

import sys
import types as _types
from typing import Any

from . import exceptions
from ._client import Client, default_client
from ._settings import Settings
from ._streaming import AsyncStreamWrapper, CustomStreamWrapper, stream_chunk_builder
from .caching import Cache
from .callbacks.dispatcher import dispatcher as _dispatcher
from .cost import completion_cost, cost_per_token, get_model_info, model_cost, register_model
from .exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from .router import Router, RouterConfigError
from .tokens import token_counter
from .types import (
    Choices,
    Delta,
    EmbeddingResponse,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    TextCompletionResponse,
    Usage,
)

__version__ = "0.1.0"

# ---- settings (read at call time) -------------------------------------------------------------
callbacks: list[Any] = []
input_callback: list[Any] = []
success_callback: list[Any] = []
failure_callback: list[Any] = []
cache: Any = None
num_retries: int | None = None  # None: unset (a Router then retries twice)
request_timeout: float | None = None
drop_params: bool = False
turn_off_message_logging: bool = False
api_key: str | None = None
api_base: str | None = None
retry_initial_delay: float = 0.5
callback_timeout: float = 30.0
callback_queue_size: int = 10000
callback_concurrency: int = 16
suppress_reentrant_callbacks: bool = True
model_prices: dict[str, dict[str, Any]] | None = None
callback_exit_timeout: float = 10.0

_default = default_client()

completion = _default.completion
acompletion = _default.acompletion
embedding = _default.embedding
aembedding = _default.aembedding
text_completion = _default.text_completion
atext_completion = _default.atext_completion


def flush(timeout: float | None = None) -> bool:
    """Wait until every callback event so far is delivered; False if ``timeout`` ran out."""
    return _dispatcher.flush(timeout)


async def aflush(timeout: float | None = None) -> bool:
    """Async :func:`flush`: waits without blocking the running event loop."""
    return await _dispatcher.aflush(timeout)


def callback_stats() -> dict[str, dict[str, Any]]:
    """Per callback: delivered, failed, dropped, timed_out, queued, mean_ms, max_ms."""
    return _dispatcher.stats()


_LISTS = frozenset({"callbacks", "input_callback", "success_callback", "failure_callback"})


class _SettingsModule(_types.ModuleType):
    """Checks callback lists when they are assigned, so mistakes surface at registration:
    unknown integration names raise, misspelled hooks warn."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LISTS:
            if not isinstance(value, list):
                raise TypeError(f"llmrelay.{name} must be a list, got {type(value).__name__}")
            from .callbacks.plan import build_plan

            build_plan(value, [], [], [], False)  # resolves names and warns; raises if bad
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _SettingsModule

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncStreamWrapper",
    "AuthenticationError",
    "BadRequestError",
    "Cache",
    "Choices",
    "Client",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "CustomStreamWrapper",
    "Delta",
    "EmbeddingResponse",
    "InternalServerError",
    "LLMRelayError",
    "Message",
    "ModelResponse",
    "ModelResponseStream",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Router",
    "RouterConfigError",
    "ServiceUnavailableError",
    "Settings",
    "StreamingChoices",
    "TextCompletionResponse",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "Usage",
    "acompletion",
    "aembedding",
    "aflush",
    "atext_completion",
    "callback_stats",
    "completion",
    "completion_cost",
    "cost_per_token",
    "embedding",
    "exceptions",
    "flush",
    "get_model_info",
    "model_cost",
    "register_model",
    "stream_chunk_builder",
    "text_completion",
    "token_counter",
]
