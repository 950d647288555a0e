"""Azure OpenAI deployments (``azure/<deployment>``), spoken through the OpenAI wire."""

from __future__ import annotations

from ..registry import ProviderSpec
from .translate import AZURE_API_VERSION, AzureProvider

__all__ = ["AZURE_API_VERSION", "AzureProvider", "create"]


def create(spec: ProviderSpec) -> AzureProvider:
    return AzureProvider(spec)
