"""LiteLLM's ``litellm.caching.caching`` import path: :class:`Cache` and
:class:`DualCache`."""

from __future__ import annotations

from .cache import Cache
from .dual import DualCache

__all__ = ["Cache", "DualCache"]
