"""LiteLLM's switches for the module-level cache: ``enable_cache``, ``update_cache``,
``disable_cache``. Each sets ``llmrelay.cache``, which the module functions read at call
time (a :class:`~llmrelay.Client` has its own ``cache=`` setting and is not touched)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from .cache import Cache

__all__ = ["disable_cache", "enable_cache", "update_cache"]


def _module() -> Any:
    return sys.modules["llmrelay"]


def enable_cache(type: str = "local", host: str | None = None, port: Any = None,
                 password: str | None = None,
                 supported_call_types: Iterable[str] | None = None,
                 **kwargs: Any) -> Cache:
    """Turn the module cache on with a :class:`Cache` of these settings, unless one is
    already set (then it is kept, as LiteLLM keeps it); returns the cache in use."""
    module = _module()
    if module.cache is None:
        module.cache = _build(type, host, port, password, supported_call_types, kwargs)
    cache: Cache = module.cache
    return cache


def update_cache(type: str = "local", host: str | None = None, port: Any = None,
                 password: str | None = None,
                 supported_call_types: Iterable[str] | None = None,
                 **kwargs: Any) -> Cache:
    """Replace the module cache with a new :class:`Cache` of these settings."""
    cache = _build(type, host, port, password, supported_call_types, kwargs)
    _module().cache = cache
    return cache


def disable_cache() -> None:
    """Turn the module cache off (``llmrelay.cache = None``)."""
    _module().cache = None


def _build(type: str, host: str | None, port: Any, password: str | None,
           supported_call_types: Iterable[str] | None, kwargs: dict[str, Any]) -> Cache:
    type = getattr(type, "value", type)  # LiteLLM's LiteLLMCacheType enum members too
    return Cache(type=type, host=host, port=int(port) if port is not None else None,
                 password=password, supported_call_types=supported_call_types, **kwargs)
