"""LiteLLM's ``litellm.anthropic`` interface: ``llmrelay.anthropic.messages.create`` /
``acreate`` (Anthropic's Messages API to any model) and ``count_tokens``."""

from __future__ import annotations

from . import messages
from .messages import acount_tokens, acreate, count_tokens, create

__all__ = ["acount_tokens", "acreate", "count_tokens", "create", "messages"]
