"""Background delivery of observer events: fan-out, isolation, flush.

The caller hands over a :class:`Job` with one ``deque.append`` (plus a wake-up of the
dispatcher loop when it is idle); everything else happens off the caller's path:

* the dispatcher thread expands the job into deliveries (the standard payload is built
  there, once, and shared by every target);
* each target (a logger instance or callback function) has its own bounded queue and its own
  runner thread, which delivers in order: sync hooks run on that thread, async hooks on the
  dispatcher's event loop (the runner waits for them). A slow or broken target therefore
  never delays another, and never the caller;
* a hook runs in a copy of the caller's ``contextvars`` context as it was when the call
  began (a job carries it), so context-based state such as the caller's current
  OpenTelemetry span or a request id is what the hook sees;
* every hook runs under a timeout (``llmrelay.callback_timeout``); a sync hook that overruns
  is abandoned to its thread and the target gets a fresh runner;
* overflow (``llmrelay.callback_queue_size``) drops the target's oldest event and counts it;
* :meth:`Dispatcher.flush` waits until nothing is outstanding; an exit handler flushes with
  a deadline (``llmrelay.callback_exit_timeout``) so no event is lost at normal exit; after
  ``os.fork()`` the child starts with a fresh, empty dispatcher.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import logging
import os
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
    """Work handed over by a caller; ``expand`` runs on the dispatcher thread and each of
    its deliveries in a copy of ``context`` (the caller's, when given)."""

    __slots__ = ("context", "expand", "remaining")

    def __init__(self, expand: Callable[[], list[Delivery]],
                 context: contextvars.Context | None = None) -> None:
        self.expand = expand
        self.context = context
        self.remaining = 0


def target_name(target: Any) -> str:
    if hasattr(target, "__qualname__") and callable(target):
        return str(target.__qualname__)
    return type(target).__name__


def _setting(name: str, default: float) -> float:
    module = sys.modules.get("llmrelay")
    value = getattr(module, name, None) if module is not None else None
    return float(value) if isinstance(value, (int, float)) else default


class _Target:
    """One logger: its queue, its runner thread and its statistics."""

    def __init__(self, owner: Dispatcher, key: Any, name: str) -> None:
        self.owner = owner
        self.key = key
        self.name = name
        self.pending: deque[tuple[Delivery, Job]] = deque()
        self.wake = threading.Condition(threading.Lock())
        self.thread: threading.Thread | None = None
        self.generation = 0
        self.busy_since: float | None = None
        self.current: tuple[Delivery, Job] | None = None
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

    # ---- called on the dispatcher thread -------------------------------------------------
    def put(self, delivery: Delivery, job: Job, limit: int) -> None:
        with self.wake:
            if len(self.pending) >= limit:
                _old, old_job = self.pending.popleft()
                self.dropped += 1
                self.owner._delivery_done(old_job)
            self.pending.append((delivery, job))
            if self.thread is not None:
                self.wake.notify()
                return
            started = self._spawn()
        if not started:
            self._deliver_here()

    def _spawn(self) -> bool:
        """Start a runner thread (with ``wake`` held); False when none can start."""
        self.generation += 1
        thread = threading.Thread(target=self._run, args=(self.generation,),
                                  name=f"llmrelay-cb-{self.name}", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # Python 3.12+ refuses new threads at interpreter shutdown
            self.thread = None
            return False
        self.thread = thread
        return True

    def _deliver_here(self) -> None:
        """No runner thread could start (the exit flush on Python 3.12+): deliver the
        queue here, on the dispatcher's loop thread; async hooks become tasks of the loop."""
        while True:
            with self.wake:
                if not self.pending or self.thread is not None:
                    return
                d, job = self.pending.popleft()
            if d.is_async:
                self._start_task(d, job)
            else:
                self._deliver(d, job)
                self.owner._delivery_done(job)

    def _start_task(self, d: Delivery, job: Job) -> None:
        timeout = _setting("callback_timeout", 30.0)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        def make() -> asyncio.Task[Any]:
            return loop.create_task(asyncio.wait_for(d.fn(*d.args), timeout))

        task = job.context.copy().run(make) if job.context is not None else make()

        def done(t: asyncio.Task[Any]) -> None:
            exc = asyncio.CancelledError() if t.cancelled() else t.exception()
            self._record(d, exc, started, timeout)
            self.owner._delivery_done(job)

        task.add_done_callback(done)

    def _call(self, d: Delivery, timeout: float) -> None:
        if d.is_async:
            loop = self.owner._loop
            if loop is None:
                raise RuntimeError("dispatcher loop is gone")
            # the task is created in the context current here, so it inherits the caller's
            fut = asyncio.run_coroutine_threadsafe(asyncio.wait_for(d.fn(*d.args), timeout),
                                                   loop)
            fut.result()
        else:
            d.fn(*d.args)

    def check_overrun(self, timeout: float) -> None:
        """Abandon a sync hook stuck past the timeout: count it, move on with a new thread."""
        with self.wake:
            since, current = self.busy_since, self.current
            if since is None or current is None or current[0].is_async:
                return  # async hooks time out by themselves (asyncio.wait_for)
            if time.monotonic() - since < timeout:
                return
            self.busy_since = None
            self.current = None
            self.timed_out += 1
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", self.name,
                        current[0].hook, timeout)
            self.owner._delivery_done(current[1])
            # the stuck thread sees a newer generation and exits when freed
            started = self._spawn()
        if not started:
            self._deliver_here()

    # ---- the runner thread ---------------------------------------------------------------
    def _run(self, generation: int) -> None:
        while True:
            with self.wake:
                while not self.pending:
                    if self.generation != generation:
                        return
                    self.wake.wait(5.0)
                if self.generation != generation:
                    return
                item = self.pending.popleft()
                self.current = item
                self.busy_since = time.monotonic()
            self._deliver(*item)
            with self.wake:
                if self.generation != generation or self.current is not item:
                    return  # abandoned by check_overrun; already counted
                self.current = None
                self.busy_since = None
            self.owner._delivery_done(item[1])

    def _deliver(self, d: Delivery, job: Job) -> None:
        timeout = _setting("callback_timeout", 30.0)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            if job.context is None:
                self._call(d, timeout)
            else:  # a copy per delivery: one context cannot be entered twice at once
                job.context.copy().run(self._call, d, timeout)
        except Exception as exc:
            error = exc
        self._record(d, error, started, timeout)

    def _record(self, d: Delivery, exc: BaseException | None, started: float,
                timeout: float) -> None:
        """Count one delivery's outcome and time; the first failure is logged in full."""
        spent = time.perf_counter() - started
        self.total_s += spent
        if spent > self.max_s:
            self.max_s = spent
        if exc is None:
            self.delivered += 1
        elif isinstance(exc, (asyncio.TimeoutError, concurrent.futures.TimeoutError)):
            self.timed_out += 1
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", self.name, d.hook,
                        timeout)
        else:
            self.failed += 1
            if not self.warned:
                self.warned = True
                log.error("llmrelay: callback %s.%s raised %s: %s (further failures of this "
                          "callback are counted in llmrelay.callback_stats())",
                          self.name, d.hook, type(exc).__name__, exc, exc_info=exc)


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
        self._watchdog: asyncio.TimerHandle | None = None

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

    def _in_delivery_thread(self) -> bool:
        me = threading.current_thread()
        if me is self._thread:
            return True
        return any(t.thread is me for t in list(self._targets.values()))

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every submitted event is delivered (or dropped/timed out).

        Returns False if ``timeout`` seconds passed first. Called from inside a hook it
        returns at once (waiting there would deadlock).
        """
        if self._thread is None:
            return self._outstanding == 0
        if self._in_delivery_thread():
            return self._outstanding == 0
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._outstanding > 0:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(min(left, 1.0) if left is not None else 1.0)
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
            loop.call_soon_threadsafe(self._check_overruns)
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

    def _check_overruns(self) -> None:
        timeout = _setting("callback_timeout", 30.0)
        for t in list(self._targets.values()):
            if t.busy_since is not None:
                t.check_overrun(timeout)
        if self._loop is not None:
            self._watchdog = self._loop.call_later(min(0.1, timeout / 4), self._check_overruns)

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
        limit = int(_setting("callback_queue_size", 10000))
        while inbox:
            self._expand(inbox.popleft(), limit)

    def _drain_inline(self) -> None:  # last resort when the loop is gone: deliver sync hooks
        self._wake_pending = False
        while self._inbox:
            job = self._inbox.popleft()
            try:
                for d in job.expand():
                    if not d.is_async:
                        if job.context is None:
                            d.fn(*d.args)
                        else:
                            job.context.copy().run(d.fn, *d.args)
            except Exception:
                log.debug("llmrelay: callback failed during shutdown", exc_info=True)
            self._job_done()

    def _expand(self, job: Job, limit: int) -> None:
        try:
            deliveries = job.expand()
        except Exception:
            log.exception("llmrelay: building a callback payload failed")
            deliveries = []
        if not deliveries:
            self._job_done()
            return
        job.remaining = len(deliveries)
        for d in deliveries:
            self._target(d.target).put(d, job, limit)

    def _target(self, key: Any) -> _Target:
        t = self._targets.get(id(key))
        if t is None or t.key is not key:
            name = target_name(key)
            n = self._names.get(name, 0) + 1
            self._names[name] = n
            t = _Target(self, key, name if n == 1 else f"{name}#{n}")
            self._targets[id(key)] = t
        return t

    def _delivery_done(self, job: Job) -> None:
        with self._cond:
            job.remaining -= 1
            if job.remaining > 0:
                return
            self._outstanding -= 1
            if self._outstanding <= 0:
                self._cond.notify_all()

    def _job_done(self) -> None:
        with self._cond:
            self._outstanding -= 1
            if self._outstanding <= 0:
                self._cond.notify_all()


dispatcher = Dispatcher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=dispatcher.after_fork_in_child)
