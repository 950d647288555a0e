"""Per-call logging state: the ``kwargs`` dict and the events of one call.

A :class:`CallLog` exists only when someone listens (a :class:`~.plan.Plan` was resolved).
It runs the in-band pre-call hooks itself and hands every observer event to the
dispatcher. It guarantees one terminal event: whichever of :meth:`success` and
:meth:`failure` comes first wins, later calls are ignored.

The caller's path captures references and builds nothing it does not have to: the
``kwargs`` dict is built when a hook on the caller's side needs it (an in-band pre-call
hook, a layer reading :attr:`CallLog.kwargs`), else by the dispatcher when it expands the
terminal event. The terminal event is the ``CallLog`` itself handed over as the job
(:meth:`expand` runs on the dispatcher); times are taken as floats and made datetimes
there. Once built, ``kwargs`` is kept current (what arrives later is written into it);
before, what arrives is kept in slots and written when it is built. It is built on the
caller's side before any other job of the call is handed over, or else only after the
terminal event (when the caller no longer touches the log), so one thread builds it.

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
from functools import partial
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


_time = time.time
_from_timestamp = dt.datetime.fromtimestamp
_UNSEEN: Any = object()  # "nothing arrived yet" for the slots written into kwargs later

# The keys of a call's ``kwargs`` in their order (values filled in per call).
_KWARGS: dict[str, Any] = dict.fromkeys((
    "model", "messages", "input", "optional_params", "litellm_params", "litellm_call_id",
    "litellm_trace_id", "call_type", "stream", "custom_llm_provider", "api_key", "start_time",
    "end_time", "completion_start_time", "response_cost", "cache_hit", "original_response",
    "additional_args", "log_event_type", "user"))
_KWARGS["log_event_type"] = "pre_api_call"
_PARAMS: dict[str, Any] = dict.fromkeys((
    "metadata", "api_base", "custom_llm_provider", "api_key", "litellm_call_id",
    "litellm_trace_id", "stream"))


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


def _redacted_args(args: tuple[Any, ...], body: Any,
                   prompt_params: frozenset[str]) -> tuple[Any, ...]:
    """Observer ``(kwargs, response, start, end)`` as a redacting logger may see them."""
    obj = args[1]
    return (_redacted_kwargs(args[0], body, prompt_params),
            REDACTED if isinstance(obj, str) else redact_response(obj), args[2], args[3])


def _deliveries(sinks: tuple[Sink, ...], args: tuple[Any, ...],
                redacted: Callable[[], tuple[Any, ...]] | None = None,
                job: Any = None) -> list[Delivery]:
    """One delivery per sink; sinks that redact get ``redacted()`` args (built once)."""
    if redacted is None:
        return [Delivery(s, args, job) for s in sinks]
    out = []
    other: tuple[Any, ...] | None = None
    for s in sinks:
        if s.redact:
            if other is None:
                other = redacted()
            out.append(Delivery(s, other, job))
        else:
            out.append(Delivery(s, args, job))
    return out


def _with_payload(kw: dict[str, Any], obj: Any, status: str) -> EventKwargs:
    """``kw`` for a terminal event, its standard payload built on first access."""
    # a partial, not a closure: fewer objects per event waiting for its hooks
    return EventKwargs(kw, {"standard_logging_object": partial(standard_payload, kw, obj,
                                                               status)})


class BareCall:
    """What a :class:`CallLog` reads of a call, for a call refused before it had a
    :class:`~llmrelay.providers.base.Call` (a bad argument)."""

    __slots__ = ("api_base", "api_key", "input", "messages", "model", "params", "provider",
                 "stream")

    def __init__(self, model: str, provider: str | None, messages: Any, input: Any,
                 stream: bool) -> None:
        self.model = model
        self.provider = provider
        self.messages = messages
        self.input = input
        self.params: dict[str, Any] = {}
        self.api_base = self.api_key = None
        self.stream = stream


class CallLog:
    """One call's events (see the module docstring). Also the dispatcher's job for the
    call's terminal event: ``context``, ``settings`` and :meth:`expand`.

    ``call`` is the call as prepared (a :class:`~llmrelay.providers.base.Call`, never
    changed in place: layers replace it), read when ``kwargs`` is built."""

    __slots__ = (
        "_kw", "body", "cache_hit", "call", "call_id", "call_type", "context", "cost", "done",
        "end", "error",
        "fields", "first", "held", "is_async", "metadata", "original", "plan",
        "prompt_params", "redact", "redacted_body", "redacts", "reply_headers",
        "req_headers", "response", "settings", "shown_base", "start", "status",
        "stream_ref", "trace_id",
    )
    req_headers: dict[str, str] | None  # set by the request step (see pre_api_call)
    shown_base: str | None

    def __init__(self, plan: Plan, settings: Any, call_type: str, call: Any,
                 metadata: dict[str, Any] | None, call_id: str, trace_id: str | None,
                 is_async: bool, redact: bool,
                 prompt_params: frozenset[str] = frozenset()) -> None:
        self.start = _time()
        self.plan = plan
        self.settings = settings  # the client's: delivery limits of this call's events
        self.context = contextvars.copy_context()  # observer hooks run in (a copy of) it
        self.call_type = call_type
        self.call = call
        # copied now: the caller's dict is never mutated, nor seen changed later
        self.metadata = dict(metadata) if metadata else None
        self.call_id = call_id
        self.trace_id = trace_id
        self.is_async = is_async
        self.redact = redact
        # whether anyone listening sees this call redacted (the call, or a logger)
        self.redacts = redact or plan.redacts
        self.prompt_params = prompt_params  # parameters redacted with the prompt
        self._kw: dict[str, Any] | None = None
        self.redacted_body: Any = None
        self.body = self.original = _UNSEEN
        self.first: float | None = None
        self.held = 0  # post-call events of a whole reply, riding with the terminal one
        self.done = False
        self.stream_ref: Callable[[], Any] | None = None  # the caller's stream, held weakly

    # ---- kwargs -----------------------------------------------------------------------------
    @property
    def kwargs(self) -> dict[str, Any]:
        """The call's ``kwargs`` as hooks see it (built on first use, then kept current)."""
        kw = self._kw
        if kw is None:
            kw = self._kw = self._build()
        return kw

    def _build(self) -> dict[str, Any]:
        call = self.call
        messages, input, params = call.messages, call.input, call.params
        if messages is None:
            messages = _as_messages(input)
        if self.redact:
            messages = redact_messages(messages)
            input = redact_messages(input) if isinstance(input, list) else redact_input(input)
            params = redact_params(params, self.prompt_params)
        call_id = self.call_id
        trace_id = self.trace_id or call_id
        api_key, api_base = call.api_key, call.api_base
        masked = mask_key(api_key) if api_key else api_key
        provider, stream = call.provider, call.stream
        # copies of fixed-shape templates, filled in (cheaper than dict displays)
        lp = _PARAMS.copy()
        # None until the call ends when the caller gave none, as LiteLLM's pre-call hooks
        # see it; terminal events get a dict (see expand)
        lp["metadata"] = self.metadata
        lp["api_base"] = mask_url(api_base) if api_base else api_base
        lp["custom_llm_provider"] = provider
        lp["api_key"] = masked
        lp["litellm_call_id"] = call_id
        lp["litellm_trace_id"] = trace_id
        lp["stream"] = stream
        kw = _KWARGS.copy()
        kw["model"] = call.model
        kw["messages"] = messages
        kw["input"] = input if input is not None else messages
        kw["optional_params"] = params
        kw["litellm_params"] = lp
        kw["litellm_call_id"] = call_id
        kw["litellm_trace_id"] = trace_id
        kw["call_type"] = self.call_type
        kw["stream"] = stream
        kw["custom_llm_provider"] = provider
        kw["api_key"] = masked
        kw["start_time"] = _from_timestamp(self.start)
        if self.first is not None:
            kw["completion_start_time"] = _from_timestamp(self.first)
        kw["user"] = params.get("user")
        if self.body is not _UNSEEN:
            shown = self.shown_base
            kw["additional_args"] = {
                "complete_input_dict": self.redacted_body if self.redact else self.body,
                "headers": mask_headers(self.req_headers),
                "api_base": shown,
            }
            self.req_headers = None  # masked into kwargs: the raw dict is not kept
            if shown is not None:  # "" for a mocked call: no endpoint was called
                lp["api_base"] = shown
        else:
            kw["additional_args"] = {}
        if self.original is not _UNSEEN:
            kw["original_response"] = self.original
            kw["response_headers"] = self.reply_headers
        return kw

    def _pre_fields(self, kw: dict[str, Any]) -> None:
        """What the request step wrote (see :meth:`pre_api_call`)."""
        shown = self.shown_base
        kw["additional_args"] = {
            "complete_input_dict": self.redacted_body if self.redact else self.body,
            "headers": mask_headers(self.req_headers),
            "api_base": shown,
        }
        self.req_headers = None
        if shown is not None:  # "" for a mocked call: no endpoint was called
            kw["litellm_params"]["api_base"] = shown
        kw["log_event_type"] = "pre_api_call"

    # ---- in-band --------------------------------------------------------------------------
    def _prepare_pre(self, body: Any, headers: dict[str, str] | None, api_base: str | None,
                     redacted: Callable[[], Any] | None) -> dict[str, Any] | None:
        """Record the request; returns ``kwargs`` when hooks run on the caller's side now
        (built if need be), else None (it is written into ``kwargs`` when built)."""
        if self.redacts:
            try:
                self.redacted_body = redacted() if redacted is not None else (
                    REDACTED if body is not None else None)
            except Exception:  # a provider refusing the redacted call: show nothing
                log.debug("llmrelay: building the redacted request failed", exc_info=True)
                self.redacted_body = REDACTED
        self.body = body
        self.req_headers = headers
        self.shown_base = mask_url(api_base) if api_base else api_base
        kw = self._kw
        if kw is None:
            if not self.plan.pre_api:
                return None
            kw = self.kwargs  # built with the request's fields
        else:
            self._pre_fields(kw)
        return kw

    def _pre_args(self, sink: Sink, kw: dict[str, Any]) -> tuple[Any, ...]:
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
        kw = self._prepare_pre(body, headers, api_base, redacted)
        if kw is None:
            return
        plain = (kw["model"], kw["messages"], kw)
        for sink in self.plan.pre_api:
            if sink.is_async:  # cannot be awaited here: deliver in the background
                self._submit((sink,), self._pre_args(sink, kw))
                continue
            token = reentry.mark_sink(sink)
            try:
                result = sink.fn(*(plain if sink.style == "pre" and not sink.redact
                                   else self._pre_args(sink, kw)))
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
        kw = self._prepare_pre(body, headers, api_base, redacted)
        if kw is None:
            return
        for sink in self.plan.pre_api:
            token = reentry.mark_sink(sink)
            try:
                result = sink.fn(*self._pre_args(sink, kw))
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
        """Hand a non-terminal event over (its args, or a function building them off the
        caller's path from ``kwargs``, which is built here first: see the module
        docstring)."""
        if self._kw is None:  # built on this side, before the job exists
            self._kw = self._build()
        redact = not self.redact

        def expand() -> list[Delivery]:
            args = args_or_factory if isinstance(args_or_factory, tuple) else (
                args_or_factory())

            def redacted() -> tuple[Any, ...]:
                if len(args) == 4 and isinstance(args[0], dict):
                    return _redacted_args(args, self.redacted_body, self.prompt_params)
                return args  # pre-call args were redacted when built (see _pre_args)

            return _deliveries(sinks, args, redacted if redact else None)

        dispatcher.submit(Job(expand, self.context, self.settings))

    def attach_stream(self, stream: Any) -> None:
        """The stream object the caller iterates: for a streamed call, hooks see it as
        ``kwargs["original_response"]`` (as LiteLLM's do). Held weakly until the stream
        ends, so a stream the caller drops is still closed (and reported) at once."""
        self.stream_ref = weakref.ref(stream)

    def _original(self) -> Any:
        """``original_response`` as hooks see it now (the stream object for streams)."""
        ref = self.stream_ref
        if ref is None or self.redact:
            return None if self.original is _UNSEEN else self.original
        return ref()

    def post_api_call(self, original_response: Any, headers: dict[str, str] | None) -> None:
        """The raw reply arrived (an error reply too); kept for later events. The hook gets
        ``(kwargs, None, start_time, None)`` as LiteLLM passes it: the raw reply is
        ``kwargs["original_response"]`` (for a stream, the stream object)."""
        original = self.original = REDACTED if self.redact else original_response
        seen = self.reply_headers = dict(headers) if headers else {}
        kw = self._kw
        if kw is not None:
            kw["original_response"] = original
            kw["response_headers"] = seen
        if self.plan.post_api:
            if not self.call.stream:  # a whole reply: the terminal event follows
                self.held += 1
            else:
                self._stream_post(seen)

    def _stream_post(self, seen: dict[str, str]) -> None:
        original = self._original()

        def args() -> tuple[Any, ...]:  # a stream's: built off the caller's path
            ev = dict(self.kwargs)
            ev["log_event_type"] = "post_api_call"
            ev["original_response"] = original
            ev["response_headers"] = seen
            return (ev, None, ev["start_time"], None)

        self._submit(self.plan.post_api, args)

    def first_chunk(self) -> None:
        if self.first is None:
            self.first = _time()
            kw = self._kw
            if kw is not None:
                kw["completion_start_time"] = _from_timestamp(self.first)

    def stream_chunk(self, chunk: Any, view: Callable[[Any], Any] | None = None) -> None:
        """A chunk the caller sees: its ``log_stream_event`` args are built off the
        caller's path (``view(chunk)``, when given, is what the hooks get)."""
        now = _time()
        original = self._original() if self.stream_ref is not None else _UNSEEN
        redact = self.redact

        def args() -> tuple[Any, ...]:
            kw = dict(self.kwargs)
            kw["log_event_type"] = "stream_event"
            if original is not _UNSEEN:
                kw["original_response"] = original
            shown = view(chunk) if view is not None else chunk
            obj = redact_response(shown) if redact else shown
            return (kw, obj, kw["start_time"], _from_timestamp(now))

        self._submit(self.plan.stream, args)

    # ---- the terminal event ------------------------------------------------------------------
    def success(self, response: Any, *, cost: float | None, cache_hit: bool = False,
                **extra: Any) -> None:
        """The one success event. ``extra`` adds keys such as ``stream_status``; the
        event is handed over with this log as the job (:meth:`expand` does the rest on
        the dispatcher)."""
        if self.done:
            return
        self.done = True
        if self.plan.success or self.held:
            self.end = _time()
            self.cost = cost
            self.cache_hit = cache_hit
            self._hand_over("success", response, None, extra)

    def failure(self, exc: BaseException, **extra: Any) -> None:
        """The one failure event; never delays the exception reaching the caller."""
        if self.done:
            return
        self.done = True
        if self.plan.failure or self.held:
            self.end = _time()
            self.cost = 0.0
            self._hand_over("failure", None, exc, extra)

    def _hand_over(self, status: str, response: Any, error: BaseException | None,
                   fields: dict[str, Any]) -> None:
        """The terminal event: this log is the job (:meth:`expand` runs on the
        dispatcher)."""
        if self.stream_ref is not None:
            fields["original_response"] = self._original()
            self.stream_ref = None
        self.status = status
        self.response = response
        self.error = error
        self.fields = fields or None  # an empty dict is not kept (one object less pending)
        dispatcher.submit(self)

    def expand(self) -> list[Delivery]:
        """The terminal event's deliveries (runs on the dispatcher): ``kwargs`` gets its
        final fields; the held post-call events share it."""
        kw = self.kwargs
        lp = kw["litellm_params"]
        if lp.get("metadata") is None:
            lp["metadata"] = {}
        end = _from_timestamp(self.end)
        kw["end_time"] = end
        if kw["completion_start_time"] is None:
            kw["completion_start_time"] = end
        error, response, status = self.error, self.response, self.status
        fields = self.fields
        if fields is not None:
            kw.update(fields)
        if status == "success":
            kw["cache_hit"] = self.cache_hit
            kw["log_event_type"] = "successful_api_call"
        else:
            kw["exception"] = error
            kw["log_event_type"] = "failed_api_call"
        kw["response_cost"] = self.cost
        if error is not None:
            kw["traceback_exception"] = traceback_text(error)
        redact_all = self.redact
        obj = redact_response(response) if redact_all and response is not None else response
        if kw["stream"] and status == "success":
            kw["complete_streaming_response"] = obj
            kw["async_complete_streaming_response"] = obj
        out: list[Delivery] = []
        if self.held:
            # as LiteLLM calls it: (kwargs, None, start_time, None), the raw reply in
            # kwargs["original_response"] (they share the terminal event's dict)
            post = (kw, None, kw["start_time"], None)
            red = None if redact_all or not self.plan.redacts else (
                lambda: _redacted_args(post, self.redacted_body, self.prompt_params))
            for _ in range(self.held):
                out += _deliveries(self.plan.post_api, post, red, self)
        args = (_with_payload(kw, obj, status), obj, kw["start_time"], end)
        sinks = self.plan.success if status == "success" else self.plan.failure
        if redact_all or not self.plan.redacts:
            return out + _deliveries(sinks, args, None, self)

        def redacted() -> tuple[Any, ...]:
            rkw = _redacted_kwargs(kw, self.redacted_body, self.prompt_params)
            robj = redact_response(response) if response is not None else None
            if "complete_streaming_response" in rkw:
                rkw["complete_streaming_response"] = robj
                rkw["async_complete_streaming_response"] = robj
            return (_with_payload(rkw, robj, status), robj, kw["start_time"], end)

        return out + _deliveries(sinks, args, redacted, self)
