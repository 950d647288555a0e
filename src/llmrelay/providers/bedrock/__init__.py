"""Amazon Bedrock: ``bedrock/<model id>`` chats through Converse/ConverseStream (SigV4 or a
Bedrock API key), embeddings through InvokeModel."""

from __future__ import annotations

from ..registry import ProviderSpec
from .provider import BedrockProvider

__all__ = ["BedrockProvider", "create"]


def create(spec: ProviderSpec) -> BedrockProvider:
    return BedrockProvider(spec)
