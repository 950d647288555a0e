"""Integrations by name: ``llmrelay.callbacks = ["otel", "prometheus"]``.

Built-in names map to ``module:factory`` strings imported on first use; third-party packages
add names through the entry-point group ``llmrelay.integrations`` (the entry point loads a
CustomLogger subclass or a factory returning an instance). One instance per name is kept, so
every call that names an integration reaches the same logger.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from typing import Any

from ..callbacks.custom_logger import CustomLogger
from ..exceptions import LLMRelayError

__all__ = ["BUILTIN", "IntegrationError", "MissingCredentialsError", "UnconfiguredIntegration",
           "get_integration", "known_integrations", "register"]

_log = logging.getLogger("llmrelay.integrations")


class IntegrationError(LLMRelayError, ValueError):
    """An unknown integration name, or one whose optional dependency is missing."""


class MissingCredentialsError(IntegrationError):
    """An integration's constructor found no credentials (keys, host) to send with."""


class UnconfiguredIntegration(CustomLogger):
    """What an integration *name* stands for while its credentials are missing.

    LiteLLM accepts ``success_callback = ["langfuse"]`` without the keys and fails when it
    sends; so does llmrelay: registering the name warns once (``UserWarning`` and the log),
    and each event the integration would have sent is dropped with an error in the log
    (``dropped`` counts them). Once the credentials are set, the next registration of the
    name builds the real logger."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__()
        self.name = name
        self.reason = reason
        self.dropped = 0

    def warn(self) -> None:
        warnings.warn(f"integration {self.name!r} is registered but cannot send: "
                      f"{self.reason}", UserWarning, stacklevel=4)
        _log.warning("integration %r is registered but cannot send: %s", self.name,
                     self.reason)

    def _drop(self) -> None:
        self.dropped += 1
        _log.error("integration %r dropped an event (%d so far): %s", self.name,
                   self.dropped, self.reason)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._drop()

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._drop()


# name -> ("module:factory", extra to install)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "otel": ("llmrelay.integrations.otel:OTelLogger", "otel"),
    "prometheus": ("llmrelay.integrations.prometheus:PrometheusLogger", "prometheus"),
    "webhook": ("llmrelay.integrations.webhook:WebhookLogger", None),
    "generic_api": ("llmrelay.integrations.webhook:WebhookLogger", None),
    "jsonl": ("llmrelay.integrations.jsonl:JsonlLogger", None),
    "langfuse": ("llmrelay.integrations.langfuse:LangfuseLogger", None),
}

_instances: dict[str, Any] = {}
_lock = threading.Lock()


def register(name: str, factory: Any) -> None:
    """Register ``name`` for a CustomLogger class/factory or a ready instance."""
    with _lock:
        _instances.pop(name, None)
        _extra[name] = factory
    from ..callbacks.plan import clear_cache

    clear_cache()  # plans resolved the old instance for this name


_extra: dict[str, Any] = {}


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    try:
        return {ep.name: ep for ep in entry_points(group="llmrelay.integrations")}
    except Exception:  # a broken third-party distribution must not break registration
        return {}


def known_integrations() -> list[str]:
    return sorted(set(BUILTIN) | set(_extra) | set(_entry_points()))


def _instantiate(target: Any) -> Any:
    """A ready logger is used as it is; a class or a factory function is called."""
    if isinstance(target, type) or (callable(target) and not hasattr(target,
                                                                      "log_success_event")):
        return target()
    return target


def _build(name: str) -> Any:
    if name in _extra:
        return _instantiate(_extra[name])
    if name in BUILTIN:
        target, extra = BUILTIN[name]
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f"pip install 'llmrelay[{extra}]'" if extra else "check your installation"
            raise IntegrationError(
                f"integration {name!r} needs an optional dependency that is not installed "
                f"({exc.name or exc}): {hint}") from exc
        try:
            return getattr(module, attr)()
        except MissingCredentialsError as exc:
            return UnconfiguredIntegration(name, str(getattr(exc, "message", "") or exc))
    eps = _entry_points()
    if name in eps:
        ep = eps[name]
        dist = getattr(getattr(ep, "dist", None), "name", None) or "the package providing it"
        try:
            loaded = ep.load()
        except ImportError as exc:
            raise IntegrationError(
                f"integration {name!r} (entry point {ep.value!r} of {dist}) cannot be "
                f"imported: {exc}; check that {dist} and its dependencies are installed"
            ) from exc
        return _instantiate(loaded)
    raise IntegrationError(
        f"unknown integration {name!r}; known integrations: "
        f"{', '.join(known_integrations()) or '(none)'}")


def get_integration(name: str) -> Any:
    """The shared logger instance for ``name``; raises :class:`IntegrationError`."""
    inst = _instances.get(name)
    if inst is not None and not isinstance(inst, UnconfiguredIntegration):
        return inst
    replaced = False
    with _lock:
        inst = _instances.get(name)
        if inst is None or isinstance(inst, UnconfiguredIntegration):
            fresh = _build(name)  # a name without credentials is tried again each time
            if inst is None or not isinstance(fresh, UnconfiguredIntegration):
                replaced = inst is not None
                inst = _instances[name] = fresh
                if isinstance(fresh, UnconfiguredIntegration):
                    fresh.warn()
    if replaced:  # plans resolved the placeholder: they get the configured logger now
        from ..callbacks.plan import clear_cache

        clear_cache()
    return inst
