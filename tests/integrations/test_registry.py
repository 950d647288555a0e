"""Integrations by name: third-party ones through the ``llmrelay.integrations`` entry points."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmrelay
from llmrelay.callbacks import plan as _plan
from llmrelay.integrations import registry
from llmrelay.integrations.registry import IntegrationError, get_integration, known_integrations

PLUGIN = """
    from llmrelay.integrations.custom_logger import CustomLogger

    seen = []

    class Plug(CustomLogger):
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            seen.append(kwargs["litellm_call_id"])

    def make_tuned():
        return Plug(turn_off_message_logging=True)
"""


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed-looking distribution ``relay-plug`` declaring three entry points."""
    (tmp_path / "relayplug.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "relay_plug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: relay-plug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[llmrelay.integrations]\n"
        "plug = relayplug:Plug\n"
        "plug_tuned = relayplug:make_tuned\n"
        "plug_broken = relayplug_missing_module:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("plug", "plug_tuned", "plug_broken"):
        registry._instances.pop(name, None)
    _plan._cache.clear()
    sys.modules.pop("relayplug", None)


def test_entry_point_integrations_are_found_by_name(plugin_dist: Path) -> None:
    assert {"plug", "plug_tuned", "plug_broken"} <= set(known_integrations())
    llmrelay.callbacks = ["plug"]
    r = llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                            mock_response="ok")
    assert llmrelay.flush(5)
    plug = get_integration("plug")
    assert type(plug).__name__ == "Plug"
    assert sys.modules["relayplug"].seen == [r._hidden_params["litellm_call_id"]]
    # A factory entry point is called; the instance is shared by every use of the name.
    tuned = get_integration("plug_tuned")
    assert tuned.turn_off_message_logging is True and get_integration("plug_tuned") is tuned


def test_broken_entry_point_names_its_distribution(plugin_dist: Path) -> None:
    with pytest.raises(IntegrationError, match=r"'plug_broken'.*relay-plug") as info:
        llmrelay.callbacks = ["plug_broken"]
    assert "relayplug_missing_module" in str(info.value)
    assert llmrelay.callbacks == []


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(IntegrationError, match="unknown integration 'nope'") as info:
        llmrelay.success_callback = ["nope"]
    for name in ("otel", "prometheus", "webhook", "generic_api", "jsonl", "langfuse"):
        assert name in str(info.value)
    assert llmrelay.success_callback == []
