"""Response caching: ``llmrelay.cache = Cache(...)`` or ``Client(cache=Cache(...))``.

Backends: ``"local"`` (in-memory LRU), ``"disk"`` (SQLite, shared by processes) and
``"redis"`` (``pip install 'llmrelay[redis]'``). See :class:`Cache` for the settings and
the per-call ``caching=`` / ``cache={...}`` options.
"""

from __future__ import annotations

from .cache import Backend, Cache
from .dual import DualCache
from .keys import cache_key

__all__ = ["Backend", "Cache", "DualCache", "cache_key"]
