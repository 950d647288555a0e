"""LiteLLM's ``litellm.utils`` import path: the public helpers and response classes code
written for LiteLLM imports from there (``from litellm.utils import ModelResponse,
get_model_info``). Everything here is defined elsewhere in llmrelay; this module only
re-exports it."""

from __future__ import annotations

from ._streaming import CustomStreamWrapper, stream_chunk_builder
from .capabilities import (
    get_llm_provider,
    get_max_tokens,
    get_supported_openai_params,
    supports_function_calling,
    supports_parallel_function_calling,
    supports_prompt_caching,
    supports_reasoning,
    supports_response_schema,
    supports_system_messages,
    supports_tool_choice,
    supports_vision,
)
from .cost import completion_cost, cost_per_token, get_model_info, register_model
from .environment import check_valid_key, get_secret, get_valid_models, validate_environment
from .tokens import decode, encode, token_counter
from .trimming import trim_messages
from .types.utils import (
    ChatCompletionMessageToolCall,
    Choices,
    Delta,
    Embedding,
    EmbeddingResponse,
    Function,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    Usage,
)

__all__ = [
    "ChatCompletionMessageToolCall",
    "Choices",
    "CustomStreamWrapper",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "Message",
    "ModelResponse",
    "ModelResponseStream",
    "StreamingChoices",
    "TextChoices",
    "TextCompletionResponse",
    "Usage",
    "check_valid_key",
    "completion_cost",
    "cost_per_token",
    "decode",
    "encode",
    "get_llm_provider",
    "get_max_tokens",
    "get_model_info",
    "get_secret",
    "get_supported_openai_params",
    "get_valid_models",
    "register_model",
    "stream_chunk_builder",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_prompt_caching",
    "supports_reasoning",
    "supports_response_schema",
    "supports_system_messages",
    "supports_tool_choice",
    "supports_vision",
    "token_counter",
    "trim_messages",
    "validate_environment",
]
