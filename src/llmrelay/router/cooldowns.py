"""``Router.cooldown_cache``: the router's cooldowns as LiteLLM exposes them.

Every cooldown the router decides on (see :mod:`.health` for when) starts through
:meth:`CooldownCache.add_deployment_to_cooldown`, so code that watches or wraps that method
(``unittest.mock.patch.object(router.cooldown_cache, "add_deployment_to_cooldown")``) sees
each one; calling it takes a deployment out of rotation by hand. The state itself lives in
the router's :class:`~.health.Health`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .router import Router

__all__ = ["CooldownCache"]


class CooldownCache:
    """The cooldowns of one router (LiteLLM's method names)."""

    def __init__(self, router: Router) -> None:
        self._router = router

    def add_deployment_to_cooldown(self, model_id: str, original_exception: Any = None,
                                   exception_status: int | str | None = None,
                                   cooldown_time: float | None = None) -> None:
        """Cool deployment ``model_id`` down for ``cooldown_time`` seconds (default: the
        router's ``cooldown_time``); 0 or less does nothing. ``exception_status`` is
        accepted for LiteLLM's signature; the reason shown is ``original_exception``."""
        router = self._router
        seconds = router.health.cooldown_time if cooldown_time is None else cooldown_time
        if seconds is None or seconds <= 0:
            return
        exc = original_exception if isinstance(original_exception, BaseException) else None
        router.health.cool(model_id, exc, float(seconds), router.get_deployment(model_id))

    def get_active_cooldowns(self, model_ids: list[str] | None = None,
                             parent_otel_span: Any = None) -> list[tuple[str, dict[str, Any]]]:
        """``(id, {"cooldown_time": seconds left, "exception_received": reason})`` for each
        deployment cooling down now (of ``model_ids`` only, when given)."""
        health = self._router.health
        out = []
        for model_id, left in health.cooldowns().items():
            if model_ids is not None and model_id not in model_ids:
                continue
            reason = health.snapshot(model_id).get("cooldown_reason")
            out.append((model_id, {"cooldown_time": left, "exception_received": reason}))
        return out

    async def async_get_active_cooldowns(self, model_ids: list[str] | None = None,
                                         parent_otel_span: Any = None
                                         ) -> list[tuple[str, dict[str, Any]]]:
        """Async :meth:`get_active_cooldowns` (no I/O: the state is in memory)."""
        return self.get_active_cooldowns(model_ids, parent_otel_span)

    def get_min_cooldown(self, model_ids: list[str] | None = None,
                         parent_otel_span: Any = None) -> float:
        """Seconds until the first of ``model_ids`` (or of any deployment) is back in
        rotation; 0.0 when none is cooling down."""
        left = [c["cooldown_time"] for _, c in self.get_active_cooldowns(model_ids)]
        return min(left) if left else 0.0
