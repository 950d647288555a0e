"""The Router's many-at-once calls (LiteLLM's names): the same request to several model
groups (:meth:`RouterBatch.abatch_completion`), several requests to one group, the
fastest of several groups, and picking a deployment from async code.

A mixin of :class:`~llmrelay.Router`; every request is a normal ``router.acompletion``
(retries, fallbacks and one callback event each).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .config import Deployment

__all__ = ["RouterBatch"]


def _group_names(models: Any) -> list[str]:
    if isinstance(models, str):
        return [m.strip() for m in models.split(",") if m.strip()]
    return [str(m) for m in models]


async def _settled(coro: Any) -> Any:
    try:
        return await coro
    except Exception as exc:  # returned in place, as LiteLLM does
        return exc


class RouterBatch:
    """Batch calls for :class:`~llmrelay.Router`."""

    if TYPE_CHECKING:  # provided by Router
        async def acompletion(self, model: str, messages: list[Any] | None = None,
                              **kwargs: Any) -> Any: ...

        def get_available_deployment(self, model: str, messages: list[Any] | None = None,
                                     **_: Any) -> Deployment | None: ...

    async def abatch_completion(self, models: list[str],
                                messages: list[Any], **kwargs: Any) -> list[Any]:
        """The same request to every model group in ``models``, concurrently. With one
        conversation (a list of messages) returns one response per group; with several (a
        list of message lists) one list of responses per group. A failed request has its
        exception in its place."""
        groups = _group_names(models)
        many = bool(messages) and all(isinstance(m, list) for m in messages)
        if not many:
            return list(await asyncio.gather(*[
                _settled(self.acompletion(model=g, messages=messages, **kwargs))
                for g in groups]))
        return list(await asyncio.gather(*[
            self.abatch_completion_one_model_multiple_requests(g, messages, **kwargs)
            for g in groups]))

    async def abatch_completion_one_model_multiple_requests(
            self, model: str, messages: list[list[Any]], **kwargs: Any) -> list[Any]:
        """One request per conversation in ``messages`` to group ``model``, concurrently;
        failures in place."""
        return list(await asyncio.gather(*[
            _settled(self.acompletion(model=model, messages=m, **kwargs)) for m in messages]))

    async def abatch_completion_fastest_response(self, model: str | list[str],
                                                 messages: list[Any], stream: bool = False,
                                                 **kwargs: Any) -> Any:
        """Send the request to every group in ``model`` (a list, or names separated by
        commas) and return the first response (the first stream to open); the others are
        cancelled. The response's ``_hidden_params["fastest_response_batch_completion"]``
        is True. Raises the first group's error when every one failed."""
        groups = _group_names(model)
        if not groups:
            raise ValueError("abatch_completion_fastest_response() needs at least one model")
        tasks = [asyncio.ensure_future(self.acompletion(model=g, messages=messages,
                                                        stream=stream, **kwargs))
                 for g in groups]
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending,
                                                   return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is None:
                        result = task.result()
                        hidden = getattr(result, "_hidden_params", None)
                        if isinstance(hidden, dict):
                            hidden["fastest_response_batch_completion"] = True
                        return result
            raise tasks[0].exception()  # type: ignore[misc]
        finally:
            for task in pending:
                task.cancel()

    async def async_get_available_deployment(self, model: str,
                                             messages: list[Any] | None = None,
                                             **_: Any) -> Deployment | None:
        """:meth:`~llmrelay.Router.get_available_deployment` for async code."""
        return self.get_available_deployment(model, messages=messages)
