"""Google Vertex AI: ``vertex_ai/<model>`` for Gemini, Claude (Anthropic on Vertex) and
embeddings, with OAuth2 tokens from service accounts or application-default credentials."""

from __future__ import annotations

from ..registry import ProviderSpec
from .provider import VertexProvider

__all__ = ["VertexProvider", "create"]


def create(spec: ProviderSpec) -> VertexProvider:
    return VertexProvider(spec)
