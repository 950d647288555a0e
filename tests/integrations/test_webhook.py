"""The HTTP batch logger (``webhook`` / ``generic_api``) against a server that fails on purpose."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from integration_helpers import finish, start_python

import llmrelay
from fakes.webhook_server import Scripted, WebhookServer
from llmrelay.integrations.batching import BatchSender, parse_header_list, parse_retry_after
from llmrelay.integrations.registry import IntegrationError, get_integration
from llmrelay.integrations.webhook import WebhookLogger

SECRET = "the secret prompt 7731"
MSGS = [{"role": "user", "content": SECRET}]


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer() as srv:
        yield srv


@pytest.fixture
def make_logger(server: WebhookServer) -> Iterator[Callable[..., WebhookLogger]]:
    made: list[WebhookLogger] = []

    def make(**kw: Any) -> WebhookLogger:
        kw.setdefault("backoff_base", 0.01)
        logger = WebhookLogger(kw.pop("url", server.url), **kw)
        made.append(logger)
        return logger

    yield make
    llmrelay.flush(5)
    for logger in made:
        logger.close(2)


def _call(n: int = 1, **kw: Any) -> list[str]:
    ids = []
    for i in range(n):
        r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                                mock_response=f"answer {i}", **kw)
        ids.append(r._hidden_params["litellm_call_id"])
    return ids


def _items(server: WebhookServer) -> list[dict[str, Any]]:
    return [item for batch in server.json_bodies() for item in batch]


def test_posts_standard_payloads_as_json_batches(server: WebhookServer,
                                                 make_logger: Callable[..., WebhookLogger]
                                                 ) -> None:
    logger = make_logger(headers={"X-Team-Token": "t0k"}, flush_interval=60)
    llmrelay.callbacks = [logger]
    ids = _call(3, metadata={"team": "blue"})
    assert llmrelay.flush(5) and logger.flush(5)
    reqs = server.received
    assert len(reqs) == 1  # one batch: nothing was due before the flush
    assert reqs[0].headers["x-team-token"] == "t0k"
    assert reqs[0].headers["content-type"] == "application/json"
    batch = reqs[0].json()
    assert isinstance(batch, list)
    assert [p["id"] for p in batch] == ids
    assert all(p["status"] == "success" and p["metadata"] == {"team": "blue"} for p in batch)
    assert batch[0]["response"]["choices"][0]["message"]["content"] == "answer 0"
    assert logger.stats()["sent_items"] == 3


def test_failures_are_posted_too(server: WebhookServer,
                                 make_logger: Callable[..., WebhookLogger]) -> None:
    logger = make_logger(flush_interval=60)
    llmrelay.callbacks = [logger]
    with pytest.raises(llmrelay.RateLimitError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                            mock_response=llmrelay.RateLimitError("slow down"))
    assert llmrelay.flush(5) and logger.flush(5)
    [item] = _items(server)
    assert item["status"] == "failure" and item["error_class"] == "RateLimitError"


def test_batches_by_size_then_by_age(server: WebhookServer,
                                     make_logger: Callable[..., WebhookLogger]) -> None:
    logger = make_logger(batch_size=2, flush_interval=0.2)
    llmrelay.callbacks = [logger]
    _call(5)
    assert llmrelay.flush(5)
    # Two full batches leave at once; the fifth item leaves when it is old enough, with no
    # flush() asking for it.
    reqs = server.wait_for(3)
    assert [len(r.json()) for r in reqs] == [2, 2, 1]


def test_retries_5xx_and_connection_errors_without_loss_or_duplicates(
        server: WebhookServer, make_logger: Callable[..., WebhookLogger]) -> None:
    server.enqueue(Scripted(500), Scripted(drop=True), Scripted(503), Scripted(200))
    logger = make_logger(flush_interval=60, backoff_base=0.02)
    llmrelay.callbacks = [logger]
    ids = _call(4)
    assert llmrelay.flush(5) and logger.flush(10)
    reqs = server.received
    assert [r.status for r in reqs] == [500, 0, 503, 200]
    # Every attempt carried the same batch and idempotency key; after the 200, nothing more.
    assert len({r.body for r in reqs}) == 1
    assert len({r.headers["idempotency-key"] for r in reqs}) == 1
    assert [p["id"] for p in _items(server)] == ids
    stats = logger.stats()
    assert stats["retries"] == 3 and stats["sent_items"] == 4 and stats["dropped"] == 0
    # Exponential backoff with jitter: each wait lies in [cap/2, cap], cap = base * 2**n.
    delays = list(logger.sender.retry_delays)
    for n, d in enumerate(delays):
        cap = 0.02 * 2 ** n
        assert cap / 2 <= d <= cap
    _call(1)  # later items go in a new batch; the delivered ones are not resent
    assert llmrelay.flush(5) and logger.flush(5)
    assert [p["id"] for p in _items(server)][:4] == ids and len(_items(server)) == 5


def test_honours_retry_after_on_429(server: WebhookServer,
                                    make_logger: Callable[..., WebhookLogger]) -> None:
    server.enqueue(Scripted(429, headers={"Retry-After": "1"}))
    logger = make_logger(flush_interval=60)
    llmrelay.callbacks = [logger]
    ids = _call(2)
    assert llmrelay.flush(5) and logger.flush(10)
    reqs = server.received
    assert [r.status for r in reqs] == [429, 200]
    assert logger.sender.retry_delays[0] >= 1.0  # not the 0.01 s backoff
    assert [p["id"] for p in _items(server)] == ids


def test_client_errors_drop_the_batch_without_retry(server: WebhookServer,
                                                    make_logger: Callable[..., WebhookLogger]
                                                    ) -> None:
    server.enqueue(Scripted(400, body=b'{"error":"bad"}'))
    logger = make_logger(flush_interval=60)
    llmrelay.callbacks = [logger]
    _call(2)
    assert llmrelay.flush(5) and logger.flush(5)
    assert len(server.received) == 1
    assert logger.stats()["failed"] == 2 and logger.stats()["retries"] == 0


def test_gives_up_after_max_retries_and_counts_the_loss(
        server: WebhookServer, make_logger: Callable[..., WebhookLogger]) -> None:
    server.default = Scripted(502)
    logger = make_logger(flush_interval=60, max_retries=2)
    llmrelay.callbacks = [logger]
    _call(3)
    assert llmrelay.flush(5) and logger.flush(5)
    assert len(server.received) == 3
    assert logger.stats()["dropped"] == 3 and logger.stats()["queued"] == 0


class _SmallBodies(WebhookServer):
    """Answers 413 to any batch of more than two items."""

    def handle(self, rec: Any) -> Scripted:
        if len(json.loads(rec.body)) > 2:
            return Scripted(413, b'{"error":"too large"}')
        return super().handle(rec)


def test_too_large_batches_are_split_not_lost() -> None:
    with _SmallBodies() as server:
        sender = BatchSender("test", server.url, batch_size=5, flush_interval=60,
                             backoff_base=0.01)
        try:
            for i in range(5):
                sender.add({"n": i})
            assert sender.flush(5)
            # 5 -> 2 + 3 -> 2 + (1 + 2)
            assert [r.status for r in server.received] == [413, 200, 413, 200, 200]
            delivered = [item["n"] for batch in server.json_bodies() for item in batch]
            assert delivered == [0, 1, 2, 3, 4]  # every item once, in order
            stats = sender.stats()
            assert stats["sent_items"] == 5 and stats["dropped"] == stats["failed"] == 0
        finally:
            sender.close(1)


def test_sender_thread_runs_before_the_first_item(server: WebhookServer) -> None:
    # Items may first arrive during interpreter exit, when Python 3.12 refuses new threads.
    sender = BatchSender("test", server.url, flush_interval=60)
    try:
        assert sender._thread is not None and sender._thread.is_alive()
    finally:
        sender.close(1)


def test_memory_is_bounded_and_drops_are_counted(server: WebhookServer) -> None:
    sender = BatchSender("test", server.url, batch_size=100, flush_interval=60, max_queue=3)
    try:
        for i in range(5):
            sender.add({"n": i})
        assert sender.stats()["dropped"] == 2 and sender.stats()["queued"] == 3
        assert sender.flush(5)
        assert server.json_bodies() == [[{"n": 2}, {"n": 3}, {"n": 4}]]  # the oldest went
    finally:
        sender.close(1)


async def test_async_calls(server: WebhookServer,
                           make_logger: Callable[..., WebhookLogger]) -> None:
    logger = make_logger(flush_interval=60)
    llmrelay.callbacks = [logger]
    rs = await asyncio.gather(*[
        llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS, mock_response="hi")
        for _ in range(3)])
    assert await llmrelay.aflush(5)
    assert await asyncio.to_thread(logger.flush, 5)
    assert sorted(p["id"] for p in _items(server)) == sorted(
        r._hidden_params["litellm_call_id"] for r in rs)


@pytest.mark.parametrize("how", ["global", "per_call", "per_logger"])
def test_redaction_holds(server: WebhookServer, make_logger: Callable[..., WebhookLogger],
                         how: str) -> None:
    logger = make_logger(flush_interval=60, turn_off_message_logging=how == "per_logger")
    llmrelay.callbacks = [logger]
    extra: dict[str, Any] = {}
    if how == "global":
        llmrelay.turn_off_message_logging = True
    elif how == "per_call":
        extra["turn_off_message_logging"] = True
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                            mock_response="the confidential answer 5521", **extra)
    assert r.choices[0].message.content == "the confidential answer 5521"  # caller unaffected
    assert llmrelay.flush(5) and logger.flush(5)
    raw = server.received[0].body.decode()
    assert SECRET not in raw and "confidential answer" not in raw
    assert json.loads(raw)[0]["id"] == r._hidden_params["litellm_call_id"]


def test_by_name_from_environment(server: WebhookServer, builtin: Callable[..., None],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("generic_api", "webhook")
    monkeypatch.setenv("GENERIC_LOGGER_ENDPOINT", server.url)
    monkeypatch.setenv("GENERIC_LOGGER_HEADERS", "Authorization=Bearer abc, X-Env = prod")
    llmrelay.success_callback = ["generic_api"]
    ids = _call(2)
    logger = get_integration("generic_api")
    assert isinstance(logger, WebhookLogger)
    assert llmrelay.flush(5) and logger.flush(5)
    assert [p["id"] for p in _items(server)] == ids
    headers = server.received[0].headers
    assert headers["authorization"] == "Bearer abc" and headers["x-env"] == "prod"


def test_missing_url_raises_at_registration(builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("webhook")
    monkeypatch.delenv("LLMRELAY_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("GENERIC_LOGGER_ENDPOINT", raising=False)
    with pytest.raises(IntegrationError, match="LLMRELAY_WEBHOOK_URL"):
        llmrelay.callbacks = ["webhook"]
    assert llmrelay.callbacks == []


def test_flushed_at_exit(server: WebhookServer) -> None:
    # The child never calls flush(): a long flush interval leaves everything queued at exit.
    proc = start_python(f"""
        import llmrelay
        from llmrelay.integrations.webhook import WebhookLogger
        llmrelay.callbacks = [WebhookLogger({server.url!r}, flush_interval=3600)]
        for i in range(3):
            llmrelay.completion(model="gpt-4o-mini", messages=[{{"role": "user",
                                "content": "hi"}}], mock_response="x", metadata={{"i": i}})
    """)
    finish(proc)
    assert sorted(p["metadata"]["i"] for p in _items(server)) == [0, 1, 2]


def test_header_and_retry_after_parsing() -> None:
    assert parse_header_list("a=1, b = two ,bad,,c=x=y") == {"a": "1", "b": "two", "c": "x=y"}
    assert parse_header_list(None) == {}
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("junk") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
