"""Background delivery of observer events: a fixed pool of runner threads and one event loop.

The caller hands over a job (an object with ``expand()``, ``context`` and ``settings``: a
call's :class:`~.calllog.CallLog` for its terminal event, else a :class:`Job`) with one
``deque.append``; only when no runner is already on its way does the caller wake one (a
lock round and one wake-up for a whole burst). Everything else happens off the caller's
path, in batches:

* one runner at a time drains the inbox: it expands every job waiting into deliveries,
  one per target (a logger instance or a callback function), and queues them; the
  standard payload is built lazily, once per event, by whichever hook reads it first, and
  shared;
* each target has one ordered, bounded queue (``callback_queue_size`` of the calling
  client; overflow drops the oldest event and counts it). Targets are held only while
  they have work: an idle target is forgotten, so per-call callbacks leave nothing behind;
  statistics are kept per target name;
* sync hooks run on the fixed pool of runner threads (``llmrelay.callback_workers``,
  started on demand), one hook of a target at a time, in order; the runner that drained a
  batch goes on to deliver it, so a burst costs a few thread switches, not one per event.
  Async hooks run on the loop thread, in order of start, up to ``callback_concurrency`` at
  once per target, so one slow hook cannot hold back the others (nor the exit flush); the
  async hooks of a batch reach the loop in one hand-over;
* when every runner is busy (slow sync hooks), the loop thread drains the inbox instead,
  so async hooks and other targets are never held up by a full pool;
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
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from . import reentry

log = logging.getLogger("llmrelay")

__all__ = ["Delivery", "Dispatcher", "Hook", "Job", "JobLike", "dispatcher", "target_name"]

_DEFAULTS = {"callback_timeout": 30.0, "callback_queue_size": 10000,
             "callback_concurrency": 100, "callback_workers": 8,
             "callback_exit_timeout": 10.0}
_clock = time.perf_counter


class JobLike(Protocol):
    """What a caller hands over: ``expand()`` runs on the dispatcher and returns the
    deliveries; each runs in a copy of ``context`` (the caller's, when given) with the
    delivery limits of ``settings`` (the calling client's; None: the module settings)."""

    @property
    def context(self) -> contextvars.Context | None: ...

    @property
    def settings(self) -> Any: ...

    def expand(self) -> list[Delivery]: ...


class Hook:
    """A function to deliver events to: ``fn`` called for ``target`` (a logger or the
    function itself), named ``hook``; ``mark``: the re-entrancy mark of its calls."""

    __slots__ = ("fn", "hook", "is_async", "key", "mark", "target")

    def __init__(self, target: Any, hook: str, fn: Callable[..., Any], is_async: bool) -> None:
        self.target = target
        self.hook = hook
        self.fn = fn
        self.is_async = is_async
        self.key = id(target)
        self.mark = frozenset({self.key})


class Delivery:
    """One call of one :class:`Hook` with ``args``."""

    __slots__ = ("args", "is_async", "job", "sink")

    def __init__(self, sink: Hook, args: tuple[Any, ...], job: JobLike | None = None) -> None:
        self.sink = sink
        self.args = args
        self.is_async = sink.is_async
        self.job = job  # set by the dispatcher when None


class Job:
    """A job made of a function returning the deliveries (see :class:`JobLike`)."""

    __slots__ = ("context", "fn", "settings")

    def __init__(self, expand: Callable[[], list[Delivery]],
                 context: contextvars.Context | None = None, settings: Any = None) -> None:
        self.fn = expand
        self.context = context
        self.settings = settings

    def expand(self) -> list[Delivery]:
        return self.fn()


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


_call_marked = reentry.call_marked  # run inside a context copy: the mark ends with it
_mark = reentry.mark_sink


def _context(d: Delivery) -> contextvars.Context:
    """A fresh copy of the caller's context for one hook."""
    ctx = d.job.context if d.job is not None else None
    return ctx.copy() if ctx is not None else contextvars.copy_context()


_DRAIN = object()  # a runner's next task: drain the inbox


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
        self._inbox: deque[JobLike] = deque()
        self._awake = False  # a drain is under way or on its way (set by the waking caller)
        self._draining = False  # someone drains now (under the lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._targets: dict[int, _Target] = {}
        self._stats: dict[str, _Stats] = {}
        self._ready: deque[_Target] = deque()
        self._runners: set[_Runner] = set()
        self._idle_runners = 0
        self._runner_ids: set[int] = set()  # threads that take ready targets themselves
        self._delivery_threads: set[int] = set()
        self._exit_done = False

    # ---- caller side ---------------------------------------------------------------------
    def submit(self, job: JobLike) -> None:
        """Hand a job over: one append, lock-free, on the caller's path; a wake-up only
        when no drain is under way (a job waiting in the inbox counts as outstanding by
        being there)."""
        if self._loop is None:
            self._start()
        self._inbox.append(job)
        if not self._awake:
            self._awake = True
            self._wake_drainer()

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

    # ---- draining: jobs into target queues -----------------------------------------------
    def _wake_drainer(self) -> None:
        """Get the inbox drained: an idle runner, else a new one, else (the pool is busy
        or no thread can start) the loop thread."""
        with self._lock:
            if self._idle_runners > 0:
                self._work.notify()
                return
            runner = self._new_runner_locked()
        if runner is not None and self._start_runner(runner):
            return
        self._drain_on_loop()

    def _drain_on_loop(self) -> None:
        loop = self._loop
        try:
            if loop is not None:
                loop.call_soon_threadsafe(self._drain_here)
                return
        except RuntimeError:  # loop closed during interpreter shutdown
            pass
        self._drain_inline()

    def _drain_here(self) -> None:
        """The loop thread drains (every runner is busy); ready sync work goes to the
        runners, or is run here when no runner thread exists or can start."""
        with self._lock:
            if self._draining:
                return
            self._draining = True
        self._drain()

    def _drain(self) -> None:
        """Expand every job in the inbox (the caller of this set ``_draining``); clears
        ``_awake`` and ``_draining`` once the inbox stays empty."""
        inbox = self._inbox
        lock = self._lock
        while True:
            with lock:
                if not inbox:
                    self._awake = False
                    if not inbox:  # else a job came in before the flag dropped: go on
                        self._draining = False
                        return
                    self._awake = True
                jobs = [inbox.popleft() for _ in range(len(inbox))]
                self._outstanding += len(jobs)  # counted before leaving the inbox
            self._expand(jobs)

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
                d.job = job
                if not d.is_async:
                    try:
                        _context(d).run(_call_marked, d.sink, d.args)
                    except Exception:
                        log.debug("llmrelay: callback failed during shutdown", exc_info=True)
            with self._lock:
                self._done_locked(1)

    def _expand(self, jobs: list[JobLike]) -> None:
        """Turn jobs into queued deliveries (one lock round for the whole batch), then
        start what may start."""
        batch: list[tuple[JobLike, list[Delivery]]] = []
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
                    if d.job is None:
                        d.job = job
                    t = self._targets.get(d.sink.key)
                    if t is None:
                        t = self._target_locked(d.sink.target)
                    pending = t.pending
                    while len(pending) >= limit:
                        pending.popleft()
                        t.stats.dropped += 1
                        t.stats.queued -= 1
                        self._outstanding -= 1
                    pending.append(d)
                    t.stats.queued += 1
                    touched[t.key] = t
            self._done_locked(len(batch))  # the jobs themselves
        self._continue(touched.values())

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

    # ---- starting deliveries ---------------------------------------------------------------
    def _continue(self, targets: Iterable[_Target]) -> None:
        """After ``targets`` got work or finished some: start what may start (async hooks
        on the loop, sync ones on a runner)."""
        starts: list[tuple[_Target, Delivery]] = []
        ready = False
        for t in targets:
            ready = self._pump(t, starts) or ready
        self._start_asyncs(starts)
        if ready and threading.get_ident() not in self._runner_ids:
            self._ensure_runner()  # a runner calling this takes ready targets itself

    def _pump(self, t: _Target, starts: list[tuple[_Target, Delivery]]) -> bool:
        """Start what may start of ``t``'s queue, in order: async heads are added to
        ``starts`` (for the loop); a sync head makes ``t`` ready (returns True)."""
        ready = False
        with self._lock:
            pending = t.pending
            while pending:
                d = pending[0]
                if d.is_async:
                    if t.async_active >= _limit(d, "callback_concurrency"):
                        break
                    pending.popleft()
                    t.stats.queued -= 1
                    t.async_active += 1
                    starts.append((t, d))
                    continue
                if not t.sync_busy:
                    t.sync_busy = ready = True
                    self._ready.append(t)
                break
            self._evict_locked(t)
        return ready

    def _start_asyncs(self, starts: list[tuple[_Target, Delivery]]) -> None:
        """Start async deliveries on the loop (one hand-over for the lot when called
        from another thread)."""
        if not starts:
            return
        loop = self._loop
        if loop is None:
            return
        if threading.current_thread() is self._thread:
            for t, d in starts:
                self._start_async(t, d)
            return
        try:
            loop.call_soon_threadsafe(self._start_asyncs, starts)
        except RuntimeError:  # loop closed during interpreter shutdown: count them lost
            with self._lock:
                for t, _d in starts:
                    t.async_active -= 1
                    t.stats.dropped += 1
                self._done_locked(len(starts))

    def _start_async(self, t: _Target, d: Delivery) -> None:
        loop = self._loop
        assert loop is not None
        ctx = _context(d)
        started = _clock()
        expired: list[bool] = []
        try:
            ctx.run(_mark, d.sink)
            awaitable = ctx.run(d.sink.fn, *d.args)
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
            self._record_locked(t, d, exc, _clock() - started)
            self._done_locked(1)
        self._continue((t,))

    # ---- the runner pool ---------------------------------------------------------------
    def _new_runner_locked(self) -> _Runner | None:
        if len(self._runners) >= int(_opt(None, "callback_workers")):
            return None
        runner = _Runner()
        self._runners.add(runner)
        return runner

    def _start_runner(self, runner: _Runner) -> bool:
        thread = threading.Thread(target=self._runner_main, args=(runner,),
                                  name=f"llmrelay-cb-worker-{id(runner) % 10000}",
                                  daemon=True)
        runner.thread = thread
        try:
            thread.start()
        except RuntimeError:  # Python 3.12+ refuses new threads at interpreter shutdown
            with self._lock:
                self._runners.discard(runner)
            return False
        return True

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

    def _next_task(self) -> Any:
        """What an idle runner does next: drain the inbox (when nobody does), else run a
        ready target; waits for either."""
        with self._lock:
            while True:
                if self._inbox and not self._draining:
                    self._draining = True
                    return _DRAIN
                if self._ready:
                    t = self._ready.popleft()
                    if self._ready:  # more ready targets: share them out
                        if self._idle_runners > 0:
                            self._work.notify()
                        else:  # this one may block in a slow hook: hand the rest on
                            return (t, self._new_runner_locked())
                    return (t, None)
                self._idle_runners += 1
                self._work.wait()
                self._idle_runners -= 1

    def _runner_main(self, runner: _Runner) -> None:
        me = threading.get_ident()
        self._delivery_threads.add(me)
        self._runner_ids.add(me)
        try:
            while True:
                task = self._next_task()
                if task is _DRAIN:
                    self._drain()
                    continue
                t, helper = task
                if helper is not None:  # if it cannot start, this runner gets there
                    self._start_runner(helper)
                self._run_target(runner, t)
                if runner.abandoned:
                    return
        finally:
            self._delivery_threads.discard(me)
            self._runner_ids.discard(me)

    def _run_target(self, runner: _Runner, t: _Target) -> None:
        """Run ``t``'s sync deliveries in order until its queue is empty or starts with an
        async one (then the loop takes over). One lock round per delivery: the outcome of
        one and the start of the next."""
        d: Delivery | None = None
        error: BaseException | None = None
        lock = self._lock
        pending = t.pending
        stats = t.stats
        runner.target = t
        while True:
            with lock:
                if runner.abandoned:
                    return  # the watchdog counted it and moved on without this runner
                if d is not None:
                    self._record_locked(t, d, error, _clock() - runner.since)
                    self._done_locked(1)
                if not pending or pending[0].is_async:
                    runner.current = runner.target = None
                    t.sync_busy = False
                    resume = bool(pending)
                    self._evict_locked(t)
                    break
                d = runner.current = pending.popleft()
                stats.queued -= 1
                runner.since = _clock()
            error = None
            ctx = d.job.context if d.job is not None else None
            try:
                (ctx.copy() if ctx is not None else contextvars.copy_context()).run(
                    _call_marked, d.sink, d.args)
            except Exception as exc:
                error = exc
        if resume:
            self._continue((t,))

    def _watchdog(self) -> None:
        """Abandon sync hooks stuck past their timeout: count them, move on with a fresh
        runner (the stuck thread leaves the pool and ends when the hook returns)."""
        now = _clock()
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
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", t.name, d.sink.hook,
                        timeout)
            self._continue((t,))
        if self._loop is not None:
            self._loop.call_later(0.1, self._watchdog)

    def _ensure_runner(self) -> None:
        """Runners for the ready targets: idle ones woken, else a new one (a busy pool
        gets to them when free); when no runner thread exists or can start, the calling
        (loop) thread runs them."""
        with self._lock:
            if not self._ready:
                return
            if self._idle_runners > 0:
                self._work.notify(min(len(self._ready), self._idle_runners))
                return
            runner = self._new_runner_locked()
        if runner is None or not self._start_runner(runner):
            with self._lock:
                alone = not self._runners
            if alone:
                self._run_ready_here()

    def _record_locked(self, t: _Target, d: Delivery, exc: BaseException | None,
                       spent: float) -> None:
        """Count one delivery's outcome and time."""
        s = t.stats
        s.total_s += spent
        if spent > s.max_s:
            s.max_s = spent
        if exc is None:
            s.delivered += 1
        else:
            self._failed_locked(t, d, exc)

    def _failed_locked(self, t: _Target, d: Delivery, exc: BaseException) -> None:
        """Count a failed delivery; the first failure of a target name is logged in
        full."""
        s = t.stats
        if isinstance(exc, TimeoutError):
            s.timed_out += 1
            log.warning("llmrelay: callback %s.%s timed out after %.1fs", t.name, d.sink.hook,
                        _limit(d, "callback_timeout"))
            return
        s.failed += 1
        if not s.warned:
            s.warned = True
            log.error("llmrelay: callback %s.%s raised %s: %s (further failures of this "
                      "callback are counted in llmrelay.callback_stats())",
                      t.name, d.sink.hook, type(exc).__name__, exc, exc_info=exc)


dispatcher = Dispatcher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=dispatcher.after_fork_in_child)
