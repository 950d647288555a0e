"""Per-call logging state: the ``kwargs`` dict and the events of one call.

A :class:`CallLog` exists only when someone listens (a :class:`~.plan.Plan` was resolved).
It runs the in-band pre-call hooks itself and hands every observer event to the
dispatcher. It guarantees one terminal event: whichever of :meth:`success` and
:meth:`failure` comes first wins, later calls are ignored.

Redaction: with ``turn_off_message_logging`` on for the call, ``kwargs`` is redacted at the
source. A logger created with ``CustomLogger(turn_off_message_logging=True)`` gets its own
redacted copy of each event (built once per event, shared by such loggers). Either way the
raw request body shown is the provider's request built from the redacted call, handed in
by the pipeline (``pre_api_call(..., redacted=...)``).

In-band hooks run marked as hooks of their logger (:mod:`.reentry`), as the dispatcher
does for background ones.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import inspect
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from .._urls import mask_url
from . import reentry
from .dispatcher import Delivery, Job, dispatcher
from .payload import (
    REDACTED,
    EventKwargs,
    mask_headers,
    mask_key,
    redact_input,
    redact_messages,
    redact_params,
    redact_response,
    standard_payload,
    traceback_text,
)
from .plan import Plan, Sink

log = logging.getLogger("llmrelay")

__all__ = ["CallLog"]


_now = dt.datetime.now
_time = time.time
_from_timestamp = dt.datetime.fromtimestamp


def _as_messages(input: Any) -> list[dict[str, Any]] | None:
    """Embedding/text inputs as user messages, so ``kwargs["messages"]`` is always a list
    (items that are messages already, such as a Responses API input, are kept)."""
    if input is None:
        return None
    items = input if isinstance(input, list) and (not input or not isinstance(input[0], int)) \
        else [input]
    return [x if isinstance(x, dict) and "role" in x else
            {"role": "user", "content": x if isinstance(x, str) else str(x)} for x in items]


def _redacted_kwargs(kw: dict[str, Any], body: Any,
                     prompt_params: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A copy of ``kw`` as a redacting logger may see it (``body``: the request built from
    the redacted call; ``prompt_params``: parameters that carry prompt text)."""
    out = dict(kw)
    if prompt_params:
        out["optional_params"] = redact_params(kw.get("optional_params") or {}, prompt_params)
    out["messages"] = redact_messages(kw.get("messages"))
    inp = kw.get("input")
    out["input"] = redact_messages(inp) if isinstance(inp, list) else (
        REDACTED if inp is not None else None)
    args = kw.get("additional_args")
    if args:
        out["additional_args"] = {**args, "complete_input_dict": body}
    if kw.get("original_response") is not None:
        out["original_response"] = REDACTED
    return out


def _deliveries(sinks: tuple[Sink, ...], args: tuple[Any, ...],
                redacted: Any = None) -> list[Delivery]:
    """One delivery per sink; sinks that redact get ``redacted()`` args (built once)."""
    out = []
    other: tuple[Any, ...] | None = None
    for s in sinks:
        if s.redact and redacted is not None:
            if other is None:
                other = redacted()
            out.append(Delivery(s.target, s.hook, s.fn, other, s.is_async))
        else:
            out.append(Delivery(s.target, s.hook, s.fn, args, s.is_async))
    return out


def _with_payload(kw: dict[str, Any], obj: Any, status: str) -> EventKwargs:
    """``kw`` for a terminal event, its standard payload built on first access."""
    return EventKwargs(kw, {"standard_logging_object": lambda: standard_payload(kw, obj,
                                                                                status)})


class CallLog:
    __slots__ = ("context", "done", "held", "is_async", "kwargs", "plan", "prompt_params",
                 "redact", "redacted_body", "settings", "stream_ref")

    def __init__(
        self,
        plan: Plan,
        settings: Any,
        call_type: str,
        model: str,
        provider: str | None,
        messages: Any,
        input: Any,
        optional_params: dict[str, Any],
        metadata: dict[str, Any] | None,
        api_base: str | None,
        api_key: str | None,
        call_id: str,
        trace_id: str | None,
        stream: bool,
        is_async: bool,
        redact: bool,
        prompt_params: frozenset[str] = frozenset(),
    ) -> None:
        self.plan = plan
        self.prompt_params = prompt_params  # parameters redacted with the prompt
        self.settings = settings  # the client's: delivery limits of this call's events
        self.context = contextvars.copy_context()  # observer hooks run in (a copy of) it
        self.is_async = is_async
        self.redact = redact
        self.redacted_body: Any = None
        self.held: list[Any] | None = None  # post-call events riding with the terminal one
        self.done = False
        self.stream_ref: Callable[[], Any] | None = None  # the caller's stream, held weakly
        if messages is None:
            messages = _as_messages(input)
        if redact:
            messages = redact_messages(messages)
            input = redact_messages(input) if isinstance(input, list) else redact_input(input)
            optional_params = redact_params(optional_params, prompt_params)
        trace_id = trace_id or call_id
        masked = mask_key(api_key) if api_key else api_key
        self.kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "input": input if input is not None else messages,
            "optional_params": optional_params,
            "litellm_params": {
                # None until the call ends when the caller gave none, as LiteLLM's
                # pre-call hooks see it; terminal events get a dict
                "metadata": dict(metadata) if metadata else None,
                "api_base": mask_url(api_base) if api_base else api_base,
                "custom_llm_provider": provider,
                "api_key": masked,
                "litellm_call_id": call_id,
                "litellm_trace_id": trace_id,
                "stream": stream,
            },
            "litellm_call_id": call_id,
            "litellm_trace_id": trace_id,
            "call_type": call_type,
            "stream": stream,
            "custom_llm_provider": provider,
            "api_key": masked,
            "start_time": _now(),
            "end_time": None,
            "completion_start_time": None,
            "response_cost": None,
            "cache_hit": None,
            "original_response": None,
            "additional_args": {},
            "log_event_type": "pre_api_call",
            "user": optional_params.get("user"),
        }

    # ---- in-band --------------------------------------------------------------------------
    @property
    def redacts(self) -> bool:
        """Whether anyone listening sees this call redacted (the call, or a logger)."""
        return self.redact or self.plan.redacts

    def _prepare_pre(self, body: Any, headers: dict[str, str] | None, api_base: str | None,
                     redacted: Callable[[], Any] | None) -> None:
        if self.redact or self.plan.redacts:
            try:
                self.redacted_body = redacted() if redacted is not None else (
                    REDACTED if body is not None else None)
            except Exception:  # a provider refusing the redacted call: show nothing
                log.debug("llmrelay: building the redacted request failed", exc_info=True)
                self.redacted_body = REDACTED
        kw = self.kwargs
        shown = mask_url(api_base)
        kw["additional_args"] = {
            "complete_input_dict": self.redacted_body if self.redact else body,
            "headers": mask_headers(headers),
            "api_base": shown,
        }
        if api_base is not None:  # "" for a mocked call: no endpoint was called
            kw["litellm_params"]["api_base"] = shown
        kw["log_event_type"] = "pre_api_call"

    def _pre_args(self, sink: Sink) -> tuple[Any, ...]:
        kw = self.kwargs
        if sink.redact and not self.redact:
            kw = _redacted_kwargs(kw, self.redacted_body, self.prompt_params)
        if sink.style == "input":
            return (kw,)
        return (kw["model"], kw["messages"], kw)

    def pre_api_call(self, body: Any, headers: dict[str, str] | None, api_base: str | None,
                     redacted: Callable[[], Any] | None = None) -> None:
        """Run input callbacks and ``log_pre_api_call`` on the caller's thread.
        ``redacted()`` gives the request body built from the redacted call (asked only
        when a logger redacts)."""
        self._prepare_pre(body, headers, api_base, redacted)
        kw = self.kwargs
        plain = (kw["model"], kw["messages"], kw)
        for sink in self.plan.pre_api:
            if sink.is_async:  # cannot be awaited here: deliver in the background
                self._submit((sink,), self._pre_args(sink))
                continue
            token = reentry.mark_sink(sink)
            try:
                args = plain if sink.style == "pre" and not sink.redact else self._pre_args(sink)
                result = sink.fn(*args)
                if result is not None and inspect.isawaitable(result):
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            except Exception as exc:
                log.error("llmrelay: pre-call callback %s raised %s: %s", sink.hook,
                          type(exc).__name__, exc, exc_info=exc)
            finally:
                reentry.reset(token)

    async def apre_api_call(self, body: Any, headers: dict[str, str] | None,
                            api_base: str | None,
                            redacted: Callable[[], Any] | None = None) -> None:
        """Async twin: async pre-call hooks are awaited on the caller's loop."""
        self._prepare_pre(body, headers, api_base, redacted)
        for sink in self.plan.pre_api:
            token = reentry.mark_sink(sink)
            try:
                result = sink.fn(*self._pre_args(sink))
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.error("llmrelay: pre-call callback %s raised %s: %s", sink.hook,
                          type(exc).__name__, exc, exc_info=exc)
            finally:
                reentry.reset(token)

    # ---- observer events -------------------------------------------------------------------
    def _submit(self, sinks: tuple[Sink, ...],
                args_or_factory: tuple[Any, ...] | Callable[[], tuple[Any, ...]]) -> None:
        """Hand an event over (its args, or a function building them off the caller's
        path)."""
        redact = not self.redact

        def expand() -> list[Delivery]:
            args = args_or_factory if isinstance(args_or_factory, tuple) else (
                args_or_factory())

            def redacted() -> tuple[Any, ...]:
                if len(args) == 4 and isinstance(args[0], dict):
                    kw = _redacted_kwargs(args[0], self.redacted_body, self.prompt_params)
                    obj = args[1]
                    obj = REDACTED if isinstance(obj, str) else redact_response(obj)
                    return (kw, obj, args[2], args[3])
                return args  # pre-call args were redacted when built (see _pre_args)

            return _deliveries(sinks, args, redacted if redact else None)

        dispatcher.submit(Job(expand, self.context, self.settings))

    def _held_deliveries(self) -> list[Delivery]:
        """The post-call events of a whole reply, delivered with its terminal event (they
        share its kwargs dict, as LiteLLM's events share one dict). As LiteLLM calls it:
        ``(kwargs, None, start_time, None)``, the raw reply in
        ``kwargs["original_response"]``."""
        held, self.held = self.held or [], None
        kw = self.kwargs
        out: list[Delivery] = []
        for _ in held:
            args = (kw, None, kw["start_time"], None)

            def redacted(args: tuple[Any, ...] = args) -> tuple[Any, ...]:
                obj = args[1]
                return (_redacted_kwargs(kw, self.redacted_body, self.prompt_params),
                        REDACTED if isinstance(obj, str) else redact_response(obj),
                        args[2], args[3])

            out += _deliveries(self.plan.post_api, args, None if self.redact else redacted)
        return out

    def attach_stream(self, stream: Any) -> None:
        """The stream object the caller iterates: for a streamed call, hooks see it as
        ``kwargs["original_response"]`` (as LiteLLM's do). Held weakly until the stream
        ends, so a stream the caller drops is still closed (and reported) at once."""
        self.stream_ref = weakref.ref(stream)

    def _original(self) -> Any:
        """``original_response`` as hooks see it now (the stream object for streams)."""
        ref = self.stream_ref
        if ref is None or self.redact:
            return self.kwargs.get("original_response")
        return ref()

    def post_api_call(self, original_response: Any, headers: dict[str, str] | None) -> None:
        """The raw reply arrived (an error reply too); kept for later events. The hook gets
        ``(kwargs, None, start_time, None)`` as LiteLLM passes it: the raw reply is
        ``kwargs["original_response"]`` (for a stream, the stream object)."""
        kw = self.kwargs
        original = kw["original_response"] = REDACTED if self.redact else original_response
        seen = kw["response_headers"] = dict(headers) if headers else {}
        if not self.plan.post_api:
            return
        if not kw["stream"]:  # a whole reply: the terminal event follows within the call
            if self.held is None:
                self.held = [original]
            else:
                self.held.append(original)
            return
        original = self._original()

        def args() -> tuple[Any, ...]:  # a stream's: built off the caller's path
            ev = dict(kw)
            ev["log_event_type"] = "post_api_call"
            ev["original_response"] = original
            ev["response_headers"] = seen
            return (ev, None, ev["start_time"], None)

        self._submit(self.plan.post_api, args)

    def first_chunk(self) -> None:
        if self.kwargs["completion_start_time"] is None:
            self.kwargs["completion_start_time"] = _now()

    def stream_chunk(self, chunk: Any) -> None:
        kw = dict(self.kwargs)
        kw["log_event_type"] = "stream_event"
        if self.stream_ref is not None:
            kw["original_response"] = self._original()
        obj = redact_response(chunk) if self.redact else chunk
        self._submit(self.plan.stream, (kw, obj, kw["start_time"], _now()))

    def _terminal(self, sinks: tuple[Sink, ...], status: str, response: Any,
                  error: BaseException | None, fields: dict[str, Any]) -> None:
        """Hand the terminal event over; ``kwargs`` gets its final fields on the dispatcher
        (nothing reads it on the caller's side once the call has ended)."""
        kw = self.kwargs
        redact_all = self.redact
        end = _now()
        if self.stream_ref is not None:
            fields["original_response"] = self._original()
            self.stream_ref = None

        held = self.held is not None

        def expand() -> list[Delivery]:
            first = self._held_deliveries() if held else []
            lp = kw["litellm_params"]
            if lp.get("metadata") is None:
                lp["metadata"] = {}
            kw["end_time"] = end
            if kw["completion_start_time"] is None:
                kw["completion_start_time"] = end
            kw.update(fields)
            if error is not None:
                kw["traceback_exception"] = traceback_text(error)
            obj = redact_response(response) if redact_all and response is not None else response
            if kw["stream"] and status == "success":
                kw["complete_streaming_response"] = obj
                kw["async_complete_streaming_response"] = obj
            args = (_with_payload(kw, obj, status), obj, kw["start_time"], end)

            def redacted() -> tuple[Any, ...]:
                rkw = _redacted_kwargs(kw, self.redacted_body, self.prompt_params)
                robj = redact_response(response) if response is not None else None
                if "complete_streaming_response" in rkw:
                    rkw["complete_streaming_response"] = robj
                    rkw["async_complete_streaming_response"] = robj
                return (_with_payload(rkw, robj, status), robj, kw["start_time"], end)

            return first + _deliveries(sinks, args, None if redact_all else redacted)

        dispatcher.submit(Job(expand, self.context, self.settings))

    def success(self, response: Any, *, cost: float | None, cache_hit: bool = False,
                **extra: Any) -> None:
        """The one success event. ``extra`` adds keys such as ``stream_status``."""
        if self.done:
            return
        self.done = True
        if self.plan.success or self.held is not None:
            extra["response_cost"] = cost
            extra["cache_hit"] = cache_hit
            extra["log_event_type"] = "successful_api_call"
            self._terminal(self.plan.success, "success", response, None, extra)

    def failure(self, exc: BaseException, **extra: Any) -> None:
        """The one failure event; never delays the exception reaching the caller."""
        if self.done:
            return
        self.done = True
        if self.plan.failure or self.held is not None:
            extra["exception"] = exc
            extra["response_cost"] = 0.0
            extra["log_event_type"] = "failed_api_call"
            self._terminal(self.plan.failure, "failure", None, exc, extra)
