"""Background delivery of observer events: a fixed pool of runner threads and one event loop.

The caller hands over a :class:`Job` with one ``deque.append`` (the dispatcher's loop is
woken only when it is not already awake, and it stays awake for a moment after each
burst, so a caller in a tight loop rarely pays for a wake-up). Everything else happens
off the caller's path:

* the loop thread expands the job into deliveries, one per target (a logger instance or a
  callback function); the standard payload is built lazily, once per event, by whichever
  hook reads it first, and shared;
* each target has one ordered, bounded queue (``callback_queue_size`` of the calling
  client; overflow drops the oldest event and counts it). Targets are held only while
  they have work: an idle target is forgotten, so per-call callbacks leave nothing behind;
  statistics are kept per target name;
* sync hooks run on a fixed pool of runner threads (``llmrelay.callback_workers``, started
  on demand), one hook of a target at a time, in order; async hooks run on the loop, in
  order of start, up to ``callback_concurrency`` at once per target, so one slow hook
  cannot hold back the others (nor the exit flush);
* every hook runs in a copy of the caller's ``contextvars`` context as it was when the call
  began, marked as a hook of its target (see :mod:`.reentry`), and under the calling
  client's ``callback_timeout``; a sync hook that overruns is abandoned to its thread (a
  fresh runner takes its place) and counted, an async one is cancelled and counted;
* :meth:`Dispatcher.flush` waits until nothing is outstanding; one exit handler flushes
  with a deadline (``llmrelay.callback_exit_timeout``) so no event is lost at normal exit;
  after ``os.fork()`` the child starts with a fresh, empty dispatcher.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import inspect
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import reentry

log = logging.getLogger("llmrelay")

__all__ = ["Delivery", "Dispatcher", "Job", "dispatcher", "target_name"]

_LINGER = 0.002  # seconds the loop stays awake after a burst, so callers need not wake it
_DEFAULTS = {"callback_timeout": 30.0, "callback_queue_size": 10000,
             "callback_concurrency": 100, "callback_workers": 8,
             "callback_exit_timeout": 10.0}


class Delivery:
    """One hook call for one target."""

    __slots__ = ("args", "fn", "hook", "is_async", "job", "target")

    def __init__(self, target: Any, hook: str, fn: Callable[..., Any], args: tuple[Any, ...],
                 is_async: bool) -> None:
        self.target = target
        self.hook = hook
        self.fn = fn
        self.args = args
        self.is_async = is_async
        self.job: Job | None = None


class Job:
    """Work handed over by a caller: ``expand`` runs on the dispatcher's loop and returns
    the deliveries; each runs in a copy of ``context`` (the caller's, when given) with the
    delivery limits of ``settings`` (the calling client's; None: the module settings)."""

    __slots__ = ("context", "expand", "settings")

    def __init__(self, expand: Callable[[], list[Delivery]],
                 context: contextvars.Context | None = None, settings: Any = None) -> None:
        self.expand = expand
        self.context = context
        self.settings = settings


def target_name(target: Any) -> str:
    if hasattr(target, "__qualname__") and callable(target):
        return str(target.__qualname__)
    return type(target).__name__


def _opt(settings: Any, name: str) -> float:
    source = settings if settings is not None else sys.modules.get("llmrelay")
    value = getattr(source, name, None)
    return float(value) if isinstance(value, (int, float)) else float(_DEFAULTS[name])


def _limit(d: Delivery, name: str) -> float:
    return _opt(d.job.settings if d.job is not None else None, name)


class _Stats:
    """Counts and timings of every target of one name."""

    __slots__ = ("delivered", "dropped", "failed", "max_s", "queued", "timed_out", "total_s",
                 "warned")

    def __init__(self) -> None:
        self.delivered = self.failed = self.dropped = self.timed_out = self.queued = 0
        self.total_s = self.max_s = 0.0
        self.warned = False

    def as_dict(self) -> dict[str, Any]:
        done = self.delivered + self.failed + self.timed_out
        return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped,
                "timed_out": self.timed_out, "queued": self.queued,
                "mean_ms": (self.total_s / done * 1000.0) if done else 0.0,
                "max_ms": self.max_s * 1000.0}


class _Target:
    """One target with work: its ordered queue and what of it is running."""

    __slots__ = ("async_active", "key", "name", "pending", "stats", "sync_busy")

    def __init__(self, key: int, name: str, stats: _Stats) -> None:
        self.key = key
        self.name = name
        self.stats = stats
        self.pending: deque[Delivery] = deque()
        self.sync_busy = False  # a runner owns the target's sync deliveries
        self.async_active = 0


class _Runner:
    """A runner thread of the pool (or the loop thread standing in for one)."""

    __slots__ = ("abandoned", "current", "since", "target", "thread")

    def __init__(self) -> None:
        self.abandoned = False
        self.current: Delivery | None = None
        self.target: _Target | None = None
        self.since = 0.0
        self.thread: threading.Thread | None = None


def _run_sync(d: Delivery) -> None:
    reentry.mark(d.target)  # inside a context copy: the mark ends with the delivery
    d.fn(*d.args)


class Dispatcher:
    """Owns the loop thread, the runner pool and every target's queue."""

    def __init__(self) -> None:
        self._reset()
        self._exit_registered = False

    def _reset(self) -> None:
        self._start_lock = threading.Lock()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # flush waits on it
        self._work = threading.Condition(self._lock)  # idle runners wait on it
        self._outstanding = 0
        self._inbox: deque[Job] = deque()
        self._awake = False
        self._linger: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._targets: dict[int, _Target] = {}
        self._stats: dict[str, _Stats] = {}
        self._ready: deque[_Target] = deque()
        self._runners: set[_Runner] = set()
        self._idle_runners = 0
        self._delivery_threads: set[int] = set()
        self._exit_done = False

    # ---- caller side ---------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Hand a job over; O(1) and lock-free on the caller's path (a job waiting in the
        inbox counts as outstanding by being there)."""
        loop = self._loop
        if loop is None:
            loop = self._start()
        self._inbox.append(job)
        if not self._awake:
            self._awake = True
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed during interpreter shutdown
                self._drain_inline()

    def _in_delivery_thread(self) -> bool:
        return threading.get_ident() in self._delivery_threads

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every submitted event is delivered (or dropped/timed out).

        Returns False if ``timeout`` seconds passed first. Called from inside a hook it
        returns at once (waiting there could deadlock)."""
        if self._thread is None or self._in_delivery_thread():
            return self.outstanding == 0
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._outstanding > 0 or self._inbox:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(min(left, 1.0) if left is not None else 1.0)
        return True

    async def aflush(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`flush`; waits without blocking the caller's loop."""
        if self._thread is None:
            return True
        return await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: s.as_dict() for name, s in self._stats.items()}

    @property
    def outstanding(self) -> int:
        """Events handed over and not yet delivered (or dropped, or timed out)."""
        return self._outstanding + len(self._inbox)

    def threads(self) -> int:
        """Live threads of the dispatcher (its loop and its runners)."""
        return (self._thread is not None) + len(self._runners)

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
            loop.call_soon_threadsafe(self._watchdog)
            self._register_exit()
            return loop

    def _register_exit(self) -> None:
        """One exit handler: with threading's (it runs before ``concurrent.futures`` shuts
        its executors down, so hooks using ``run_in_executor`` still work while we flush),
        else with ``atexit``."""
        if self._exit_registered:
            return
        self._exit_registered = True
        reg = getattr(threading, "_register_atexit", None)
        if reg is not None:
            try:
                reg(self._at_exit)
                return
            except RuntimeError:  # interpreter already shutting down
                pass
        atexit.register(self._at_exit)

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._delivery_threads.add(threading.get_ident())
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _at_exit(self) -> None:
        if self._exit_done:
            return
        self._exit_done = True
        if self._thread is None or self.outstanding == 0:
            return
        deadline = _opt(None, "callback_exit_timeout")
        if not self.flush(deadline):
            log.warning("llmrelay: %d callback event(s) were still undelivered after the %.1fs "
                        "exit deadline", self.outstanding, deadline)

    def after_fork_in_child(self) -> None:
        """The child process starts with no thread and no inherited events."""
        registered = self._exit_registered
        self._reset()
        self._exit_registered = registered

    # ---- the loop: expanding jobs ------------------------------------------------------
    def _drain(self) -> None:
        inbox = self._inbox
        while inbox:
            with self._lock:  # counted before they leave the inbox, so flush never misses one
                jobs = [inbox.popleft() for _ in range(len(inbox))]
                self._outstanding += len(jobs)
            self._expand(jobs)
        if self._linger is None and self._loop is not None:
            self._linger = self._loop.call_later(_LINGER, self._settle)

    def _settle(self) -> None:
        self._linger = None
        if self._inbox:
            self._drain()
            return
        self._awake = False
        if self._inbox:  # a job arrived before the flag dropped: its caller did not wake us
            self._awake = True
            self._drain()

    def _drain_inline(self) -> None:  # last resort when the loop is gone: deliver sync hooks
        self._awake = False
        while self._inbox:
            with self._lock:
                job = self._inbox.popleft()
                self._outstanding += 1
            try:
                deliveries = job.expand()
            except Exception:
                deliveries = []
            for d in deliveries:
                if not d.is_async:
                    try:
                        (job.context or contextvars.copy_context()).copy().run(_run_sync, d)
                    except Exception:
                        log.debug("llmrelay: callback failed during shutdown", exc_info=True)

    def _expand(self, jobs: list[Job]) -> None:
        """Turn jobs into queued deliveries (one lock for the whole batch), then start
        what may start."""
        batch: list[tuple[Job, list[Delivery]]] = []
        for job in jobs:
            try:
                batch.append((job, job.expand()))
            except Exception:
                log.exception("llmrelay: building a callback event failed")
                batch.append((job, []))
        touched: dict[int, _Target] = {}
        limits: dict[int, int] = {}  # per settings object, read once per batch
        with self._lock:
            for job, deliveries in batch:
                self._outstanding += len(deliveries)
                limit = limits.get(id(job.settings))
                if limit is None:
                    limit = limits[id(job.settings)] = max(
                        1, int(_opt(job.settings, "callback_queue_size")))
                for d in deliveries:
                    d.job = job
                    t = self._target_locked(d.target)
                    while len(t.pending) >= limit:
                        t.pending.popleft()
                        t.stats.dropped += 1
                        t.stats.queued -= 1
                        self._outstanding -= 1
                    t.pending.append(d)
                    t.stats.queued += 1
                    touched[t.key] = t
            self._done_locked(len(batch))  # the jobs themselves
        for t in touched.values():
            self._pump(t)

    def _target_locked(self, target: Any) -> _Target:
        t = self._targets.get(id(target))
        if t is None:
            name = target_name(target)
            stats = self._stats.get(name)
            if stats is None:
                stats = self._stats[name] = _Stats()
            t = self._targets[id(target)] = _Target(id(target), name, stats)
        return t

    def _done_locked(self, n: int) -> None:
        self._outstanding -= n
        if self._outstanding <= 0:
            self._idle.notify_all()

    def _evict_locked(self, t: _Target) -> None:
        if (not t.pending and not t.sync_busy and t.async_active == 0
                and self._targets.get(t.key) is t):
            del self._targets[t.key]

    # ---- the loop: starting deliveries -------------------------------------------------
    def _pump(self, t: _Target) -> None:
        """Start what may start of ``t``'s queue, in order (runs on the loop)."""
        starts: list[Delivery] = []
        runnable = False
        with self._lock:
            while t.pending:
                d = t.pending[0]
                if d.is_async:
                    if t.async_active >= _limit(d, "callback_concurrency"):
                        break
                    t.pending.popleft()
                    t.stats.queued -= 1
                    t.async_active += 1
                    starts.append(d)
                    continue
                if not t.sync_busy:
                    t.sync_busy = True
                    self._ready.append(t)
                    runnable = True
                break
            self._evict_locked(t)
        if runnable:
            self._wake_runner()
        for d in starts:
            self._start_async(t, d)

    def _start_async(self, t: _Target, d: Delivery) -> None:
        loop = self._loop
        assert loop is not None
        ctx = (d.job.context if d.job is not None and d.job.context is not None
               else contextvars.copy_context()).copy()
        started = time.perf_counter()
        expired: list[bool] = []
        try:
            ctx.run(reentry.mark, d.target)
            awaitable = ctx.run(d.fn, *d.args)
            if not inspect.isawaitable(awaitable):
                self._async_finished(t, d, None, started)
                return
            task = ctx.run(asyncio.ensure_future, awaitable)
        except Exception as exc:
            self._async_finished(t, d, exc, started)
            return

        def expire() -> None:
            expired.append(True)
            task.cancel()

        timer = loop.call_later(_limit(d, "callback_timeout"), expire)

        def done(fut: asyncio.Future[Any]) -> None:
            timer.cancel()
            if fut.cancelled():
                exc: BaseException | None = TimeoutError() if expired else (
                    asyncio.CancelledError())
            else:
                exc = fut.exception()
            self._async_finished(t, d, exc, started)

        task.add_done_callback(done)

    def _async_finished(self, t: _Target, d: Delivery, exc: BaseException | None,
                        started: float) -> None:
        with self._lock:
            t.async_active -= 1
            self._record_locked(t, d, exc, started)
            self._done_locked(1)
        self._pump(t)

    # ---- the runner pool ---------------------------------------------------------------
    def _wake_runner(self) -> None:
        with self._lock:
            if self._idle_runners > 0:
                self._work.notify()
            if self._idle_runners >= len(self._ready):
                return  # enough runners are waking up for every ready target
            if len(self._runners) >= int(_opt(None, "callback_workers")):
                return  # a busy runner takes it when free
            runner = _Runner()
            self._runners.add(runner)
        thread = threading.Thread(target=self._runner_main, args=(runner,),
                                  name=f"llmrelay-cb-worker-{id(runner) % 10000}",
                                  daemon=True)
        runner.thread = thread
        try:
            thread.start()
        except RuntimeError:  # Python 3.12+ refuses new threads at interpreter shutdown
            with self._lock:
                self._runners.discard(runner)
                alone = not self._runners
            if alone:
                self._run_ready_here()

    def _run_ready_here(self) -> None:
        """No runner thread can start (the exit flush on Python 3.12+): the loop thread
        runs the ready targets' sync deliveries itself."""
        stand_in = _Runner()
        while True:
            with self._lock:
                if not self._ready:
                    return
                t = self._ready.popleft()
            self._run_target(stand_in, t)

    def _runner_main(self, runner: _Runner) -> None:
        self._delivery_threads.add(threading.get_ident())
        try:
            while True:
                with self._lock:
                    while not self._ready:
                        self._idle_runners += 1
                        self._work.wait()
                        self._idle_runners -= 1
                    t = self._ready.popleft()
                self._run_target(runner, t)
                if runner.abandoned:
                    return
        finally:
            self._delivery_threads.discard(threading.get_ident())

    def _run_target(self, runner: _Runner, t: _Target) -> None:
        """Run ``t``'s sync deliveries in order until its queue is empty or starts with an
        async one (then the loop takes over). One lock round per delivery: the outcome of
        one and the start of the next."""
        done: Delivery | None = None
        error: BaseException | None = None
        started = 0.0
        while True:
            with self._lock:
                if runner.abandoned:
                    return  # the watchdog counted it and moved on without this runner
                if done is not None:
                    runner.current = runner.target = None
                    self._record_locked(t, done, error, started)
                    self._done_locked(1)
                if not t.pending or t.pending[0].is_async:
                    t.sync_busy = False
                    resume = bool(t.pending)
                    self._evict_locked(t)
                    break
                d = t.pending.popleft()
                t.stats.queued -= 1
                runner.current, runner.target = d, t
                runner.since = time.monotonic()
            started = time.perf_counter()
            error = None
            try:
                ctx = d.job.context if d.job is not None else None
                (ctx if ctx is not None else contextvars.copy_context()).copy().run(_run_sync,
                                                                                    d)
            except Exception as exc:
                error = exc
            done = d
        if resume and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._pump, t)
            except RuntimeError:
                pass

    def _watchdog(self) -> None:
        """Abandon sync hooks stuck past their timeout: count them, move on with a fresh
        runner (the stuck thread leaves the pool and ends when the hook returns)."""
        now = time.monotonic()
        for runner in list(self._runners):
            d, t = runner.current, runner.target
            if d is None or t is None:
                continue
            timeout = _limit(d, "callback_timeout")
            if now - runner.since < timeout:
                continue
            with self._lock:
                if runner.current is not d:
                    continue
                runner.abandoned = True
                self._runners.discard(runner)
                t.stats.timed_out += 1
                t.sync_busy = False
                self._done_locked(1)
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", t.name, d.hook,
                        timeout)
            self._pump(t)
        if self._loop is not None:
            self._loop.call_later(0.1, self._watchdog)

    def _record_locked(self, t: _Target, d: Delivery, exc: BaseException | None,
                       started: float) -> None:
        """Count one delivery's outcome and time; the first failure is logged in full."""
        s = t.stats
        spent = time.perf_counter() - started
        s.total_s += spent
        if spent > s.max_s:
            s.max_s = spent
        if exc is None:
            s.delivered += 1
        elif isinstance(exc, TimeoutError):
            s.timed_out += 1
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", t.name, d.hook,
                        _limit(d, "callback_timeout"))
        else:
            s.failed += 1
            if not s.warned:
                s.warned = True
                log.error("llmrelay: callback %s.%s raised %s: %s (further failures of this "
                          "callback are counted in llmrelay.callback_stats())",
                          t.name, d.hook, type(exc).__name__, exc, exc_info=exc)


dispatcher = Dispatcher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=dispatcher.after_fork_in_child)
