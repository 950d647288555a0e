"""Shared fixtures: the fake OpenAI upstream and a clean llmrelay state per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI

_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback")


def pytest_configure(config: pytest.Config) -> None:
    # Provider keys from the developer's shell must never leak into tests.
    for var in list(os.environ):
        if var.endswith(("_API_KEY", "_API_BASE", "_BASE_URL")):
            os.environ.pop(var, None)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_server.reset()
    fake_server.tool_call = None
    yield fake_server
    fake_server.reset()


@pytest.fixture
def openai_args(fake: FakeOpenAI) -> dict[str, str]:
    """Keyword arguments that point an openai/... call at the fake upstream."""
    return {"api_base": fake.url, "api_key": "sk-test-0123456789abcdef"}


@pytest.fixture(autouse=True)
def clean_llmrelay() -> Iterator[None]:
    llmrelay.retry_initial_delay = 0.01
    yield
    llmrelay.flush(timeout=10)
    for name in _LISTS:
        setattr(llmrelay, name, [])
    llmrelay.cache = None
    llmrelay.num_retries = None
    llmrelay.drop_params = False
    llmrelay.turn_off_message_logging = False
    llmrelay.callback_timeout = 30.0
    llmrelay.callback_queue_size = 10000
