"""The settings one :class:`~llmrelay.Client` owns, and the view the module functions use.

Every setting belongs to a client: its callback lists, cache, retries, timeouts, callback
delivery limits, price overlay and transport. ``Client(callbacks=[...], ...)`` builds a
:class:`Settings`; the module functions (``llmrelay.completion`` ...) use a default client
whose :class:`ModuleSettings` reads the ``llmrelay.*`` module attributes at call time, so
``llmrelay.callbacks = [...]`` takes effect on the next call and nothing stays registered
behind the user's back.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SETTING_NAMES", "ModuleSettings", "Settings"]


@dataclass
class Settings:
    """One client's settings (every field but ``transport`` is also a ``llmrelay.<name>``
    module setting).

    ``callback_timeout``: seconds one observer hook may run. ``callback_queue_size``: events
    queued per logger before the oldest is dropped (and counted).
    ``callback_concurrency``: async hooks of one logger that may run at once.
    ``suppress_reentrant_callbacks``: a call made from inside a hook does not fire that
    hook's logger again (see :mod:`llmrelay.callbacks.reentry`). ``model_prices``: price
    rows (as for :func:`llmrelay.register_model`) this client uses before the global table.
    ``responses_store``: where the Responses API keeps the turns a
    ``previous_response_id`` refers to, for models served through chat (None: a bounded
    in-memory store shared by the process; see :mod:`llmrelay._responses_state`).
    ``num_retries_per_request``: a Router request makes no further attempt (retry or
    fallback) once it has failed this many times (at least once; None: no cap).
    ``model_alias_map``: model names a call may use for others (``{"gpt4": "openai/gpt-4o"}``:
    a call to ``gpt4`` is a call to ``openai/gpt-4o``), as LiteLLM's setting of that name.
    ``organization``: the OpenAI organization calls to OpenAI bill (sent as the
    ``OpenAI-Organization`` header; a call's ``organization=`` wins, then this, then the
    ``OPENAI_ORGANIZATION`` / ``OPENAI_ORG_ID`` environment variables).
    ``transport``: what sends HTTP requests (None: the pooled httpx/aiohttp transport).
    """

    callbacks: list[Any] = field(default_factory=list)
    input_callback: list[Any] = field(default_factory=list)
    success_callback: list[Any] = field(default_factory=list)
    failure_callback: list[Any] = field(default_factory=list)
    cache: Any = None
    num_retries: int | None = None
    num_retries_per_request: int | None = None
    request_timeout: float | None = None
    drop_params: bool = False
    turn_off_message_logging: bool = False
    api_key: str | None = None
    api_base: str | None = None
    retry_initial_delay: float = 0.5
    callback_timeout: float = 30.0
    callback_queue_size: int = 10000
    callback_concurrency: int = 100
    suppress_reentrant_callbacks: bool = True
    model_prices: dict[str, dict[str, Any]] | None = None
    responses_store: Any = None
    model_alias_map: dict[str, str] = field(default_factory=dict)
    organization: str | None = None
    transport: Any = None

    def callback_lists(self) -> tuple[Any, Any, Any, Any]:
        """``callbacks``, ``input_callback``, ``success_callback``, ``failure_callback``."""
        return (self.callbacks, self.input_callback, self.success_callback,
                self.failure_callback)

    def copy(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (lists are copied, not shared)."""
        out = dataclasses.replace(self, **changes)
        for name in ("callbacks", "input_callback", "success_callback", "failure_callback"):
            if name not in changes:
                setattr(out, name, list(getattr(out, name) or ()))
        return out


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))
_DEFAULTS = Settings()


_MODULES = sys.modules


def _module_property(name: str) -> property:
    default = getattr(_DEFAULTS, name)

    def get(self: ModuleSettings, _name: str = name, _default: Any = default) -> Any:
        return getattr(_MODULES[self._name], _name, _default)  # type: ignore[attr-defined]

    def set_(self: ModuleSettings, value: Any) -> None:
        setattr(self._module(), name, value)

    return property(get, set_, doc=f"``llmrelay.{name}``, read at call time.")


class ModuleSettings(Settings):
    """The ``llmrelay.*`` module attributes seen as a :class:`Settings` (read at call time,
    so a reassigned module setting takes effect on the next call; assigning an attribute
    here assigns the module setting)."""

    def __init__(self, module_name: str = "llmrelay") -> None:  # no dataclass fields here
        object.__setattr__(self, "_name", module_name)

    def _module(self) -> Any:
        return sys.modules[self._name]  # type: ignore[attr-defined]

    def callback_lists(self) -> tuple[Any, Any, Any, Any]:
        m = _MODULES[self._name]  # type: ignore[attr-defined]
        return (getattr(m, "callbacks", None), getattr(m, "input_callback", None),
                getattr(m, "success_callback", None), getattr(m, "failure_callback", None))

    def snapshot(self) -> Settings:
        """The module settings now, as a detached :class:`Settings`."""
        return Settings(**{n: getattr(self, n) for n in SETTING_NAMES}).copy()

    def copy(self, **changes: Any) -> Settings:
        return self.snapshot().copy(**changes)

    def __repr__(self) -> str:
        return f"ModuleSettings({self._name!r})"  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


for _name in SETTING_NAMES:
    if _name != "transport":  # ``llmrelay.transport`` is the transport module
        setattr(ModuleSettings, _name, _module_property(_name))
del _name
ModuleSettings.transport = property(  # type: ignore[assignment]  # the pooled default
    lambda self: None, doc="None: the default client always uses the pooled transport.")
