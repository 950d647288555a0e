"""Anthropic's Messages API (``anthropic/...`` and bare ``claude-*`` model names)."""

from __future__ import annotations

from ..registry import ProviderSpec
from .translate import AnthropicProvider

__all__ = ["AnthropicProvider", "create"]


def create(spec: ProviderSpec) -> AnthropicProvider:
    return AnthropicProvider(spec)
