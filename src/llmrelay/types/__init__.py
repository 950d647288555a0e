"""Response objects in OpenAI's shapes (defined in :mod:`.responses`).

``llmrelay.types.utils``, ``llmrelay.types.router``, ``llmrelay.types.rerank`` and
``llmrelay.types.llms.openai`` are the import paths LiteLLM users write (``from
litellm.types.utils import ModelResponse``), re-exporting the same classes.
"""

from __future__ import annotations

from .anthropic_messages import AnthropicEvent, AnthropicMessagesResponse, AnthropicUsage
from .media import (
    HttpxBinaryResponseContent,
    ImageObject,
    ImageResponse,
    ImageUsage,
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
    OpenAIObject,
    PromptTokensDetails,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    ToolCall,
    Usage,
    new_call_id,
    new_id,
)
from .responses_api import (
    DeleteResponseResult,
    ResponseAPIUsage,
    ResponsesAPIResponse,
    ResponsesStreamEvent,
)

__all__ = [
    "AnthropicEvent",
    "AnthropicMessagesResponse",
    "AnthropicUsage",
    "ChatCompletionDeltaToolCall",
    "Choices",
    "CompletionTokensDetails",
    "DeleteResponseResult",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "HttpxBinaryResponseContent",
    "ImageObject",
    "ImageResponse",
    "ImageUsage",
    "Message",
    "ModelResponse",
    "ModelResponseStream",
    "OpenAIModerationResponse",
    "OpenAIObject",
    "PromptTokensDetails",
    "RerankResponse",
    "ResponseAPIUsage",
    "ResponsesAPIResponse",
    "ResponsesStreamEvent",
    "StreamingChoices",
    "TextChoices",
    "TextCompletionResponse",
    "ToolCall",
    "TranscriptionResponse",
    "Usage",
    "new_call_id",
    "new_id",
]
