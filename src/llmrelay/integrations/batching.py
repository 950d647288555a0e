"""Background batch delivery over HTTP, shared by the webhook and Langfuse loggers.

A :class:`BatchSender` takes items with :meth:`~BatchSender.add` (a deque append and a
notify: safe to call from a callback hook) and POSTs them from its own daemon thread:

* a batch leaves when ``batch_size`` items are waiting or the oldest has waited
  ``flush_interval`` seconds, or at once while someone is in :meth:`~BatchSender.flush`;
* 429, 5xx and connection errors are retried with exponential backoff and jitter, honouring
  ``Retry-After``; every attempt of one batch sends the same body and ``Idempotency-Key``;
  a batch that got a 2xx is never sent again; a 413 (too large) splits the batch in halves
  that are sent one after the other; other 4xx replies drop the batch (counted);
* memory is bounded: past ``max_queue`` waiting items the oldest is dropped and counted;
* at interpreter exit, callback delivery is flushed first, then every sender, within
  ``llmrelay.callback_exit_timeout`` seconds; after ``os.fork()`` the child starts empty.
"""

from __future__ import annotations

import atexit
import email.utils
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from .custom_logger import CustomLogger

log = logging.getLogger("llmrelay")

__all__ = ["BatchSender", "json_array", "parse_header_list", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 425, 429})


def json_array(items: list[Any]) -> bytes:
    """The default body: the items as one JSON array."""
    return json.dumps(items, separators=(",", ":"), default=str).encode()


def parse_header_list(text: str | None) -> dict[str, str]:
    """``"k=v,k2=v2"`` (the ``GENERIC_LOGGER_HEADERS`` format) -> a dict; blanks skipped."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class BatchSender:
    """Batches items and POSTs them to ``url`` from a background thread.

    ``encode`` turns a list of items into the request body (default: a JSON array);
    ``on_success(response, batch)`` may inspect a 2xx reply (e.g. per-item errors).
    """

    def __init__(self, name: str, url: str, *, headers: dict[str, str] | None = None,
                 encode: Callable[[list[Any]], bytes] = json_array,
                 on_success: Callable[[httpx.Response, list[Any]], None] | None = None,
                 batch_size: int = 100, flush_interval: float = 1.0, max_queue: int = 10000,
                 max_retries: int = 5, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_retry_after: float = 60.0, timeout: float = 10.0) -> None:
        if batch_size < 1 or max_queue < 1:
            raise ValueError("batch_size and max_queue must be at least 1")
        self.name = name
        self.url = url
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.encode = encode
        self.on_success = on_success
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.retry_delays: deque[float] = deque(maxlen=100)  # the last waits chosen, for insight
        self._counts = {"sent_items": 0, "sent_batches": 0, "retries": 0, "dropped": 0,
                        "failed": 0}
        self._reset()
        _senders.add(self)
        # Start now: items may first arrive while the interpreter exits (the callback exit
        # flush), when Python 3.12 no longer lets a thread start.
        with self._cond:
            self._start()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, Any]] = deque()
        self._inflight = 0
        self._flushers = 0
        self._closed = False
        self._warned_drop = False
        self._warned_loss = False
        self._thread: threading.Thread | None = None

    # ---- caller side ---------------------------------------------------------------------
    def add(self, item: Any) -> None:
        """Queue one item; drops the oldest waiting item when the queue is full."""
        with self._cond:
            if self._closed:
                self._count("dropped", 1)
                return
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self._count("dropped", 1)
                if not self._warned_drop:
                    self._warned_drop = True
                    log.warning("llmrelay: %s logger queue is full (%d items): dropping the "
                                "oldest (counted in stats())", self.name, self.max_queue)
            self._queue.append((time.monotonic(), item))
            if self._thread is None:
                self._start()
            if len(self._queue) == 1 or len(self._queue) >= self.batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now and wait until nothing is queued or in flight (each
        batch delivered, or given up on after its retries: see :meth:`stats`). False if
        ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushers += 1
            self._cond.notify_all()
            try:
                while self._queue or self._inflight:
                    if self._thread is None or not self._thread.is_alive():
                        return False
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(0.5 if left is None else min(left, 0.5))
                return True
            finally:
                self._flushers -= 1

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush, then stop the thread; later items are dropped (counted)."""
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        return done

    def stats(self) -> dict[str, int]:
        """Counts: sent_items, sent_batches, retries, dropped, failed, queued."""
        with self._cond:
            return {**self._counts, "queued": len(self._queue) + self._inflight}

    def _count(self, key: str, n: int) -> None:
        self._counts[key] += n

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"llmrelay-{self.name}-sender",
                                        daemon=True)
        self._thread.start()

    # ---- sender thread -------------------------------------------------------------------
    def _next_batch(self) -> list[Any] | None:
        """Wait until a batch is due; None when closed with nothing left."""
        with self._cond:
            while True:
                n = len(self._queue)
                if n and (n >= self.batch_size or self._flushers or self._closed):
                    break
                if n:
                    due = self._queue[0][0] + self.flush_interval - time.monotonic()
                    if due <= 0:
                        break
                    self._cond.wait(due)
                elif self._closed:
                    return None
                else:
                    self._cond.wait()
            take = min(n, self.batch_size)
            batch = [self._queue.popleft()[1] for _ in range(take)]
            self._inflight = take
            return batch

    def _run(self) -> None:
        client = httpx.Client(timeout=self.timeout)
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                try:
                    self._deliver(client, batch)
                except Exception:  # never let the thread die: the batch is lost, counted
                    log.exception("llmrelay: %s logger failed to send a batch", self.name)
                    self._count("failed", len(batch))
                finally:
                    with self._cond:
                        self._inflight = 0
                        self._cond.notify_all()
        finally:
            client.close()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            wait = min(retry_after, self.max_retry_after)
            return wait + random.uniform(0.0, wait * 0.1)
        cap = min(self.backoff_max, self.backoff_base * (2.0 ** attempt))
        return cap / 2.0 + random.uniform(0.0, cap / 2.0)

    def _deliver(self, client: httpx.Client, batch: list[Any]) -> None:
        body = self.encode(batch)
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        reason = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                resp = client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    with self._cond:
                        self._count("sent_items", len(batch))
                        self._count("sent_batches", 1)
                    if self.on_success is not None:
                        self.on_success(resp, batch)
                    return
                if status == 413 and len(batch) > 1:  # too big for the server: halve it
                    half = len(batch) // 2
                    self._deliver(client, batch[:half])
                    self._deliver(client, batch[half:])
                    return
                if status not in RETRY_STATUSES and status < 500:
                    with self._cond:
                        self._count("failed", len(batch))
                        first = not self._warned_loss
                        self._warned_loss = True
                    (log.error if first else log.debug)(
                        "llmrelay: %s logger got HTTP %d from %s: %s; dropped %d item(s)",
                        self.name, status, self.url, resp.text[:300], len(batch))
                    return
                reason = f"HTTP {status}"
                retry_after = parse_retry_after(resp.headers.get("retry-after"))
            if attempt == self.max_retries:
                break
            delay = self._delay(attempt, retry_after)
            self.retry_delays.append(delay)
            with self._cond:
                self._count("retries", 1)
            time.sleep(delay)
        with self._cond:
            self._count("dropped", len(batch))
            first = not self._warned_loss
            self._warned_loss = True
        (log.error if first else log.debug)(
            "llmrelay: %s logger gave up on %d item(s) after %d attempts (%s)%s", self.name,
            len(batch), self.max_retries + 1, reason,
            "; further losses are counted in stats()" if first else "")


_senders: weakref.WeakSet[BatchSender] = weakref.WeakSet()


def _exit_timeout() -> float:
    module = sys.modules.get("llmrelay")
    value = getattr(module, "callback_exit_timeout", None) if module is not None else None
    return float(value) if isinstance(value, (int, float)) else 10.0


def _flush_all_at_exit() -> None:
    """Deliver pending callback events, then drain every sender, within one deadline."""
    live = [s for s in list(_senders) if s.stats()["queued"]]
    if not live and not _senders:
        return
    deadline = time.monotonic() + _exit_timeout()
    from ..callbacks.dispatcher import dispatcher

    dispatcher.flush(max(0.0, deadline - time.monotonic()))
    for sender in list(_senders):
        if sender.stats()["queued"] and not sender.flush(max(0.0, deadline - time.monotonic())):
            log.warning("llmrelay: %s logger still had %d item(s) unsent at exit", sender.name,
                        sender.stats()["queued"])


def _after_fork_in_child() -> None:
    for sender in list(_senders):
        sender._reset()  # the parent's items are the parent's to send


atexit.register(_flush_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class BatchingLogger(CustomLogger):
    """A logger whose events are standard payloads queued on a :class:`BatchSender`.

    Subclasses set ``self.sender``. The async hooks receive both sync and async calls'
    events (bridged by the dispatcher); queueing costs a deque append, and the HTTP work
    happens on the sender's own thread.
    """

    sender: BatchSender

    def _add(self, kwargs: Any) -> None:
        payload = kwargs.get("standard_logging_object") if isinstance(kwargs, dict) else None
        if payload is not None:
            self.sender.add(payload)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._add(kwargs)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._add(kwargs)

    def flush(self, timeout: float | None = None) -> bool:
        """Send queued payloads now; False if ``timeout`` passed first. Call
        ``llmrelay.flush()`` before it so that every finished call has been queued."""
        return self.sender.flush(timeout)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush and stop the sender thread."""
        return self.sender.close(timeout)

    def stats(self) -> dict[str, int]:
        return self.sender.stats()
