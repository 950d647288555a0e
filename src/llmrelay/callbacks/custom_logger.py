"""CustomLogger: subclass it and override the hooks you need.

Register an instance with ``llmrelay.callbacks = [MyHandler()]`` (or in ``success_callback``
/ ``failure_callback`` / ``input_callback``, or per call with ``callbacks=[...]``). Only the
methods you override are called; the rest cost nothing. When each hook fires, and how it is
delivered, is declared in :mod:`llmrelay.callbacks.hookspecs`:

* ``log_pre_api_call`` / ``async_log_pre_api_call`` run just before the HTTP request, on the
  caller's side; errors in them are caught and logged.
* ``log_post_api_call``, ``log_stream_event``, ``log_success_event``, ``log_failure_event``
  and their ``async_`` twins are delivered in the background: they never delay the call. A
  sync call gets the sync variant when you define it, else the async one; an async call the
  other way round. Each logger receives each event exactly once.
* ``pre_call_check`` / ``async_pre_call_check`` run in-band in a Router call, before each
  request to a deployment picked for a model group; a raise refuses the deployment.
* The ``async_*_hook`` methods run only inside ``llmrelay serve`` (the proxy).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

__all__ = ["CustomLogger"]


class CustomLogger:
    """Base class for callback handlers. Every hook is a no-op until overridden."""

    def __init__(self, turn_off_message_logging: bool = False, **kwargs: Any) -> None:
        self.turn_off_message_logging = turn_off_message_logging
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ---- library hooks -------------------------------------------------------------------
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Just before the HTTP request; ``kwargs['additional_args']['complete_input_dict']``
        is the provider body about to be sent. In-band: keep it fast."""

    async def async_log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Async twin of :meth:`log_pre_api_call`, awaited before an async call's request."""

    def log_post_api_call(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        """When the raw response arrives (``kwargs['original_response']``). Background."""

    def log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                         end_time: Any) -> None:
        """For each chunk of a streamed sync call. Background."""

    async def async_log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                     end_time: Any) -> None:
        """For each chunk of a streamed async call. Background."""

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        """Once per successful sync call (after the last chunk for streams). Background."""

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        """Once per failed sync call; ``kwargs['exception']`` holds the error. Background."""

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """Once per successful async call (after the last chunk for streams). Background."""

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """Once per failed async call. Background."""

    # ---- router hooks --------------------------------------------------------------------
    async def log_success_fallback_event(self, original_model_group: str, kwargs: Any,
                                         original_exception: Exception) -> None:
        """When the router served a call from a fallback model group."""

    async def log_failure_fallback_event(self, original_model_group: str, kwargs: Any,
                                         original_exception: Exception) -> None:
        """When a router fallback attempt failed too."""

    def pre_call_check(self, deployment: Any) -> Any:
        """On the caller's path, just before a sync router call sends its request to the
        deployment the router picked for a model group (``deployment["model_info"]["id"]``,
        ``deployment["litellm_params"]``); not when the caller named a deployment id. Raise
        (a :class:`~llmrelay.RateLimitError` for a limit you keep) to refuse the deployment:
        the attempt fails with that error, as if the deployment had answered it."""
        return None

    async def async_pre_call_check(self, deployment: Any, parent_otel_span: Any) -> Any:
        """:meth:`pre_call_check` for async router calls (an async call whose logger
        overrides only :meth:`pre_call_check` gets that one)."""
        return None

    # ---- proxy-only hooks (in-band on the proxy's request path) --------------------------
    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict[str, Any],
                                  call_type: str) -> Any:
        """Before the model call. Return a new ``data`` dict to change the request, a string
        to refuse it with HTTP 400 and that message, or raise to fail it (an exception with
        ``status_code`` sets the HTTP status, otherwise 500). ``None`` keeps ``data``."""
        return None

    async def async_moderation_hook(self, data: dict[str, Any], user_api_key_dict: Any,
                                    call_type: str) -> Any:
        """Runs in parallel with the model call; raising cancels the call and fails it."""
        return None

    async def async_post_call_success_hook(self, data: dict[str, Any], user_api_key_dict: Any,
                                           response: Any) -> Any:
        """After success. Mutate ``response`` or return a replacement;
        ``response._hidden_params['additional_headers']`` become HTTP response headers."""
        return None

    async def async_post_call_failure_hook(self, request_data: dict[str, Any],
                                           original_exception: Exception,
                                           user_api_key_dict: Any,
                                           traceback_str: str | None = None) -> Any:
        """After a failed proxy call; observe or return a replacement HTTP exception."""
        return None

    async def async_post_call_streaming_hook(self, user_api_key_dict: Any, response: Any) -> Any:
        """For each streamed chunk; return a replacement chunk or None to keep it."""
        return None

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        """Wraps the whole stream: yield the chunks to send (default: unchanged)."""
        async for item in response:
            yield item
