"""llmrelay: one OpenAI-shaped API over many LLM providers, with callbacks you can trust.

    import llmrelay
    r = llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])

Module settings are read at call time by the module functions (they use a default
:class:`Client` whose settings are these module attributes): ``callbacks``,
``input_callback``, ``success_callback``, ``failure_callback``, ``cache``, ``num_retries``,
``request_timeout``, ``drop_params``, ``turn_off_message_logging``, ``api_key``, ``api_base``,
``callback_timeout``, ``callback_queue_size``, ``callback_concurrency``,
``suppress_reentrant_callbacks``, ``model_prices``, ``responses_store``,
``model_alias_map``, ``organization``. Two belong to the process, not to a
client: ``callback_exit_timeout`` (the exit deadline for callback delivery) and
``callback_workers`` (the size of the dispatcher's runner pool). ``Client(...)`` takes the same settings and
shares none of them.

``llmrelay.callbacks`` is always the callback list (as in LiteLLM). The subpackage of the
same name, which holds the callback machinery, is reached by its full import path only
(``import llmrelay.callbacks.registry``); the list is never replaced by it.
"""

from __future__ import annotations

import logging as _logging
import sys
import types as _types
from typing import Any

from . import anthropic_interface as anthropic
from . import exceptions
from ._client import Client, default_client
from ._entry import module_functions as _module_functions
from ._settings import Settings
from ._streaming import AsyncStreamWrapper, CustomStreamWrapper, stream_chunk_builder
from .batch import batch_completion, batch_completion_models, batch_completion_models_all_responses
from .budget import BudgetManager
from .caching import Cache, DualCache
from .caching.module_cache import disable_cache, enable_cache, update_cache
from .callbacks.dispatcher import dispatcher as _dispatcher
from .capabilities import (
    get_llm_provider,
    get_max_tokens,
    get_supported_openai_params,
    supports_assistant_prefill,
    supports_audio_input,
    supports_audio_output,
    supports_computer_use,
    supports_embedding_image_input,
    supports_function_calling,
    supports_native_streaming,
    supports_parallel_function_calling,
    supports_pdf_input,
    supports_prompt_caching,
    supports_reasoning,
    supports_response_schema,
    supports_system_messages,
    supports_tool_choice,
    supports_url_context,
    supports_video_input,
    supports_vision,
    supports_web_search,
)
from .catalog import add_known_models, get_model_cost_map
from .cost import completion_cost, cost_per_token, get_model_info, model_cost, register_model
from .cost_units import response_cost_calculator
from .custom_llm import CustomLLM, CustomLLMError
from .environment import check_valid_key, get_secret, get_valid_models, validate_environment
from .exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConfigError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from .health_check import ahealth_check
from .integrations.custom_logger import CustomLogger
from .prompt_templates import register_prompt_template
from .retries import acompletion_with_retries, completion_with_retries
from .router import AllowedFailsPolicy, RetryPolicy, Router, RouterConfigError
from .tokens import decode, encode, token_counter
from .types import (
    AnthropicMessagesResponse,
    Choices,
    Delta,
    EmbeddingResponse,
    HttpxBinaryResponseContent,
    ImageObject,
    ImageResponse,
    Message,
    ModelResponse,
    ModelResponseStream,
    OpenAIModerationResponse,
    RerankResponse,
    ResponsesAPIResponse,
    StreamingChoices,
    TextCompletionResponse,
    TranscriptionResponse,
    Usage,
)
from .types.utils import ChatCompletionMessageToolCall, Function, GenericStreamingChunk

__version__ = "0.1.0"

# ---- settings (read at call time) -------------------------------------------------------------
callbacks: list[Any] = []
input_callback: list[Any] = []
success_callback: list[Any] = []
failure_callback: list[Any] = []
cache: Any = None
num_retries: int | None = None  # None: unset (a Router then retries twice)
num_retries_per_request: int | None = None  # a Router request's cap on failed attempts
request_timeout: float | None = None
drop_params: bool = False
turn_off_message_logging: bool = False
api_key: str | None = None
api_base: str | None = None
retry_initial_delay: float = 0.5
callback_timeout: float = 30.0
callback_queue_size: int = 10000
callback_concurrency: int = 100
suppress_reentrant_callbacks: bool = True
model_prices: dict[str, dict[str, Any]] | None = None
responses_store: Any = None  # None: the process's in-memory Responses store
model_alias_map: dict[str, str] = {}  # a model name a call may use for another
organization: str | None = None  # the OpenAI organization calls to OpenAI bill
callback_exit_timeout: float = 10.0
max_budget: float | None = None  # USD; see llmrelay.budget
_current_cost: float = 0.0  # USD spent by module calls in this process (with max_budget)
set_verbose: bool = False  # True: llmrelay's debug log goes to stderr
custom_prompt_dict: dict[str, Any] = {}  # see llmrelay.prompt_templates
custom_provider_map: list[dict[str, Any]] = []  # CustomLLM providers; see llmrelay.custom_llm
callback_workers: int = 8
# LiteLLM's switch for ``response._response_headers``: llmrelay always keeps the provider's
# headers there (and in ``_hidden_params``), so the setting is accepted and changes nothing.
return_response_headers: bool = False
# LiteLLM's switch for its "give feedback / get help" banners on errors: llmrelay prints
# none, so the setting is accepted and changes nothing.
suppress_debug_info: bool = False
verbose_logger = _logging.getLogger("llmrelay")  # LiteLLM's name for its library logger

_default = default_client()

_functions = _module_functions(_default)
completion = _functions["completion"]
acompletion = _functions["acompletion"]
embedding = _functions["embedding"]
aembedding = _functions["aembedding"]
text_completion = _functions["text_completion"]
atext_completion = _functions["atext_completion"]
mock_completion = _functions["mock_completion"]
image_generation = _functions["image_generation"]
aimage_generation = _functions["aimage_generation"]
transcription = _functions["transcription"]
atranscription = _functions["atranscription"]
speech = _functions["speech"]
aspeech = _functions["aspeech"]
moderation = _functions["moderation"]
amoderation = _functions["amoderation"]
rerank = _functions["rerank"]
arerank = _functions["arerank"]
anthropic_messages = _functions["anthropic_messages"]
responses = _functions["responses"]
aresponses = _functions["aresponses"]
get_responses = _functions["get_responses"]
aget_responses = _functions["aget_responses"]
delete_responses = _functions["delete_responses"]
adelete_responses = _functions["adelete_responses"]


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


def _set_verbose(on: bool) -> None:
    """``llmrelay.set_verbose = True``: the ``llmrelay`` logger at DEBUG, to stderr."""
    import logging

    logger = logging.getLogger("llmrelay")
    handler = next((h for h in logger.handlers if getattr(h, "_llmrelay_verbose", False)),
                   None)
    if on and handler is None:
        handler = logging.StreamHandler()
        handler._llmrelay_verbose = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    if on:
        logger.setLevel(logging.DEBUG)
    elif handler is not None:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def __getattr__(name: str) -> Any:
    """Model lists computed from the model table when read (see :mod:`llmrelay.catalog`)."""
    if name in ("models_by_provider", "provider_list") or name.endswith("_models") or (
            name == "model_list"):
        from . import catalog

        if name == "models_by_provider":
            return catalog.models_by_provider()
        if name == "provider_list":
            return catalog.provider_list()
        found = catalog.known_models(name)
        if found is not None:
            return found
    raise AttributeError(f"module 'llmrelay' has no attribute {name!r}")


class _SettingsModule(_types.ModuleType):
    """Checks callback lists when they are assigned, so mistakes surface at registration:
    unknown integration names raise, misspelled hooks warn."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LISTS:
            if not isinstance(value, list):
                raise TypeError(f"llmrelay.{name} must be a list, got {type(value).__name__}")
            from .callbacks.registry import check_lists

            check_lists({name: value})  # resolves names and warns; raises if bad
        elif name == "model_cost":  # a new table (e.g. get_model_cost_map()): load it
            from .catalog import replace_model_cost

            replace_model_cost(value)
            return
        elif name == "set_verbose":
            _set_verbose(bool(value))
        elif name == "custom_provider_map":  # providers written in Python, by name
            from .providers.registry import set_custom_providers

            set_custom_providers(value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _SettingsModule

__all__ = [
    "APIConnectionError",
    "APIError",
    "AllowedFailsPolicy",
    "AnthropicMessagesResponse",
    "AsyncStreamWrapper",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "BudgetManager",
    "Cache",
    "ChatCompletionMessageToolCall",
    "Choices",
    "Client",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "CustomLLM",
    "CustomLLMError",
    "CustomLogger",
    "CustomStreamWrapper",
    "Delta",
    "DualCache",
    "EmbeddingResponse",
    "Function",
    "GenericStreamingChunk",
    "HttpxBinaryResponseContent",
    "ImageObject",
    "ImageResponse",
    "InternalServerError",
    "LLMRelayError",
    "Message",
    "ModelResponse",
    "ModelResponseStream",
    "NotFoundError",
    "OpenAIModerationResponse",
    "PermissionDeniedError",
    "ProviderConfigError",
    "RateLimitError",
    "RerankResponse",
    "ResponsesAPIResponse",
    "RetryPolicy",
    "Router",
    "RouterConfigError",
    "ServiceUnavailableError",
    "Settings",
    "StreamingChoices",
    "TextCompletionResponse",
    "Timeout",
    "TranscriptionResponse",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "Usage",
    "acompletion",
    "acompletion_with_retries",
    "add_known_models",
    "adelete_responses",
    "aembedding",
    "aflush",
    "aget_responses",
    "ahealth_check",
    "aimage_generation",
    "amoderation",
    "anthropic",
    "anthropic_messages",
    "arerank",
    "aresponses",
    "aspeech",
    "atext_completion",
    "atranscription",
    "batch_completion",
    "batch_completion_models",
    "batch_completion_models_all_responses",
    "callback_stats",
    "check_valid_key",
    "completion",
    "completion_cost",
    "completion_with_retries",
    "cost_per_token",
    "decode",
    "delete_responses",
    "disable_cache",
    "embedding",
    "enable_cache",
    "encode",
    "exceptions",
    "flush",
    "get_llm_provider",
    "get_max_tokens",
    "get_model_cost_map",
    "get_model_info",
    "get_responses",
    "get_secret",
    "get_supported_openai_params",
    "get_valid_models",
    "image_generation",
    "mock_completion",
    "model_cost",
    "moderation",
    "register_model",
    "register_prompt_template",
    "rerank",
    "response_cost_calculator",
    "responses",
    "speech",
    "stream_chunk_builder",
    "supports_assistant_prefill",
    "supports_audio_input",
    "supports_audio_output",
    "supports_computer_use",
    "supports_embedding_image_input",
    "supports_function_calling",
    "supports_native_streaming",
    "supports_parallel_function_calling",
    "supports_pdf_input",
    "supports_prompt_caching",
    "supports_reasoning",
    "supports_response_schema",
    "supports_system_messages",
    "supports_tool_choice",
    "supports_url_context",
    "supports_video_input",
    "supports_vision",
    "supports_web_search",
    "text_completion",
    "token_counter",
    "transcription",
    "update_cache",
    "validate_environment",
]
