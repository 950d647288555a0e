"""Client-side fallbacks: ``llmrelay.completion(model=..., fallbacks=[...])``.

When the call fails, each entry of ``fallbacks`` is tried in order until one succeeds:

* a string is another model (``"anthropic/claude-3-5-haiku"``), called with the same
  arguments;
* a dict changes arguments for that attempt: ``{"model": "gpt-4o-mini", "api_key": ...}``,
  or without ``"model"`` the same model with other settings (``{"api_key": "backup-key"}``).

Every attempt is a complete call with its own callback event, and ``fallbacks`` is never
sent to a provider. Any exception moves on to the next entry, as in LiteLLM (a model
string llmrelay cannot route is such a failure too). When every attempt failed, the
original call's error is raised with the others in its ``fallback_errors`` attribute.
For load balancing, cooldowns and per-error fallback lists use :class:`~llmrelay.Router`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

__all__ = ["acompletion_with_fallbacks", "attempts", "completion_with_fallbacks"]


def attempts(model: str, kwargs: dict[str, Any], fallbacks: Any) -> list[dict[str, Any]]:
    """The keyword arguments of each attempt, the original first. Raises TypeError for a
    ``fallbacks`` that is not a list of model names and dicts."""
    if fallbacks is None:
        fallbacks = []
    if isinstance(fallbacks, (str, dict)) or not isinstance(fallbacks, (list, tuple)):
        raise TypeError("fallbacks must be a list of model names or dicts, e.g. "
                        "['gpt-4o-mini', {'model': 'claude-3-5-haiku-latest'}]")
    out = [{**kwargs, "model": model}]
    for i, entry in enumerate(fallbacks):
        if isinstance(entry, str):
            out.append({**kwargs, "model": entry})
        elif isinstance(entry, dict):
            out.append({**kwargs, "model": model, **entry})
        else:
            raise TypeError(f"fallbacks[{i}] must be a model name or a dict, got "
                            f"{type(entry).__name__}")
    return out


def _raise(errors: list[BaseException]) -> NoReturn:
    first = errors[0]
    first.fallback_errors = errors[1:]  # type: ignore[attr-defined]
    raise first


def completion_with_fallbacks(fn: Callable[..., Any], model: str, fallbacks: Any,
                              kwargs: dict[str, Any]) -> Any:
    """``fn(model=..., **kwargs)`` for the original model, then each fallback, until one
    returns (see the module docstring)."""
    errors: list[BaseException] = []
    for call_kwargs in attempts(model, kwargs, fallbacks):
        try:
            return fn(**call_kwargs)
        except Exception as exc:
            errors.append(exc)
    _raise(errors)


async def acompletion_with_fallbacks(fn: Callable[..., Awaitable[Any]], model: str,
                                     fallbacks: Any, kwargs: dict[str, Any]) -> Any:
    """Async :func:`completion_with_fallbacks`."""
    errors: list[BaseException] = []
    for call_kwargs in attempts(model, kwargs, fallbacks):
        try:
            return await fn(**call_kwargs)
        except Exception as exc:
            errors.append(exc)
    _raise(errors)
