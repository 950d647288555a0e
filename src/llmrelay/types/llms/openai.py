"""LiteLLM's ``litellm.types.llms.openai`` import path: the non-chat response classes."""

from __future__ import annotations

from ..media import HttpxBinaryResponseContent, OpenAIModerationResponse
from ..responses_api import ResponseAPIUsage, ResponsesAPIResponse

__all__ = ["HttpxBinaryResponseContent", "OpenAIModerationResponse", "ResponseAPIUsage",
           "ResponsesAPIResponse"]
