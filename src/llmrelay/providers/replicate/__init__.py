"""Replicate's predictions API (``replicate/<owner>/<model>``): a prediction is created, then
polled (or its event stream read) until it has the model's output."""

from __future__ import annotations

from ..registry import ProviderSpec
from .provider import ReplicateProvider

__all__ = ["ReplicateProvider", "create"]


def create(spec: ProviderSpec) -> ReplicateProvider:
    return ReplicateProvider(spec)
