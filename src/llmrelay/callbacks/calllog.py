"""Per-call logging state: the ``kwargs`` dict and the events of one call.

A :class:`CallLog` exists only when someone listens (a :class:`~.plan.Plan` was resolved).
It runs the in-band pre-call hooks itself and hands every observer event to the
dispatcher. It guarantees one terminal event: whichever of :meth:`success` and
:meth:`failure` comes first wins, later calls are ignored.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from typing import Any

from .dispatcher import Delivery, Job, dispatcher
from .payload import (
    REDACTED,
    mask_headers,
    mask_key,
    redact_body,
    redact_messages,
    redact_response,
    standard_payload,
    traceback_text,
)
from .plan import Plan, Sink

log = logging.getLogger("llmrelay")

__all__ = ["CallLog"]


def _now() -> dt.datetime:
    return dt.datetime.now()


class CallLog:
    __slots__ = ("done", "is_async", "kwargs", "plan", "redact")

    def __init__(
        self,
        plan: Plan,
        *,
        call_type: str,
        model: str,
        provider: str,
        messages: Any,
        input: Any,
        optional_params: dict[str, Any],
        metadata: dict[str, Any] | None,
        api_base: str | None,
        api_key: str | None,
        call_id: str,
        stream: bool,
        is_async: bool,
        redact: bool,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.plan = plan
        self.is_async = is_async
        self.redact = redact
        self.done = False
        if redact:
            messages = redact_messages(messages)
            input = redact_messages(input) if isinstance(input, list) else (
                REDACTED if input is not None else None)
        litellm_params: dict[str, Any] = {
            "metadata": dict(metadata) if metadata else {},
            "api_base": api_base,
            "custom_llm_provider": provider,
            "api_key": mask_key(api_key),
            "litellm_call_id": call_id,
            "stream": stream,
        }
        if extra:
            litellm_params.update(extra)
        self.kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "input": messages if messages is not None else input,
            "optional_params": optional_params,
            "litellm_params": litellm_params,
            "litellm_call_id": call_id,
            "call_type": call_type,
            "stream": stream,
            "custom_llm_provider": provider,
            "api_key": mask_key(api_key),
            "start_time": _now(),
            "end_time": None,
            "completion_start_time": None,
            "response_cost": None,
            "cache_hit": None,
            "additional_args": {},
            "log_event_type": "pre_api_call",
            "user": optional_params.get("user"),
        }

    # ---- in-band --------------------------------------------------------------------------
    def _prepare_pre(self, body: Any, headers: dict[str, str] | None, api_base: str | None) -> None:
        kw = self.kwargs
        kw["additional_args"] = {
            "complete_input_dict": redact_body(body) if self.redact else body,
            "headers": mask_headers(headers),
            "api_base": api_base,
        }
        if api_base:
            kw["litellm_params"]["api_base"] = api_base
        kw["log_event_type"] = "pre_api_call"

    def _pre_args(self, sink: Sink) -> tuple[Any, ...]:
        kw = self.kwargs
        if sink.style == "input":
            return (kw,)
        return (kw["model"], kw["messages"] if kw["messages"] is not None else kw["input"], kw)

    def pre_api_call(self, body: Any, headers: dict[str, str] | None, api_base: str | None) -> None:
        """Run input callbacks and ``log_pre_api_call`` on the caller's thread."""
        self._prepare_pre(body, headers, api_base)
        for sink in self.plan.pre_api:
            if sink.is_async:  # cannot be awaited here: deliver in the background
                self._submit((sink,), self._pre_args(sink))
                continue
            try:
                result = sink.fn(*self._pre_args(sink))
                if inspect.isawaitable(result):
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            except Exception as exc:
                log.error("llmrelay: pre-call callback %s raised %s: %s", sink.hook,
                          type(exc).__name__, exc, exc_info=exc)

    async def apre_api_call(self, body: Any, headers: dict[str, str] | None,
                            api_base: str | None) -> None:
        """Async twin: async pre-call hooks are awaited on the caller's loop."""
        self._prepare_pre(body, headers, api_base)
        for sink in self.plan.pre_api:
            try:
                result = sink.fn(*self._pre_args(sink))
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.error("llmrelay: pre-call callback %s raised %s: %s", sink.hook,
                          type(exc).__name__, exc, exc_info=exc)

    # ---- observer events -------------------------------------------------------------------
    def _submit(self, sinks: tuple[Sink, ...], args: tuple[Any, ...]) -> None:
        def expand() -> list[Delivery]:
            return [Delivery(s.target, s.hook, s.fn, args, s.is_async) for s in sinks]

        dispatcher.submit(Job(expand))

    def post_api_call(self, original_response: Any, headers: dict[str, str] | None) -> None:
        kw = self.kwargs
        kw["original_response"] = REDACTED if self.redact else original_response
        kw["response_headers"] = dict(headers or {})
        if not self.plan.post_api:
            return
        kw = dict(kw)
        kw["log_event_type"] = "post_api_call"
        self._submit(self.plan.post_api, (kw, kw["original_response"], kw["start_time"], _now()))

    def first_chunk(self) -> None:
        if self.kwargs["completion_start_time"] is None:
            self.kwargs["completion_start_time"] = _now()

    def stream_chunk(self, chunk: Any) -> None:
        if not self.plan.stream:
            return
        kw = dict(self.kwargs)
        kw["log_event_type"] = "stream_event"
        obj = redact_response(chunk) if self.redact else chunk
        self._submit(self.plan.stream, (kw, obj, kw["start_time"], _now()))

    def success(self, response: Any, *, cost: float | None, cache_hit: bool = False,
                **extra: Any) -> None:
        """The one success event. ``extra`` adds keys such as ``stream_status``."""
        if self.done:
            return
        self.done = True
        kw = self.kwargs
        end = _now()
        kw["end_time"] = end
        if kw["completion_start_time"] is None:
            kw["completion_start_time"] = end
        kw["response_cost"] = cost
        kw["cache_hit"] = cache_hit
        kw["log_event_type"] = "successful_api_call"
        if extra:
            kw.update(extra)
        sinks = self.plan.success
        if not sinks:
            return
        redact = self.redact

        def expand() -> list[Delivery]:
            obj = redact_response(response) if redact else response
            if kw["stream"]:
                kw["complete_streaming_response"] = obj
                kw["async_complete_streaming_response"] = obj
            kw["standard_logging_object"] = standard_payload(kw, obj, "success")
            args = (kw, obj, kw["start_time"], kw["end_time"])
            return [Delivery(s.target, s.hook, s.fn, args, s.is_async) for s in sinks]

        dispatcher.submit(Job(expand))

    def failure(self, exc: BaseException, **extra: Any) -> None:
        """The one failure event; never delays the exception reaching the caller."""
        if self.done:
            return
        self.done = True
        kw = self.kwargs
        end = _now()
        kw["end_time"] = end
        if kw["completion_start_time"] is None:
            kw["completion_start_time"] = end
        kw["exception"] = exc
        kw["log_event_type"] = "failed_api_call"
        if extra:
            kw.update(extra)
        sinks = self.plan.failure
        if not sinks:
            return

        def expand() -> list[Delivery]:
            kw["traceback_exception"] = traceback_text(exc)
            kw["standard_logging_object"] = standard_payload(kw, None, "failure")
            args = (kw, None, kw["start_time"], kw["end_time"])
            return [Delivery(s.target, s.hook, s.fn, args, s.is_async) for s in sinks]

        dispatcher.submit(Job(expand))
