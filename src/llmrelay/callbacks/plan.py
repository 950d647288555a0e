"""Which function receives which observer event of a call: resolved from the callback lists
through the hook registry (:mod:`.registry`), cached.

The user's lists (``callbacks``, ``input_callback``, ``success_callback``,
``failure_callback``, a client's and the call's own) are read at call time. A :class:`Plan`
is the resolved answer for one combination of list contents and one call mode (sync or
async): for each event, the tuple of :class:`Sink` to deliver to, each target at most once.
Plans of a client's own lists are cached by the identity of the entries, so a call pays a
tuple build and a dict lookup; with every list empty it pays nothing (``plan_for`` returns
None). Lists given to one call only are resolved for that call, uncached.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from . import registry
from .custom_logger import CustomLogger
from .dispatcher import Hook
from .hookspecs import EVENTS
from .registry import check_function, overridden, resolve

__all__ = ["Plan", "Sink", "build_plan", "clear_cache", "plan_for"]


class Sink(Hook):
    """One function to call for one event. ``style`` says how to call it:
    ``"observer"`` (kwargs, response, start, end), ``"pre"`` (model, messages, kwargs),
    ``"input"`` (kwargs)."""

    __slots__ = ("redact", "style")

    def __init__(self, target: Any, hook: str, fn: Callable[..., Any], is_async: bool,
                 style: str, redact: bool = False) -> None:
        super().__init__(target, hook, fn, is_async)
        self.style = style
        self.redact = redact  # the logger asked for turn_off_message_logging


class Plan:
    __slots__ = ("failure", "post_api", "pre_api", "redacts", "stream", "success", "targets")

    def __init__(self, events: dict[str, list[Sink]]) -> None:
        self.pre_api: tuple[Sink, ...] = tuple(events["pre_api"])
        self.post_api: tuple[Sink, ...] = tuple(events["post_api"])
        self.stream: tuple[Sink, ...] = tuple(events["stream"])
        self.success: tuple[Sink, ...] = tuple(events["success"])
        self.failure: tuple[Sink, ...] = tuple(events["failure"])
        every = (*self.pre_api, *self.post_api, *self.stream, *self.success, *self.failure)
        self.targets = frozenset(id(s.target) for s in every)
        self.redacts = any(s.redact for s in every)  # a logger wants its own redacted view

    def without(self, targets: frozenset[int]) -> Plan | None:
        """This plan minus the sinks of ``targets`` (None when nothing is left)."""
        if not (self.targets & targets):
            return self
        events = {e: [s for s in getattr(self, e) if id(s.target) not in targets]
                  for e in EVENTS}
        return _plan_or_none(events)


def _plan_or_none(events: dict[str, list[Sink]]) -> Plan | None:
    if not any(events.values()):
        return None
    return Plan(events)


# The parameter names LiteLLM passes hooks by (it calls them with keywords).
_NAMES = {"pre": ("model", "messages", "kwargs"),
          "observer": ("kwargs", "response_obj", "start_time", "end_time")}


def _takes_names(fn: Callable[..., Any], names: tuple[str, ...]) -> bool:
    try:
        inspect.signature(fn).bind(**dict.fromkeys(names))
    except (TypeError, ValueError):
        return False
    return True


def _hook_caller(obj: CustomLogger, name: str, style: str) -> Callable[..., Any]:
    """Calls ``obj.<name>``, looked up at each call (so a hook replaced on the instance,
    e.g. by ``unittest.mock.patch.object``, is the one called, as in LiteLLM). A method
    that takes LiteLLM's parameter names is called with them as keywords, as LiteLLM
    calls it; any other is called positionally in the documented order."""
    if not _takes_names(getattr(obj, name), _NAMES[style]):
        def in_order(*args: Any) -> Any:
            return getattr(obj, name)(*args)
        return in_order
    if style == "pre":
        def pre_by_name(model: Any, messages: Any, kwargs: Any) -> Any:
            return getattr(obj, name)(model=model, messages=messages, kwargs=kwargs)
        return pre_by_name

    def by_name(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> Any:
        return getattr(obj, name)(kwargs=kwargs, response_obj=response_obj,
                                  start_time=start_time, end_time=end_time)
    return by_name


def _logger_sink(obj: CustomLogger, hooks: tuple[str, ...], event: str,
                 call_is_async: bool) -> Sink | None:
    spec = EVENTS[event]
    primary, other = ((spec.async_name, spec.sync_name) if call_is_async
                      else (spec.sync_name, spec.async_name))
    for name in (primary, other):
        if name is not None and name in hooks:
            style = "pre" if event == "pre_api" else "observer"
            return Sink(obj, name, _hook_caller(obj, name, style), name.startswith("async_"),
                        style, bool(getattr(obj, "turn_off_message_logging", False)))
    return None


_LISTS = (("callbacks", "all"), ("input_callback", "pre_api"),
          ("success_callback", "success"), ("failure_callback", "failure"))


def build_plan(callbacks: Sequence[Any], inputs: Sequence[Any], successes: Sequence[Any],
               failures: Sequence[Any], is_async: bool) -> Plan | None:
    """Resolve the lists into sinks. ``callbacks`` entries get every event; the others only
    theirs. A target appearing in several lists still gets each event once. Raises as
    :func:`.registry.check_lists` does for a bad entry."""
    events: dict[str, list[Sink]] = {e: [] for e in EVENTS}
    seen: dict[str, set[int]] = {e: set() for e in EVENTS}

    def add(event: str, sink: Sink | None) -> None:
        if sink is not None and id(sink.target) not in seen[event]:
            seen[event].add(id(sink.target))
            events[event].append(sink)

    for (list_name, which), entries in zip(_LISTS, (callbacks, inputs, successes, failures),
                                           strict=True):
        for entry in entries or ():
            obj = resolve(entry)
            if isinstance(obj, CustomLogger):
                hooks = overridden(obj)
                wanted = tuple(EVENTS) if which == "all" else (which,)
                if which == "success":
                    wanted = ("post_api", "stream", "success")
                for event in wanted:
                    add(event, _logger_sink(obj, hooks, event, is_async))
            elif callable(obj):
                check_function(obj, list_name)
                wanted = ("success", "failure") if which == "all" else (which,)
                fn_async = registry.is_async(obj)
                for event in wanted:
                    style = "input" if event == "pre_api" else "observer"
                    add(event, Sink(obj, getattr(obj, "__name__", event), obj, fn_async,
                                    style))
            else:
                raise TypeError(f"callback {entry!r} is neither a CustomLogger, a function, "
                                f"nor the name of an integration")
    return _plan_or_none(events)


_cache: dict[Any, Plan | None] = {}
_EMPTY: tuple[Any, ...] = ()


def clear_cache() -> None:
    """Forget resolved plans (after an integration name is re-registered)."""
    _cache.clear()
    _last[0] = _last[1] = None


def plan_for(callbacks: Sequence[Any] | None, inputs: Sequence[Any] | None,
             successes: Sequence[Any] | None, failures: Sequence[Any] | None,
             is_async: bool, cache: bool = True) -> Plan | None:
    """The plan for these list contents (cached unless ``cache`` is False), or None when
    nobody listens."""
    if not (callbacks or inputs or successes or failures):
        return None
    if cache:  # the same lists as last time (the usual case): no key to build
        last = _last[is_async]
        if (last is not None and last[0] == callbacks and last[1] == inputs
                and last[2] == successes and last[3] == failures):
            return last[4]
    key = (tuple(callbacks) if callbacks else _EMPTY, tuple(inputs) if inputs else _EMPTY,
           tuple(successes) if successes else _EMPTY, tuple(failures) if failures else _EMPTY,
           is_async)
    if not cache:
        return build_plan(key[0], key[1], key[2], key[3], is_async)
    try:
        plan = _cache[key]
    except KeyError:
        plan = build_plan(key[0], key[1], key[2], key[3], is_async)
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = plan
    except TypeError:  # an unhashable entry: resolve without caching
        return build_plan(key[0], key[1], key[2], key[3], is_async)
    # copies of the lists as they are now (a list changed in place then differs)
    _last[is_async] = (_copy(callbacks), _copy(inputs), _copy(successes), _copy(failures),
                       plan)
    return plan


def _copy(entries: Sequence[Any] | None) -> Any:
    return list(entries) if isinstance(entries, list) else entries


# per call mode: the lists of the last cached lookup (copies) and their plan
_last: list[tuple[Any, Any, Any, Any, Plan | None] | None] = [None, None]
