"""Response objects in OpenAI's shapes (defined in :mod:`.responses`).

``llmrelay.types.utils`` and ``llmrelay.types.router`` are the import paths LiteLLM users
write (``from litellm.types.utils import ModelResponse``), re-exporting the same classes.
"""

from __future__ import annotations

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

__all__ = [
    "ChatCompletionDeltaToolCall",
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
    "new_call_id",
    "new_id",
]
