"""LiteLLM's ``litellm.types.rerank`` import path."""

from __future__ import annotations

from .media import RerankResponse

__all__ = ["RerankResponse"]
