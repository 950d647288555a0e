"""Reading and writing a :class:`~llmrelay.Cache` by hand, as LiteLLM's ``Cache`` allows:
``get_cache_key(**call_kwargs)``, ``add_cache(result, **call_kwargs)``,
``get_cache(**call_kwargs)`` and their async twins; ``generate_streaming_content(text)``
replays a cached text as stream chunks.

The key is the one a call with the same arguments uses (same model resolution, parameters
and namespace), so an entry added here answers that call, and a call's entry is found here.
A mixin of :class:`~llmrelay.caching.Cache`; it uses the cache's ``read``/``write``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .codec import encode
from .keys import cache_key

__all__ = ["DirectAccess"]

_CALL_ARGS = ("model", "messages", "input", "prompt")


def _call_type(kwargs: dict[str, Any]) -> str:
    if kwargs.get("messages") is not None:
        return "completion"
    if kwargs.get("prompt") is not None:
        return "text_completion"
    return "embedding"


def _key_of(cache: Any, kwargs: dict[str, Any]) -> tuple[str, str]:
    """(key, call type) for a call made with ``kwargs``."""
    from .._client import Client

    given = kwargs.get("cache_key")
    kind = _call_type(kwargs)
    if given:
        return str(given), kind
    rest = {k: v for k, v in kwargs.items() if k not in _CALL_ARGS}
    rest.pop("result", None)
    ctx = Client().prepare(kind, kwargs.get("model") or "", rest,
                           messages=kwargs.get("messages"),
                           input=kwargs.get("input", kwargs.get("prompt")))
    raw = kwargs.get("cache")
    opts: dict[str, Any] = raw if isinstance(raw, dict) else {}
    namespace = opts.get("namespace", cache.namespace)
    return cache_key(ctx.call, str(namespace) if namespace else None,
                     kwargs.get("mock_response")), kind


class DirectAccess:
    """Hand access to the entries calls read and write."""

    namespace: str | None
    ttl: float | None

    def get_cache_key(self, **kwargs: Any) -> str:
        """The key a call with these keyword arguments reads and writes (``model`` plus
        ``messages``, ``input`` or ``prompt``, and its parameters). Raises
        :class:`~llmrelay.BadRequestError` for arguments a call would refuse."""
        return _key_of(self, kwargs)[0]

    def add_cache(self, result: Any, cache_key: str | None = None, **kwargs: Any) -> None:
        """Store ``result`` (a response) as the answer to the call ``kwargs`` describe, or
        under ``cache_key``; ``ttl=`` overrides the cache's."""
        key, kind = _key_of(self, {**kwargs, "cache_key": cache_key})
        data = result.model_dump() if hasattr(result, "model_dump") else dict(result)
        ttl = kwargs.get("ttl", self.ttl)
        self.write([(key, encode("response", kind, data, self.clock()))], ttl)  # type: ignore[attr-defined]

    async def async_add_cache(self, result: Any, cache_key: str | None = None,
                              **kwargs: Any) -> None:
        """:meth:`add_cache` (the write does not block the event loop for long)."""
        self.add_cache(result, cache_key=cache_key, **kwargs)

    def get_cache(self, cache_key: str | None = None, **kwargs: Any) -> Any:
        """The stored response for the call ``kwargs`` describe (or ``cache_key``) as a
        dict, None when there is none."""
        key, kind = _key_of(self, {**kwargs, "cache_key": cache_key})
        entry = self.decode(self.read([key])[0], "response", kind, None)  # type: ignore[attr-defined]
        return None if entry is None else entry.data

    async def async_get_cache(self, cache_key: str | None = None, **kwargs: Any) -> Any:
        """Async :meth:`get_cache`."""
        key, kind = _key_of(self, {**kwargs, "cache_key": cache_key})
        raw = (await self.aread([key]))[0]  # type: ignore[attr-defined]
        entry = self.decode(raw, "response", kind, None)  # type: ignore[attr-defined]
        return None if entry is None else entry.data

    def generate_streaming_content(self, content: str, chunk_size: int = 5
                                   ) -> Iterator[dict[str, Any]]:
        """``content`` as OpenAI chat stream chunks (dicts) of at most ``chunk_size``
        characters each, the assistant role on every delta (LiteLLM's ``Cache`` method for
        answering a stream from a cached text)."""
        size = max(1, int(chunk_size))
        for start in range(0, len(content), size):
            yield {"object": "chat.completion.chunk", "choices": [{
                "index": 0, "finish_reason": None,
                "delta": {"role": "assistant", "content": content[start:start + size]}}]}
