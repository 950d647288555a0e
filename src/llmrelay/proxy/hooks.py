"""The proxy-only hooks of ``CustomLogger`` callbacks, run in-band on the request path.

Loggers come from the proxy client's ``callbacks`` (``litellm_settings.callbacks``,
resolved through the hook registry, :mod:`llmrelay.callbacks.registry`; re-resolved when
the list changes) and run in list order. Only loggers that override a hook are
called for it. What each hook may do (DESIGN.md §4.8):

* ``async_pre_call_hook(user_api_key_dict, cache, data, call_type)``: return a dict to
  replace the request, a string to refuse it (HTTP 400 with that message), or raise (the
  exception's ``status_code`` if it has one, else 500).
* ``async_moderation_hook(data, user_api_key_dict, call_type)``: runs concurrently with the
  upstream call; a raise cancels the call and fails the request.
* ``async_post_call_success_hook(data, user_api_key_dict, response)``: mutate or return a
  replacement; ``response._hidden_params["additional_headers"]`` become HTTP headers.
* ``async_post_call_failure_hook(request_data, original_exception, user_api_key_dict)``:
  observes failures; returning an exception replaces the one reported to the client.
* ``async_post_call_streaming_hook(user_api_key_dict, response)``: per chunk; a non-None
  return replaces the chunk.
* ``async_post_call_streaming_iterator_hook(user_api_key_dict, response, request_data)``:
  wraps the chunk stream (only loggers overriding it).

``call_type`` is ``"completion"``, ``"text_completion"``, ``"embeddings"``, or the SDK call
type of another endpoint (``"image_generation"``, ``"moderation"``, ``"transcription"``,
``"speech"``, ``"rerank"``, ...).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..callbacks.registry import ProxyHooks as Hooks
from ..callbacks.registry import proxy_hooks
from .errors import ProxyError, from_exception

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["HookCache", "HookRunner", "Hooks"]

log = logging.getLogger("llmrelay.proxy")


class HookCache:
    """The ``cache`` argument of ``async_pre_call_hook``: a small in-process key/value store
    with optional TTL, shared by all hooks of the process."""

    def __init__(self, max_items: int = 10000) -> None:
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._max = max_items

    def get_cache(self, key: str, **_: Any) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires < time.monotonic():
            self._data.pop(key, None)
            return None
        return value

    def set_cache(self, key: str, value: Any, ttl: float | None = None, **_: Any) -> None:
        if len(self._data) >= self._max:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (value, time.monotonic() + ttl if ttl else None)

    def delete_cache(self, key: str) -> None:
        self._data.pop(key, None)

    async def async_get_cache(self, key: str, **kw: Any) -> Any:
        return self.get_cache(key, **kw)

    async def async_set_cache(self, key: str, value: Any, ttl: float | None = None,
                              **kw: Any) -> None:
        self.set_cache(key, value, ttl=ttl)

    async def async_delete_cache(self, key: str) -> None:
        self.delete_cache(key)


class HookRunner:
    """Runs the proxy-only hooks of one proxy client's ``callbacks`` for one request at a
    time."""

    def __init__(self, client: Client | None = None) -> None:
        self.cache = HookCache()
        self.client = client
        self._key: tuple[int, ...] | None = None
        self._hooks = Hooks([])

    def current(self) -> Hooks:
        """The hooks of the callback list as it is now (recomputed when it changed)."""
        entries = self.client.settings.callbacks if self.client is not None else []
        key = tuple(map(id, entries))
        if key != self._key:
            self._hooks = proxy_hooks(list(entries))
            self._key = key
        return self._hooks

    async def pre_call(self, hooks: Hooks, auth: Any, data: dict[str, Any],
                       call_type: str) -> dict[str, Any]:
        """Run every pre-call hook; returns the (possibly replaced) request data."""
        for fn in hooks.pre_call:
            try:
                result = await fn(auth, self.cache, data, call_type)
            except Exception as exc:
                raise _hook_error(exc) from exc
            if isinstance(result, dict):
                data = result
            elif isinstance(result, str):
                raise ProxyError(400, result, code="rejected_by_pre_call_hook")
        return data

    async def moderation(self, hooks: Hooks, data: dict[str, Any], auth: Any,
                         call_type: str) -> None:
        """Run the moderation hooks concurrently; the first raise propagates."""
        calls = [fn(data, auth, call_type) for fn in hooks.moderation]
        try:
            if len(calls) == 1:
                await calls[0]
            else:
                await asyncio.gather(*calls)
        except Exception as exc:
            raise _hook_error(exc) from exc

    async def post_success(self, hooks: Hooks, data: dict[str, Any], auth: Any,
                           response: Any) -> Any:
        for fn in hooks.success:
            try:
                result = await fn(data, auth, response)
            except Exception as exc:
                raise _hook_error(exc) from exc
            if result is not None:
                response = result
        return response

    async def post_failure(self, hooks: Hooks, data: dict[str, Any], exc: BaseException,
                           auth: Any) -> BaseException:
        """Tell every failure hook; a hook returning an exception replaces ``exc``."""
        for fn in hooks.failure:
            try:
                result = await fn(data, exc, auth)
            except Exception:
                log.warning("llmrelay proxy: async_post_call_failure_hook of %s raised",
                            type(getattr(fn, "__self__", fn)).__name__, exc_info=True)
                continue
            if isinstance(result, BaseException):
                exc = result
        return exc

    async def stream_chunk(self, hooks: Hooks, auth: Any, chunk: Any) -> Any:
        for fn in hooks.stream_chunk:
            result = await fn(auth, chunk)
            if result is not None:
                chunk = result
        return chunk

    def wrap_stream(self, hooks: Hooks, auth: Any, stream: AsyncIterator[Any],
                    data: dict[str, Any]) -> AsyncIterator[Any]:
        for fn in hooks.iterator:
            stream = fn(auth, stream, data)
        return stream


def _hook_error(exc: BaseException) -> ProxyError:
    """A hook's exception as the HTTP error to send: its status when it has one, else 500."""
    err = from_exception(exc)
    if err.status_code == 500 and not isinstance(exc, ProxyError) and getattr(
            exc, "status_code", None) is None:
        err.message = f"{type(exc).__name__}: {exc}"
    return err
