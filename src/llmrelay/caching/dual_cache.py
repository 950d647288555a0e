"""LiteLLM's ``litellm.caching.dual_cache`` import path: :class:`DualCache`."""

from __future__ import annotations

from .dual import DualCache

__all__ = ["DualCache"]
