"""Ollama's native API (``ollama/<model>``): chats, NDJSON streams and embeddings."""

from __future__ import annotations

from ..registry import ProviderSpec
from .translate import OllamaProvider

__all__ = ["OllamaProvider", "create"]


def create(spec: ProviderSpec) -> OllamaProvider:
    return OllamaProvider(spec)
