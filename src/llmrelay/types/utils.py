"""LiteLLM's ``litellm.types.utils`` import path: the response classes, plus the few
typing helpers code written for LiteLLM imports from there (:class:`CallTypes`,
:class:`GenericStreamingChunk`, :data:`StandardLoggingPayload`)."""

from __future__ import annotations

import enum
from typing import Any, TypedDict

from .media import (
    HttpxBinaryResponseContent,
    ImageObject,
    ImageResponse,
    OpenAIModerationResponse,
    RerankResponse,
    TranscriptionResponse,
)
from .responses import (
    ChatCompletionDeltaToolCall,
    Choices,
    CompletionTokensDetails,
    Delta,
    Embedding,
    EmbeddingResponse,
    Function,
    Message,
    ModelResponse,
    ModelResponseStream,
    PromptTokensDetails,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    ToolCall,
    Usage,
)

__all__ = [
    "CallTypes",
    "ChatCompletionDeltaToolCall",
    "ChatCompletionMessageToolCall",
    "Choices",
    "CompletionTokensDetails",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "GenericStreamingChunk",
    "HttpxBinaryResponseContent",
    "ImageObject",
    "ImageResponse",
    "Message",
    "ModelResponse",
    "ModelResponseStream",
    "OpenAIModerationResponse",
    "PromptTokensDetails",
    "RerankResponse",
    "StandardLoggingPayload",
    "StreamingChoices",
    "TextChoices",
    "TextCompletionResponse",
    "ToolCall",
    "TranscriptionResponse",
    "Usage",
]

ChatCompletionMessageToolCall = ToolCall
StandardLoggingPayload = dict[str, Any]  # kwargs["standard_logging_object"]: a flat dict


class CallTypes(str, enum.Enum):
    """The ``call_type`` values callbacks and proxy hooks receive."""

    completion = "completion"
    acompletion = "acompletion"
    text_completion = "text_completion"
    atext_completion = "atext_completion"
    embedding = "embedding"
    aembedding = "aembedding"
    image_generation = "image_generation"
    aimage_generation = "aimage_generation"
    moderation = "moderation"
    amoderation = "amoderation"
    transcription = "transcription"
    atranscription = "atranscription"
    speech = "speech"
    aspeech = "aspeech"
    rerank = "rerank"
    arerank = "arerank"
    responses = "responses"
    aresponses = "aresponses"
    anthropic_messages = "anthropic_messages"
    aanthropic_messages = "aanthropic_messages"


class GenericStreamingChunk(TypedDict, total=False):
    """One chunk a :class:`~llmrelay.CustomLLM` streams: text, tool call, finish, usage."""

    text: str
    tool_use: dict[str, Any] | None
    is_finished: bool
    finish_reason: str
    usage: dict[str, int] | None
    index: int
