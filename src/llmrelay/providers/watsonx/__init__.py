"""IBM watsonx.ai (``watsonx/<model_id>``, ``watsonx/deployment/<id>``): chat, streams and
embeddings over watsonx's ``/ml/v1/text/*`` API, with IBM Cloud IAM tokens."""

from __future__ import annotations

from ..registry import ProviderSpec
from .provider import WatsonxProvider

__all__ = ["WatsonxProvider", "create"]


def create(spec: ProviderSpec) -> WatsonxProvider:
    return WatsonxProvider(spec)
