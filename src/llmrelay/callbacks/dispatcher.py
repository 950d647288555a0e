"""Background delivery of observer events: fan-out, isolation, flush.

The caller hands over a :class:`Job` with one ``deque.append`` (plus a wake-up of the
dispatcher loop when it is idle); everything else happens on the dispatcher's own thread:

* the job is expanded into deliveries (the standard payload is built there, once, shared);
* each target (a logger instance or callback function) has its own bounded queue, drained
  in order by its own task, so a slow or broken target never delays another;
* async hooks run on the dispatcher's event loop, sync hooks on the target's own worker
  thread; both under a per-hook timeout;
* overflow drops the target's oldest event and counts it;
* :meth:`Dispatcher.flush` waits until nothing is outstanding; an exit handler flushes with
  a deadline so that no event is lost at normal interpreter exit; after ``os.fork()`` the
  child starts with a fresh, empty dispatcher.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("llmrelay")

__all__ = ["Delivery", "Dispatcher", "Job", "dispatcher"]


class Delivery:
    """One hook call for one target."""

    __slots__ = ("args", "fn", "hook", "is_async", "target")

    def __init__(self, target: Any, hook: str, fn: Callable[..., Any], args: tuple[Any, ...],
                 is_async: bool) -> None:
        self.target = target
        self.hook = hook
        self.fn = fn
        self.args = args
        self.is_async = is_async


class Job:
    """Work handed over by a caller; ``expand`` runs on the dispatcher thread."""

    __slots__ = ("expand", "remaining")

    def __init__(self, expand: Callable[[], list[Delivery]]) -> None:
        self.expand = expand
        self.remaining = 0


class _SyncRunner:
    """A daemon thread running one target's sync hooks, one at a time, in order."""

    def __init__(self, name: str) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"llmrelay-cb-{name}", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._q.put((fut, fn, args))
        return fut

    def stop(self) -> None:
        self._q.put(None)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # delivered to the waiting task, never re-raised here
                fut.set_exception(exc)


class _Target:
    __slots__ = ("delivered", "dropped", "failed", "key", "max_s", "name", "pending", "pumping",
                 "runner", "task", "timed_out", "total_s", "warned")

    def __init__(self, key: Any, name: str) -> None:
        self.key = key
        self.name = name
        self.pending: deque[tuple[Delivery, Job]] = deque()
        self.pumping = False
        self.runner: _SyncRunner | None = None
        self.task: asyncio.Future[None] | None = None
        self.delivered = self.failed = self.dropped = self.timed_out = 0
        self.total_s = self.max_s = 0.0
        self.warned = False

    def stats(self) -> dict[str, Any]:
        done = self.delivered + self.failed + self.timed_out
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "timed_out": self.timed_out,
            "queued": len(self.pending),
            "mean_ms": (self.total_s / done * 1000.0) if done else 0.0,
            "max_ms": self.max_s * 1000.0,
        }


def target_name(target: Any) -> str:
    if hasattr(target, "__qualname__") and callable(target):
        return str(target.__qualname__)
    return type(target).__name__


def _setting(name: str, default: float) -> float:
    module = sys.modules.get("llmrelay")
    value = getattr(module, name, None) if module is not None else None
    return float(value) if isinstance(value, (int, float)) else default


class Dispatcher:
    """Owns the background loop thread and every target's queue."""

    def __init__(self) -> None:
        self._reset()
        self._exit_registered = False

    def _reset(self) -> None:
        self._start_lock = threading.Lock()
        self._cond = threading.Condition()
        self._outstanding = 0
        self._inbox: deque[Job] = deque()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._targets: dict[int, _Target] = {}
        self._names: dict[str, int] = {}

    # ---- caller side ---------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Hand a job over; O(1) on the caller's path."""
        loop = self._loop
        if loop is None:
            loop = self._start()
        with self._cond:
            self._outstanding += 1
        self._inbox.append(job)
        if not self._wake_pending:
            self._wake_pending = True
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed during interpreter shutdown
                self._drain_inline()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every submitted event is delivered (or dropped/timed out).

        Returns False if ``timeout`` seconds passed first. Calling it from inside a hook
        returns at once (waiting there would deadlock).
        """
        if self._thread is None or threading.current_thread() is self._thread:
            return self._outstanding == 0
        if any(t.runner is not None and threading.current_thread() is t.runner._thread
               for t in list(self._targets.values())):
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._outstanding > 0:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 1.0)
        return True

    async def aflush(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`flush`; waits without blocking the caller's loop."""
        if self._thread is None:
            return True
        return await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {t.name: t.stats() for t in list(self._targets.values())}

    @property
    def outstanding(self) -> int:
        return self._outstanding

    # ---- lifecycle -----------------------------------------------------------------------
    def _start(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._run_loop, args=(loop,),
                                      name="llmrelay-dispatcher", daemon=True)
            self._thread = thread
            self._loop = loop
            thread.start()
            if not self._exit_registered:
                self._exit_registered = True
                atexit.register(self._at_exit)
                # Runs before concurrent.futures shuts its executors down, so hooks that use
                # run_in_executor still work while we flush.
                reg = getattr(threading, "_register_atexit", None)
                if reg is not None:
                    try:
                        reg(self._at_exit)
                    except RuntimeError:
                        pass
            return loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _at_exit(self) -> None:
        if self._thread is None or self._outstanding == 0:
            return
        deadline = _setting("callback_exit_timeout", 10.0)
        if not self.flush(deadline):
            log.warning("llmrelay: %d callback event(s) were still undelivered after the %.1fs "
                        "exit deadline", self._outstanding, deadline)

    def after_fork_in_child(self) -> None:
        """The child process starts with no thread and no inherited events."""
        self._reset()

    # ---- dispatcher thread ---------------------------------------------------------------
    def _drain(self) -> None:
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            self._expand(inbox.popleft())

    def _drain_inline(self) -> None:  # last resort when the loop is gone: deliver sync hooks
        self._wake_pending = False
        while self._inbox:
            job = self._inbox.popleft()
            try:
                for d in job.expand():
                    if not d.is_async:
                        d.fn(*d.args)
            except Exception:
                log.debug("llmrelay: callback failed during shutdown", exc_info=True)
            self._job_done()

    def _expand(self, job: Job) -> None:
        try:
            deliveries = job.expand()
        except Exception:
            log.exception("llmrelay: building a callback payload failed")
            deliveries = []
        if not deliveries:
            self._job_done()
            return
        job.remaining = len(deliveries)
        limit = int(_setting("callback_queue_size", 10000))
        for d in deliveries:
            target = self._target(d.target)
            if len(target.pending) >= limit:
                _old, old_job = target.pending.popleft()
                target.dropped += 1
                self._delivery_done(old_job)
            target.pending.append((d, job))
            if not target.pumping:
                target.pumping = True
                target.task = asyncio.ensure_future(self._pump(target), loop=self._loop)

    def _target(self, key: Any) -> _Target:
        t = self._targets.get(id(key))
        if t is None or t.key is not key:
            name = target_name(key)
            n = self._names.get(name, 0) + 1
            self._names[name] = n
            t = _Target(key, name if n == 1 else f"{name}#{n}")
            self._targets[id(key)] = t
        return t

    async def _pump(self, target: _Target) -> None:
        try:
            while target.pending:
                delivery, job = target.pending.popleft()
                await self._deliver(target, delivery)
                self._delivery_done(job)
        finally:
            target.pumping = False

    async def _deliver(self, target: _Target, d: Delivery) -> None:
        timeout = _setting("callback_timeout", 30.0)
        started = time.perf_counter()
        try:
            if d.is_async:
                await asyncio.wait_for(d.fn(*d.args), timeout)
            else:
                if target.runner is None:
                    target.runner = _SyncRunner(target.name)
                fut = target.runner.submit(d.fn, d.args)
                await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            target.timed_out += 1
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", target.name, d.hook,
                        timeout)
            if not d.is_async and target.runner is not None:
                target.runner.stop()  # the stuck thread exits when its call returns
                target.runner = None
        except Exception as exc:
            target.failed += 1
            if not target.warned:
                target.warned = True
                log.error("llmrelay: callback %s.%s raised %s: %s (further failures of this "
                          "callback are counted in llmrelay.callback_stats())",
                          target.name, d.hook, type(exc).__name__, exc, exc_info=exc)
        else:
            target.delivered += 1
        finally:
            spent = time.perf_counter() - started
            target.total_s += spent
            if spent > target.max_s:
                target.max_s = spent

    def _delivery_done(self, job: Job) -> None:
        job.remaining -= 1
        if job.remaining <= 0:
            self._job_done()

    def _job_done(self) -> None:
        with self._cond:
            self._outstanding -= 1
            if self._outstanding <= 0:
                self._cond.notify_all()


dispatcher = Dispatcher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=dispatcher.after_fork_in_child)
