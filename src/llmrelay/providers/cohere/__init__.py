"""Cohere's v2 API natively: ``cohere/<model>`` (and ``cohere_chat/<model>``) chat with tools,
citations and streaming; embeddings; rerank translation."""

from __future__ import annotations

from ..registry import ProviderSpec
from .provider import CohereProvider

__all__ = ["CohereProvider", "create"]


def create(spec: ProviderSpec) -> CohereProvider:
    return CohereProvider(spec)
