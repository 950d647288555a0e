"""OpenAI's wire API, spoken by OpenAI and every OpenAI-compatible server."""

from __future__ import annotations

from ..registry import ProviderSpec
from .translate import OpenAIProvider

__all__ = ["OpenAIProvider", "create"]


def create(spec: ProviderSpec) -> OpenAIProvider:
    return OpenAIProvider(spec)
