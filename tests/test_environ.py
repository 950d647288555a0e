"""llmrelay._environ.getenv: the call path's environment reads follow os.environ live."""

from __future__ import annotations

import os

import pytest

import llmrelay
from llmrelay._environ import getenv

NAME = "LLMRELAY_TEST_ENVIRON_PROBE"


def test_getenv_sees_every_change_to_os_environ_at_once() -> None:
    assert getenv(NAME) is None
    os.environ[NAME] = "one"
    try:
        assert getenv(NAME) == "one"
        os.environ[NAME] = "twö"  # non-ASCII values decode as os.environ does
        assert getenv(NAME) == "twö"
    finally:
        del os.environ[NAME]
    assert getenv(NAME) is None


def test_getenv_follows_monkeypatch_and_a_replaced_os_environ(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "patched")
    assert getenv(NAME) == "patched"
    monkeypatch.delenv(NAME)
    assert getenv(NAME) is None
    monkeypatch.setattr(os, "environ", {NAME: "replaced"})
    assert getenv(NAME) == "replaced"


def test_a_base_url_set_in_the_environment_between_calls_is_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from llmrelay.providers.registry import resolve_model

    spec, _ = resolve_model("openai/gpt-4o-mini", None)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    assert spec.env_base() is None
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
    assert spec.env_base() == "http://127.0.0.1:9/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-between-calls")
    assert spec.env_key() == "sk-from-env-between-calls"
    assert llmrelay.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                               mock_response="ok").choices[0].message.content == "ok"
