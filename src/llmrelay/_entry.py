"""The module functions (``llmrelay.completion`` ...): the default client's call methods
behind the SDK-level features LiteLLM puts on its module functions.

* ``llmrelay.max_budget``: every call first checks the running total
  (:mod:`llmrelay.budget`) and adds its cost after;
* ``fallbacks=[...]`` on (a)completion: client-side fallbacks (:mod:`llmrelay.fallbacks`);
* ``retry_policy=RetryPolicy(...)`` on (a)completion: a failed call is retried with
  :func:`llmrelay.completion_with_retries` as many times as the policy gives its error type.

These wrap the client's public methods and never reach inside them; a :class:`Client`
used directly has none of them (use a :class:`~llmrelay.Router` for fallbacks there).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .budget import add_spend, check_budget

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["module_functions"]


def _policy_retries(policy: Any, exc: BaseException) -> int:
    if policy is None:
        return 0
    from .router.policies import RetryPolicy, as_policy

    found = as_policy(policy, RetryPolicy, "retry_policy").retries_for(exc)
    return int(found or 0)


def _completion(client: Client) -> Callable[..., Any]:
    @functools.wraps(client.completion)
    def completion(model: str = "", messages: list[Any] | None = None, **kwargs: Any) -> Any:
        check_budget()
        fallbacks = kwargs.pop("fallbacks", None)
        policy = kwargs.pop("retry_policy", None)
        try:
            if fallbacks:
                from .fallbacks import completion_with_fallbacks

                response = completion_with_fallbacks(client.completion, model, fallbacks,
                                                     {"messages": messages, **kwargs})
            else:
                response = client.completion(model, messages, **kwargs)
        except Exception as exc:
            retries = _policy_retries(policy, exc)
            if not retries:
                raise
            retry = sys.modules["llmrelay"].completion_with_retries
            response = retry(model=model, messages=messages, num_retries=retries,
                             fallbacks=fallbacks, **kwargs)
        add_spend(response)
        return response

    return completion


def _acompletion(client: Client) -> Callable[..., Any]:
    @functools.wraps(client.acompletion)
    async def acompletion(model: str = "", messages: list[Any] | None = None,
                          **kwargs: Any) -> Any:
        check_budget()
        fallbacks = kwargs.pop("fallbacks", None)
        policy = kwargs.pop("retry_policy", None)
        try:
            if fallbacks:
                from .fallbacks import acompletion_with_fallbacks

                response = await acompletion_with_fallbacks(
                    client.acompletion, model, fallbacks, {"messages": messages, **kwargs})
            else:
                response = await client.acompletion(model, messages, **kwargs)
        except Exception as exc:
            retries = _policy_retries(policy, exc)
            if not retries:
                raise
            retry = sys.modules["llmrelay"].acompletion_with_retries
            response = await retry(model=model, messages=messages, num_retries=retries,
                                   fallbacks=fallbacks, **kwargs)
        add_spend(response)
        return response

    return acompletion


def _budgeted(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        check_budget()
        response = fn(*args, **kwargs)
        add_spend(response)
        return response

    return call


def _abudgeted(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        check_budget()
        response = await fn(*args, **kwargs)
        add_spend(response)
        return response

    return call


def _mock_completion(completion: Callable[..., Any]) -> Callable[..., Any]:
    def mock_completion(model: str, messages: list[Any], stream: bool = False,
                        mock_response: Any = "This is a mock request", **kwargs: Any) -> Any:
        """A completion answered by the mock provider, with no network: ``mock_response``
        (default ``"This is a mock request"``) as the reply, streamed when ``stream``;
        callbacks, cost and ``n`` as for a real call. LiteLLM's ``mock_completion``."""
        return completion(model=model, messages=messages, stream=stream,
                          mock_response="This is a mock request" if mock_response is None
                          else mock_response, **kwargs)

    return mock_completion


def module_functions(client: Client) -> dict[str, Callable[..., Any]]:
    """The module-level call functions over ``client`` (the default client)."""
    completion = _completion(client)
    return {
        "completion": completion,
        "mock_completion": _mock_completion(completion),
        "acompletion": _acompletion(client),
        "embedding": _budgeted(client.embedding),
        "aembedding": _abudgeted(client.aembedding),
        "text_completion": _budgeted(client.text_completion),
        "atext_completion": _abudgeted(client.atext_completion),
        **{name: _budgeted(getattr(client, name)) for name in _SURFACES},
        **{"a" + name: _abudgeted(getattr(client, "a" + name)) for name in _SURFACES},
        # LiteLLM's anthropic_messages is async (llmrelay.anthropic.messages.create: sync)
        "anthropic_messages": _abudgeted(client.aanthropic_messages),
    }


# The surfaces beyond chat, text and embeddings (sync name; the async one is "a" + name).
_SURFACES = ("image_generation", "transcription", "speech", "moderation", "rerank",
             "responses", "get_responses", "delete_responses")
