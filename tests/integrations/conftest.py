"""Fixtures for the integration tests: built-in names registered for the test only."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import llmrelay
from llmrelay.callbacks import plan as _plan
from llmrelay.integrations import registry

# The rows the lead adds to registry.BUILTIN; registered here per test until they land.
ROWS: dict[str, tuple[str, str | None]] = {
    "otel": ("llmrelay.integrations.otel:OTelLogger", "otel"),
    "prometheus": ("llmrelay.integrations.prometheus:PrometheusLogger", "prometheus"),
    "webhook": ("llmrelay.integrations.webhook:WebhookLogger", None),
    "generic_api": ("llmrelay.integrations.webhook:WebhookLogger", None),
    "jsonl": ("llmrelay.integrations.jsonl:JsonlLogger", None),
    "langfuse": ("llmrelay.integrations.langfuse:LangfuseLogger", None),
}


def _forget(name: str) -> None:
    inst = registry._instances.pop(name, None)
    close = getattr(inst, "close", None)
    if callable(close):
        close(2.0)
    # Cached plans keyed by the name hold the old instance: drop them too.
    _plan.clear_cache()


@pytest.fixture
def builtin() -> Iterator[Callable[..., None]]:
    """``builtin("otel", "webhook")`` registers those names for this test only."""
    added: list[str] = []

    def register(*names: str) -> None:
        for name in names:
            saved = registry.BUILTIN.get(name)
            if saved is not None and saved != ROWS[name]:
                raise AssertionError(f"BUILTIN[{name!r}] is {saved}, expected {ROWS[name]}")
            if saved is None:  # not (yet) a lead-owned row: ours to remove afterwards
                registry.BUILTIN[name] = ROWS[name]
                added.append(name)
            _forget(name)

    yield register
    llmrelay.flush(10)
    for lst in ("callbacks", "input_callback", "success_callback", "failure_callback"):
        setattr(llmrelay, lst, [])
    for name in ROWS:
        _forget(name)
    for name in added:
        registry.BUILTIN.pop(name, None)

