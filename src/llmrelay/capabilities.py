"""What a model can do, from the model table and the provider rows (LiteLLM's helper names).

``supports_function_calling("gpt-4o")``, ``supports_vision(...)``,
``supports_response_schema(...)``, ``supports_reasoning(...)``,
``supports_prompt_caching(...)`` ... read the model's ``supports_*`` flag: False for a model
the table does not know (never an exception), as LiteLLM answers.
:func:`get_supported_openai_params` lists the OpenAI parameters llmrelay sends to the
model's provider, :func:`get_llm_provider` splits a model string the way every call does,
:func:`get_max_tokens` is the model's output limit.
"""

from __future__ import annotations

import logging
from typing import Any

from .cost import get_model_info
from .exceptions import BadRequestError, LLMRelayError

__all__ = [
    "get_llm_provider",
    "get_max_tokens",
    "get_supported_openai_params",
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
]

_log = logging.getLogger("llmrelay")
# Flags the table does not spell out for every row, derived from one it does.
_IMPLIED = {"supports_tool_choice": "supports_function_calling",
            "supports_parallel_function_calling": "supports_function_calling"}
# Flags true for every chat model unless the row says otherwise.
_DEFAULT_TRUE = frozenset({"supports_system_messages", "supports_native_streaming"})
_REQUEST_TYPES = {"chat_completion": "completion", "completion": "completion",
                  "embeddings": "embedding", "embedding": "embedding",
                  "text_completion": "text_completion"}


def _flag(flag: str, model: str, custom_llm_provider: str | None) -> bool:
    try:
        info = get_model_info(model, custom_llm_provider=custom_llm_provider)
    except LLMRelayError:
        _log.debug("%s(%r): model not in the table; answering False", flag, model)
        return False
    value = info.get(flag)
    if value is None and flag in _IMPLIED:
        value = info.get(_IMPLIED[flag])
    if value is None and flag in _DEFAULT_TRUE:
        value = info.get("mode", "chat") == "chat"
    return bool(value)


def supports_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model accepts ``tools``/``functions``."""
    return _flag("supports_function_calling", model, custom_llm_provider)


def supports_parallel_function_calling(model: str,
                                       custom_llm_provider: str | None = None) -> bool:
    """Whether the model may call several tools in one reply."""
    return _flag("supports_parallel_function_calling", model, custom_llm_provider)


def supports_tool_choice(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model honours ``tool_choice``."""
    return _flag("supports_tool_choice", model, custom_llm_provider)


def supports_vision(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model accepts image parts in messages."""
    return _flag("supports_vision", model, custom_llm_provider)


def supports_response_schema(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model honours ``response_format={"type": "json_schema", ...}``."""
    return _flag("supports_response_schema", model, custom_llm_provider)


def supports_reasoning(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model thinks before answering (``reasoning_effort``, thinking tokens)."""
    return _flag("supports_reasoning", model, custom_llm_provider)


def supports_prompt_caching(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the provider caches prompt prefixes for this model (cheaper cache reads)."""
    return _flag("supports_prompt_caching", model, custom_llm_provider)


def supports_system_messages(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes a ``system`` message."""
    return _flag("supports_system_messages", model, custom_llm_provider)


def supports_native_streaming(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the provider streams this model's replies itself."""
    return _flag("supports_native_streaming", model, custom_llm_provider)


def supports_audio_input(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model accepts audio parts in messages."""
    return _flag("supports_audio_input", model, custom_llm_provider)


def supports_audio_output(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model can answer with audio."""
    return _flag("supports_audio_output", model, custom_llm_provider)


def supports_pdf_input(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model accepts PDF documents in messages."""
    return _flag("supports_pdf_input", model, custom_llm_provider)


def supports_video_input(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model accepts video in messages."""
    return _flag("supports_video_input", model, custom_llm_provider)


def supports_web_search(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model can search the web (``web_search_options``)."""
    return _flag("supports_web_search", model, custom_llm_provider)


def supports_url_context(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model can read URLs given in the prompt."""
    return _flag("supports_url_context", model, custom_llm_provider)


def supports_computer_use(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model has the computer-use tool."""
    return _flag("supports_computer_use", model, custom_llm_provider)


def supports_assistant_prefill(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether a final assistant message is continued rather than answered."""
    return _flag("supports_assistant_prefill", model, custom_llm_provider)


def supports_embedding_image_input(model: str,
                                   custom_llm_provider: str | None = None) -> bool:
    """Whether the embedding model accepts images."""
    return _flag("supports_embedding_image_input", model, custom_llm_provider)


def get_llm_provider(model: str, custom_llm_provider: str | None = None,
                     api_base: str | None = None,
                     api_key: str | None = None) -> tuple[str, str, str | None, str | None]:
    """``(model, provider, api_key, api_base)`` as a call would use them:
    ``get_llm_provider("anthropic/claude-3-5-haiku-latest")`` ->
    ``("claude-3-5-haiku-latest", "anthropic", None, None)``. The key and base come from
    the arguments, else the provider's environment variables; the base also from its
    default URL. Raises :class:`~llmrelay.BadRequestError` for a model no provider serves."""
    from .providers.registry import resolve_model

    spec, name = resolve_model(model, custom_llm_provider)
    return (name, spec.name, api_key or spec.env_key(),
            api_base or spec.env_base() or spec.base_url)


def get_supported_openai_params(model: str, custom_llm_provider: str | None = None,
                                request_type: str = "chat_completion") -> list[str] | None:
    """The OpenAI parameters llmrelay passes to ``model``'s provider for ``request_type``
    (``"chat_completion"``, ``"embeddings"`` or ``"text_completion"``), sorted; None when
    no provider serves the model (as LiteLLM answers)."""
    from .providers.registry import get_provider, resolve_model

    call_type = _REQUEST_TYPES.get(request_type)
    if call_type is None:
        raise ValueError(f"request_type must be one of {', '.join(_REQUEST_TYPES)}, got "
                         f"{request_type!r}")
    try:
        spec, _ = resolve_model(model, custom_llm_provider)
    except BadRequestError:
        return None
    return sorted(get_provider(spec).supported_params(call_type))


def get_max_tokens(model: str) -> int | None:
    """The model's maximum output tokens (None when the table has no limit for it).
    Raises :class:`~llmrelay.NotFoundError` for a model the table does not know."""
    info: dict[str, Any] = get_model_info(model)
    value = info.get("max_output_tokens") or info.get("max_tokens")
    return int(value) if value is not None else None
