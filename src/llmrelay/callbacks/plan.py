"""Which function receives which event: resolved from the callback lists, cached.

The user's lists (``callbacks``, ``input_callback``, ``success_callback``,
``failure_callback``, global and per call) are read at call time. A :class:`Plan` is the
resolved answer for one combination of list contents and one call mode (sync or async):
for each event, the tuple of :class:`Sink` to deliver to, each target at most once. Plans
are cached by the identity of the list entries, so a call pays a tuple build and a dict
lookup; with every list empty it pays nothing (``plan_for`` returns None).
"""

from __future__ import annotations

import inspect
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .custom_logger import CustomLogger
from .hookspecs import EVENTS, PROXY_HOOKS, near_miss

log = logging.getLogger("llmrelay")

__all__ = ["Plan", "Sink", "plan_for", "proxy_mode"]


class Sink:
    """One function to call for one event. ``style`` says how to call it:
    ``"observer"`` (kwargs, response, start, end), ``"pre"`` (model, messages, kwargs),
    ``"input"`` (kwargs)."""

    __slots__ = ("fn", "hook", "is_async", "redact", "style", "target")

    def __init__(self, target: Any, hook: str, fn: Callable[..., Any], is_async: bool,
                 style: str, redact: bool = False) -> None:
        self.target = target
        self.hook = hook
        self.fn = fn
        self.is_async = is_async
        self.style = style
        self.redact = redact  # the logger asked for turn_off_message_logging


class Plan:
    __slots__ = ("failure", "post_api", "pre_api", "stream", "success")

    def __init__(self) -> None:
        self.pre_api: tuple[Sink, ...] = ()
        self.post_api: tuple[Sink, ...] = ()
        self.stream: tuple[Sink, ...] = ()
        self.success: tuple[Sink, ...] = ()
        self.failure: tuple[Sink, ...] = ()


_proxy = threading.local()
_PROXY_FLAG = {"on": False}


def proxy_mode(on: bool = True) -> None:
    """Called by the proxy at start: proxy-only hooks are expected there, not warned about."""
    _PROXY_FLAG["on"] = on


def _overrides(obj: CustomLogger, name: str | None) -> Callable[..., Any] | None:
    if name is None:
        return None
    impl = getattr(type(obj), name, None)
    if impl is None or impl is getattr(CustomLogger, name, None):
        return None
    return getattr(obj, name)  # type: ignore[no-any-return]


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


_checked: weakref.WeakSet[Any] = weakref.WeakSet()
_checked_ids: set[int] = set()


def _check_logger(obj: CustomLogger) -> None:
    """Registration-time warnings: misspelled hooks, proxy-only hooks outside the proxy."""
    try:
        if obj in _checked:
            return
        _checked.add(obj)
    except TypeError:  # unhashable or not weak-referenceable
        if id(obj) in _checked_ids:
            return
        _checked_ids.add(id(obj))
    cls = type(obj)
    for klass in cls.__mro__:
        if klass is CustomLogger or klass is object:
            break
        for name in vars(klass):
            hook = near_miss(name)
            if hook is not None:
                warnings.warn(
                    f"{cls.__name__}.{name} is not a llmrelay hook and will never be called; "
                    f"did you mean {hook}?", UserWarning, stacklevel=4)
    if not _PROXY_FLAG["on"]:
        used = [h for h in PROXY_HOOKS if _overrides(obj, h) is not None]
        if used:
            warnings.warn(
                f"{cls.__name__} defines proxy-only hook(s) {', '.join(used)}: they run only "
                f"inside `llmrelay serve`, not in SDK calls", UserWarning, stacklevel=4)


def _resolve_name(name: str) -> Any:
    from ..integrations.registry import get_integration

    return get_integration(name)


def _logger_sinks(obj: CustomLogger, event: str, is_async: bool) -> Sink | None:
    spec = EVENTS[event]
    primary, other = ((spec.async_name, spec.sync_name) if is_async
                      else (spec.sync_name, spec.async_name))
    for name in (primary, other):
        fn = _overrides(obj, name)
        if fn is not None:
            style = "pre" if event == "pre_api" else "observer"
            return Sink(obj, name or event, fn, name is not None and name.startswith("async_"),
                        style, bool(getattr(obj, "turn_off_message_logging", False)))
    return None


def build_plan(callbacks: Sequence[Any], inputs: Sequence[Any], successes: Sequence[Any],
               failures: Sequence[Any], is_async: bool) -> Plan | None:
    """Resolve the lists into sinks. ``callbacks`` entries get every event; the others only
    theirs. A target appearing in several lists still gets each event once."""
    events: dict[str, list[Sink]] = {e: [] for e in EVENTS}
    seen: dict[str, set[int]] = {e: set() for e in EVENTS}

    def add(event: str, sink: Sink | None) -> None:
        if sink is not None and id(sink.target) not in seen[event]:
            seen[event].add(id(sink.target))
            events[event].append(sink)

    def function_sink(fn: Callable[..., Any], event: str) -> Sink:
        style = "input" if event == "pre_api" else "observer"
        return Sink(fn, getattr(fn, "__name__", event), fn, _is_async(fn), style)

    lists = (("all", callbacks), ("pre_api", inputs), ("success", successes),
             ("failure", failures))
    for which, entries in lists:
        for entry in entries or ():
            obj = _resolve_name(entry) if isinstance(entry, str) else entry
            if isinstance(obj, CustomLogger):
                _check_logger(obj)
                wanted = tuple(EVENTS) if which == "all" else (which,)
                if which == "success":
                    wanted = ("post_api", "stream", "success")
                for event in wanted:
                    add(event, _logger_sinks(obj, event, is_async))
            elif callable(obj):
                wanted = ("success", "failure") if which == "all" else (which,)
                for event in wanted:
                    add(event, function_sink(obj, event))
            else:
                raise TypeError(f"callback {entry!r} is neither a CustomLogger, a function, "
                                f"nor the name of an integration")
    plan = Plan()
    plan.pre_api = tuple(events["pre_api"])
    plan.post_api = tuple(events["post_api"])
    plan.stream = tuple(events["stream"])
    plan.success = tuple(events["success"])
    plan.failure = tuple(events["failure"])
    if not (plan.pre_api or plan.post_api or plan.stream or plan.success or plan.failure):
        return None
    return plan


_cache: dict[Any, Plan | None] = {}
_EMPTY: tuple[Any, ...] = ()


def clear_cache() -> None:
    """Forget resolved plans (after an integration name is re-registered)."""
    _cache.clear()


def plan_for(callbacks: Sequence[Any] | None, inputs: Sequence[Any] | None,
             successes: Sequence[Any] | None, failures: Sequence[Any] | None,
             is_async: bool) -> Plan | None:
    """The cached plan for these list contents, or None when nobody listens."""
    if not (callbacks or inputs or successes or failures):
        return None
    key = (tuple(callbacks or _EMPTY), tuple(inputs or _EMPTY), tuple(successes or _EMPTY),
           tuple(failures or _EMPTY), is_async)
    try:
        return _cache[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable entry: resolve without caching
        return build_plan(key[0], key[1], key[2], key[3], is_async)
    plan = build_plan(key[0], key[1], key[2], key[3], is_async)
    if len(_cache) > 256:
        _cache.clear()
    _cache[key] = plan
    return plan
