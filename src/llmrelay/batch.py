"""Many completions at once from threads: :func:`batch_completion` (one model, many
conversations), :func:`batch_completion_models` (one conversation, many models, the first
answer wins) and :func:`batch_completion_models_all_responses` (every model's answer).

Each request is a normal ``llmrelay.completion`` call (callbacks, cost, caching apply to
each), made from a thread pool; the functions return when their answer is known. For async
code use ``asyncio.gather`` over ``llmrelay.acompletion`` or a Router's
``abatch_completion``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

__all__ = ["batch_completion", "batch_completion_models",
           "batch_completion_models_all_responses"]

DEFAULT_WORKERS = 100


def _completion() -> Callable[..., Any]:
    return sys.modules["llmrelay"].completion  # type: ignore[no-any-return]


def _models(kwargs: dict[str, Any]) -> list[Any]:
    kwargs.pop("model", None)
    if "deployments" in kwargs:
        kwargs.pop("model_list", None)
        shared = dict(kwargs.pop("kwargs", None) or {})
        deployments = kwargs.pop("deployments")
        return [{**kwargs, **dict(d), **shared} for d in deployments]
    models = kwargs.pop("models", None)
    if models is None:
        raise ValueError("pass models=[...] (model names) or deployments=[{...}, ...]")
    if isinstance(models, str):
        return [models]
    if not isinstance(models, (list, tuple)):
        raise TypeError(f"models must be a string or a list of strings, got "
                        f"{type(models).__name__}")
    return list(models)


def _submit(pool: ThreadPoolExecutor, args: tuple[Any, ...], kwargs: dict[str, Any],
            target: Any) -> Future[Any]:
    if isinstance(target, dict):  # a deployment: its own model and settings
        return pool.submit(_completion(), *args, **target)
    return pool.submit(_completion(), *args, model=target, **kwargs)


def batch_completion(model: str, messages: Sequence[list[dict[str, Any]]],
                     max_workers: int = DEFAULT_WORKERS, **kwargs: Any) -> list[Any]:
    """One completion per conversation in ``messages`` (a list of message lists), all with
    ``model`` and ``kwargs``. Returns the responses in order; a call that failed has its
    exception in its place instead of a response (nothing is raised)."""
    if isinstance(messages, (str, dict)) or not all(isinstance(m, list) for m in messages):
        raise TypeError("batch_completion(messages=...) takes a list of message lists, e.g. "
                        "[[{'role': 'user', 'content': 'Hi'}], ...]")
    if not messages:
        return []
    extra = kwargs.pop("kwargs", None) or {}
    fn = _completion()
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(messages)))) as pool:
        futures = [pool.submit(fn, model=model, messages=m, **kwargs, **extra)
                   for m in messages]
    results: list[Any] = []
    for fut in futures:
        exc = fut.exception()
        results.append(exc if exc is not None else fut.result())
    return results


def batch_completion_models(*args: Any, **kwargs: Any) -> Any:
    """Send the same request to every model in ``models=[...]`` (or every deployment dict
    in ``deployments=[...]``) at once and return the first response to arrive; the others
    are left to finish in the background. Raises the error of the first listed model when
    every one failed."""
    targets = _models(kwargs)
    if not targets:
        raise ValueError("batch_completion_models() needs at least one model")
    pool = ThreadPoolExecutor(max_workers=len(targets))
    try:
        futures = [_submit(pool, args, kwargs, t) for t in targets]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                if fut.exception() is None:
                    return fut.result()
        raise futures[0].exception()  # type: ignore[misc]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def batch_completion_models_all_responses(*args: Any, **kwargs: Any) -> list[Any]:
    """Send the same request to every model in ``models=[...]`` at once; return the
    responses of those that answered, in the order of ``models`` (failures are left out)."""
    targets = _models(kwargs)
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [_submit(pool, args, kwargs, t) for t in targets]
    return [f.result() for f in futures if f.exception() is None and f.result() is not None]
