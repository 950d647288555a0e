"""Whole-call retries around the module functions: :func:`completion_with_retries` and
:func:`acompletion_with_retries` (LiteLLM's names and behaviour).

Each attempt is a complete ``llmrelay.completion`` call (its own callbacks event) made
with ``num_retries=0`` so the retries are not multiplied. Any exception is retried, as in
LiteLLM, up to ``num_retries`` (default 3) more times; ``retry_strategy`` is
``"constant_retry"`` (``llmrelay.retry_initial_delay`` seconds between attempts) or
``"exponential_backoff_retry"`` (doubling from it, capped, honouring ``Retry-After``).
The last error is raised when every attempt failed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from ._retry import backoff_delay

__all__ = ["DEFAULT_RETRIES", "acompletion_with_retries", "completion_with_retries"]

DEFAULT_RETRIES = 3
_STRATEGIES = ("constant_retry", "exponential_backoff_retry")


def _plan(kwargs: dict[str, Any], default_fn: str) -> tuple[Callable[..., Any], int, str,
                                                             float]:
    """(function, retries, strategy, base delay) from the caller's keyword arguments, which
    are left ready for each attempt."""
    mod = sys.modules["llmrelay"]
    retries = kwargs.pop("num_retries", None)
    retries = DEFAULT_RETRIES if retries is None else int(retries)
    if retries < 0:
        raise ValueError(f"num_retries must be >= 0, got {retries}")
    strategy = kwargs.pop("retry_strategy", None) or "constant_retry"
    if strategy not in _STRATEGIES:
        raise ValueError(f"retry_strategy must be one of {', '.join(_STRATEGIES)}, "
                         f"got {strategy!r}")
    fn = kwargs.pop("original_function", None) or getattr(mod, default_fn)
    kwargs["num_retries"] = 0  # the attempts here are the retries
    kwargs["max_retries"] = 0
    return fn, retries, strategy, float(getattr(mod, "retry_initial_delay", 0.5))


def _delay(strategy: str, attempt: int, exc: BaseException, base: float) -> float:
    return base if strategy == "constant_retry" else backoff_delay(attempt, exc, base)


def completion_with_retries(*args: Any, **kwargs: Any) -> Any:
    """``llmrelay.completion(*args, **kwargs)`` retried on failure (see the module
    docstring); ``original_function=`` calls another function the same way."""
    fn, retries, strategy, base = _plan(kwargs, "completion")
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if attempt >= retries:
                raise
            time.sleep(_delay(strategy, attempt, exc, base))
            attempt += 1


async def acompletion_with_retries(*args: Any, **kwargs: Any) -> Any:
    """Async :func:`completion_with_retries` over ``llmrelay.acompletion``."""
    fn, retries, strategy, base = _plan(kwargs, "acompletion")
    attempt = 0
    while True:
        try:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            return result
        except Exception as exc:
            if attempt >= retries:
                raise
            await asyncio.sleep(_delay(strategy, attempt, exc, base))
            attempt += 1
