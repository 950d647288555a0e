"""Google's Gemini API (AI Studio keys): ``gemini/<model>`` chats, streams and embeddings."""

from __future__ import annotations

from ..registry import ProviderSpec
from .provider import GeminiProvider

__all__ = ["GeminiProvider", "create"]


def create(spec: ProviderSpec) -> GeminiProvider:
    return GeminiProvider(spec)
