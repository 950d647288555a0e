"""LiteLLM's ``litellm.proxy.proxy_server`` import path, for hook files written for LiteLLM
(``from litellm.proxy.proxy_server import UserAPIKeyAuth, DualCache``): the caller identity
proxy hooks receive and the cache class. The server itself is :mod:`llmrelay.proxy`."""

from __future__ import annotations

from ..caching.dual import DualCache
from .auth import UserAPIKeyAuth

__all__ = ["DualCache", "UserAPIKeyAuth"]
