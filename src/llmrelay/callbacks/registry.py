"""The hook registry: what a callback entry is, which hooks it has, and whether llmrelay
can call them. One registry for the SDK (observer plans, :mod:`.plan`), the router
(fallback hooks) and the proxy (its in-band hooks).

An entry of a callback list is a :class:`CustomLogger`, a plain function (sync or async),
or the name of an integration. Registration (assigning ``llmrelay.callbacks``, building a
``Client``, passing ``callbacks=`` to a call, loading the proxy's config) checks each entry
once:

* a hook whose parameters cannot take the arguments llmrelay passes
  (``log_success_event(self, kwargs)``) raises :class:`HookSignatureError` naming the hook
  and the call it will get, instead of failing at every delivery;
* a method name that is a near miss of a hook (``log_sucess_event``) warns;
* a proxy-only hook outside the proxy warns (it would never run).
"""

from __future__ import annotations

import inspect
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .custom_logger import CustomLogger
from .hookspecs import ALL_HOOKS, FUNCTION_SIGNATURES, PROXY_HOOKS, near_miss

__all__ = ["HookSignatureError", "ProxyHooks", "check_lists", "hook_methods", "is_async",
           "overridden", "proxy_hooks", "resolve"]


class HookSignatureError(TypeError):
    """A hook or callback function cannot take the arguments llmrelay calls it with."""


_lock = threading.Lock()
_loggers: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()
_loggers_by_id: dict[int, tuple[Any, tuple[str, ...]]] = {}  # unhashable / no weakref
_functions: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def resolve(entry: Any) -> Any:
    """The object an entry stands for: an integration name becomes its shared instance
    (raising ``ValueError`` naming the known ones); anything else is itself."""
    if isinstance(entry, str):
        from ..integrations.registry import get_integration  # names are resolved late

        return get_integration(entry)
    return entry


def is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _own(obj: CustomLogger, name: str) -> bool:
    impl = getattr(type(obj), name, None)
    return impl is not None and impl is not getattr(CustomLogger, name, None)


def _check_call(fn: Callable[..., Any], nargs: int, what: str, expected: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and C callables: nothing to check
        return
    try:
        sig.bind(*range(nargs))
    except TypeError:
        raise HookSignatureError(
            f"{what}({_plain(sig)}) cannot take the {nargs} positional argument(s) llmrelay "
            f"passes: it is called as {expected}") from None


def _plain(sig: inspect.Signature) -> str:
    """The parameters as written, without annotations: ``kwargs, *args, extra=None``."""
    out = []
    for p in sig.parameters.values():
        stars = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        text = stars + p.name
        if p.default is not p.empty:
            text += f"={p.default!r}"
        out.append(text)
    return ", ".join(out)


def _inspect_logger(obj: CustomLogger, proxy: bool) -> tuple[str, ...]:
    cls = type(obj)
    for klass in cls.__mro__:
        if klass is CustomLogger or klass is object:
            break
        for name in vars(klass):
            hook = near_miss(name)
            if hook is not None:
                warnings.warn(
                    f"{cls.__name__}.{name} is not a llmrelay hook and will never be called; "
                    f"did you mean {hook}?", UserWarning, stacklevel=5)
    names = tuple(n for n in ALL_HOOKS if _own(obj, n))
    for name in names:
        spec = ALL_HOOKS[name]
        _check_call(getattr(obj, name), spec.nargs, f"{cls.__name__}.{name}",
                    f"{name}{spec.signature} ({spec.when})")
    used = [n for n in names if n in PROXY_HOOKS]
    if used and not proxy:
        warnings.warn(
            f"{cls.__name__} defines proxy-only hook(s) {', '.join(used)}: they run only "
            f"inside `llmrelay serve`, not in SDK calls", UserWarning, stacklevel=5)
    return names


def overridden(obj: CustomLogger, proxy: bool = False) -> tuple[str, ...]:
    """The hooks ``obj`` overrides, checked (and warned about) on first sight only;
    ``proxy``: registered by the proxy, where proxy-only hooks are expected.

    Raises :class:`HookSignatureError` for a hook llmrelay cannot call."""
    try:
        found = _loggers.get(obj)
    except TypeError:  # unhashable: fall back to identity
        item = _loggers_by_id.get(id(obj))
        found = item[1] if item is not None and item[0] is obj else None
    if found is not None:
        return found
    names = _inspect_logger(obj, proxy)
    with _lock:
        try:
            _loggers[obj] = names
        except TypeError:
            if len(_loggers_by_id) > 4096:
                _loggers_by_id.clear()
            _loggers_by_id[id(obj)] = (obj, names)
    return names


def check_function(fn: Callable[..., Any], list_name: str) -> None:
    """Check a plain function's parameters for the list it is in (once per function)."""
    try:
        seen = _functions.get(fn)
    except TypeError:
        seen = None
    if seen is not None and list_name in seen:
        return
    expected = FUNCTION_SIGNATURES[list_name]
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    _check_call(fn, expected.count(",") + 1, name, f"fn{expected} (in {list_name})")
    try:
        _functions.setdefault(fn, set()).add(list_name)
    except TypeError:
        pass


def check_lists(lists: dict[str, Sequence[Any] | None], proxy: bool = False) -> None:
    """Resolve and check every entry of the named lists (``callbacks``,
    ``input_callback``, ``success_callback``, ``failure_callback``): registration.

    Raises ``ValueError`` for an unknown integration name, ``TypeError`` for an entry that
    is neither a logger nor callable, :class:`HookSignatureError` for a bad signature."""
    for list_name, entries in lists.items():
        for entry in entries or ():
            obj = resolve(entry)
            if isinstance(obj, CustomLogger):
                overridden(obj, proxy)
            elif callable(obj):
                check_function(obj, list_name)
            else:
                raise TypeError(f"callback {entry!r} is neither a CustomLogger, a function, "
                                f"nor the name of an integration")


def hook_methods(entries: Iterable[Any], hook: str) -> list[Callable[..., Any]]:
    """The bound ``hook`` methods of the loggers among ``entries`` that override it, in
    list order, each logger once (router and proxy hooks)."""
    out: list[Callable[..., Any]] = []
    seen: set[int] = set()
    for entry in entries:
        obj = resolve(entry)
        if not isinstance(obj, CustomLogger) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if hook in overridden(obj):
            out.append(getattr(obj, hook))
    return out


class ProxyHooks:
    """The bound proxy hooks of one callback list, per hook, in list order."""

    __slots__ = ("failure", "iterator", "moderation", "pre_call", "stream_chunk", "success")

    def __init__(self, entries: Sequence[Any]) -> None:
        self.pre_call = tuple(hook_methods(entries, "async_pre_call_hook"))
        self.moderation = tuple(hook_methods(entries, "async_moderation_hook"))
        self.success = tuple(hook_methods(entries, "async_post_call_success_hook"))
        self.failure = tuple(hook_methods(entries, "async_post_call_failure_hook"))
        self.stream_chunk = tuple(hook_methods(entries, "async_post_call_streaming_hook"))
        self.iterator = tuple(hook_methods(entries, "async_post_call_streaming_iterator_hook"))


def proxy_hooks(entries: Sequence[Any]) -> ProxyHooks:
    """The proxy hooks of ``entries`` (each entry checked as registered inside the proxy)."""
    check_lists({"callbacks": entries}, proxy=True)
    return ProxyHooks(entries)
