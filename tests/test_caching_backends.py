"""Backends that misbehave without raising: the call still goes upstream and the fault is
counted (a wrong-sized answer) or the entry is treated as corrupt and replaced."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import llmrelay
from fakes.openai_server import FakeOpenAI
from llmrelay.caching import Cache
from llmrelay.caching.memory import MemoryBackend

MSGS = [{"role": "user", "content": "odd backends"}]


class ShortAnswers(MemoryBackend):
    """While ``short``, answers every read with one value too few."""

    short = True

    def get_many(self, keys: list[str]) -> list[str | None]:
        found = super().get_many(keys)
        return found[1:] if self.short else found


class NonText(MemoryBackend):
    """Hands back what it stores wrapped in a list, as a confused custom backend might."""

    def get_many(self, keys: list[str]) -> list[Any]:
        return [None if v is None else [v] for v in super().get_many(keys)]


def test_wrong_sized_read_is_a_fault_not_a_failure(fake: FakeOpenAI,
                                                   openai_args: dict[str, str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    backend = ShortAnswers()
    cache = Cache(backend=backend, retry_after=0)
    client = llmrelay.Client(cache=cache)

    def warnings() -> int:
        return len([r for r in caplog.records if "failed to read" in r.getMessage()])

    with caplog.at_level(logging.INFO, logger="llmrelay"):
        for _ in range(2):
            r = client.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
            assert r.choices[0].message.content == "Hello from fake"
        e = client.embedding(model="text-embedding-3-small", input=["a", "b"], **openai_args)
        assert len(e.data) == 2
        assert len(fake.requests) == 3
        assert cache.stats()["errors"] == 3 and cache.stats()["hits"] == 0
        assert warnings() == 1  # writes worked meanwhile, but reads never did: one outage
        backend.short = False
        r = client.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        assert r._hidden_params["cache_hit"] is True
        assert any("works again" in r.getMessage() for r in caplog.records)
        backend.short = True
        client.completion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        assert warnings() == 2  # a new outage is reported again


async def test_non_text_values_are_corrupt_and_replaced(fake: FakeOpenAI,
                                                        openai_args: dict[str, str]) -> None:
    backend = NonText()
    cache = Cache(backend=backend)
    client = llmrelay.Client(cache=cache)
    for _ in range(2):
        r = await client.acompletion(model="gpt-4o-mini", messages=MSGS, **openai_args)
        assert r._hidden_params["cache_hit"] is False
    assert len(fake.requests) == 2
    assert cache.stats()["corrupt"] == 1 and cache.stats()["errors"] == 0
    assert cache.stats()["writes"] == 2  # the unreadable entry was written over
    assert len(backend) == 1
