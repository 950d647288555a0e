"""Fixtures for proxy tests (helpers in proxy_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
               ) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


def _reset(fake: Any) -> None:
    fake.reset()
    fake.default_content = "Hello from fake"
    fake.default_usage = {"prompt_tokens": 10, "completion_tokens": 5}
    fake.default_chunk_delay = 0.0
    fake.default_delay = 0.0
    fake.tool_call = None


@pytest.fixture
def fresh_fake(fake_server: Any) -> Iterator[Any]:
    """The session's fake upstream with its defaults back (tests change them)."""
    _reset(fake_server)
    yield fake_server
    _reset(fake_server)
