"""The bounded dispatcher: a fixed pool whatever the number of loggers, per-client limits,
bounded async concurrency per logger, one exit handler, the lazy shared payload."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import llmrelay
from llmrelay.callbacks.dispatcher import dispatcher
from llmrelay.integrations.custom_logger import CustomLogger
from script_support import run_script

MSGS = [{"role": "user", "content": "Hi"}]


def _llmrelay_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("llmrelay-")]


def test_distinct_per_call_callbacks_leave_no_threads_or_targets_behind() -> None:
    got: list[int] = []
    for i in range(10_000):
        def fn(kw: Any, resp: Any, start: Any, end: Any, i: int = i) -> None:
            got.append(i)
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x",
                            success_callback=[fn])
    assert llmrelay.flush(30)
    assert len(got) == 10_000
    pool = int(llmrelay.callback_workers)
    assert len(_llmrelay_threads()) <= pool + 1  # the runners and the loop thread
    assert dispatcher.threads() <= pool + 1
    assert len(dispatcher._targets) == 0  # idle targets are forgotten


def test_many_loggers_share_the_fixed_pool() -> None:
    class Counting(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            time.sleep(0.001)
            self.n += 1

    loggers = [Counting() for _ in range(50)]
    llmrelay.callbacks = list(loggers)
    for _ in range(5):
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(30)
    assert all(lg.n == 5 for lg in loggers)
    assert len(_llmrelay_threads()) <= int(llmrelay.callback_workers) + 1


def test_one_loggers_events_stay_in_order() -> None:
    seen: list[int] = []

    def record(kw: Any, resp: Any, start: Any, end: Any) -> None:
        seen.append(kw["litellm_params"]["metadata"]["i"])

    llmrelay.success_callback = [record]
    for i in range(200):
        llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x", metadata={"i": i})
    assert llmrelay.flush(10)
    assert seen == list(range(200))


def test_async_hooks_of_one_logger_run_concurrently_up_to_the_bound() -> None:
    running = [0]
    peak = [0]

    class Slowish(CustomLogger):
        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.2)
            running[0] -= 1

    client = llmrelay.Client(callbacks=[Slowish()], callback_concurrency=4)

    async def main() -> None:
        await asyncio.gather(*[client.acompletion(model="gpt-4o", messages=MSGS,
                                                  mock_response="x") for _ in range(12)])

    t0 = time.monotonic()
    asyncio.run(main())
    assert llmrelay.flush(10)
    assert peak[0] == 4
    assert time.monotonic() - t0 < 2.0  # 3 rounds of 0.2 s, not 12


def test_delivery_limits_belong_to_the_calling_client() -> None:
    gate = threading.Event()

    class GatedSmall(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            gate.wait(5)

    small = llmrelay.Client(callbacks=[GatedSmall()], callback_queue_size=1)
    for _ in range(4):
        small.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    time.sleep(0.2)
    gate.set()
    assert llmrelay.flush(5)
    assert llmrelay.callback_stats()["GatedSmall"]["dropped"] >= 2
    assert llmrelay.callback_queue_size == 10000  # the module setting was never touched

    class StuckAsync(CustomLogger):
        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            await asyncio.sleep(5)

    quick = llmrelay.Client(callbacks=[StuckAsync()], callback_timeout=0.2)
    asyncio.run(quick.acompletion(model="gpt-4o", messages=MSGS, mock_response="x"))
    assert llmrelay.flush(3)
    assert llmrelay.callback_stats()["StuckAsync"]["timed_out"] == 1


def test_a_stuck_sync_hook_is_abandoned_and_the_pool_keeps_its_size() -> None:
    release = threading.Event()
    after: list[str] = []

    class StuckSync(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            if kwargs["litellm_params"]["metadata"]["i"] == 0:
                release.wait(10)
            after.append("next")

    client = llmrelay.Client(callbacks=[StuckSync()], callback_timeout=0.3)
    for i in range(2):
        client.completion(model="gpt-4o", messages=MSGS, mock_response="x", metadata={"i": i})
    assert llmrelay.flush(5)
    assert after == ["next"]
    assert llmrelay.callback_stats()["StuckSync"]["timed_out"] == 1
    assert len(_llmrelay_threads()) <= int(llmrelay.callback_workers) + 2  # + the stuck one
    release.set()


def test_a_busy_pool_holds_up_no_async_hook(monkeypatch: Any) -> None:
    """Every runner stuck in a slow sync hook: the loop drains the inbox itself, so an
    async logger's events are not held up behind them."""
    monkeypatch.setattr(llmrelay, "callback_workers", 1, raising=False)
    release = threading.Event()
    fast: list[float] = []

    class SlowSync(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            release.wait(5)

    class QuickAsync(CustomLogger):
        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            fast.append(time.monotonic())

    assert llmrelay.flush(5)
    slow = llmrelay.Client(callbacks=[SlowSync()])
    quick = llmrelay.Client(callbacks=[QuickAsync()])
    slow.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    time.sleep(0.2)  # the only runner is inside the slow hook now
    started = time.monotonic()
    for _ in range(3):
        asyncio.run(quick.acompletion(model="gpt-4o", messages=MSGS, mock_response="x"))
        slow.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    deadline = time.monotonic() + 3
    while len(fast) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fast) == 3 and max(fast) - started < 2  # long before the slow hook returns
    release.set()
    assert llmrelay.flush(10)
    assert llmrelay.callback_stats()["SlowSync"]["delivered"] >= 4


def test_kwargs_built_on_either_side_are_the_same() -> None:
    """A logger with a pre-call hook makes ``kwargs`` on the caller's side; with only
    observer hooks it is made by the dispatcher: the events carry the same keys and
    values either way."""
    seen: dict[str, list[dict[str, Any]]] = {"pre": [], "success_only": []}

    class WithPre(CustomLogger):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            pass

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            seen["pre"].append(dict(kwargs))

    class SuccessOnly(CustomLogger):
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            seen["success_only"].append(dict(kwargs))

    for logger, name in ((WithPre(), "pre"), (SuccessOnly(), "success_only")):
        client = llmrelay.Client(callbacks=[logger])
        client.completion(model="gpt-4o", messages=MSGS, mock_response="x",
                          metadata={"tag": name}, litellm_call_id="same-id", temperature=0.5)
    assert llmrelay.flush(5)
    a, b = seen["pre"][0], seen["success_only"][0]
    assert list(a) == list(b)  # same keys, same order
    differ = {"litellm_params", "start_time", "end_time", "completion_start_time",
              "standard_logging_object"}
    assert {k: v for k, v in a.items() if k not in differ} == {
        k: v for k, v in b.items() if k not in differ}
    assert a["additional_args"]["complete_input_dict"]["temperature"] == 0.5
    assert a["additional_args"]["headers"] == b["additional_args"]["headers"]
    assert b["litellm_params"]["metadata"] == {"tag": "success_only"}
    assert a["start_time"] <= a["end_time"] and b["start_time"] <= b["end_time"]


def test_the_standard_payload_is_built_once_lazily_and_shared(monkeypatch: Any) -> None:
    from llmrelay.callbacks import calllog

    builds: list[int] = []
    real = calllog.standard_payload

    def counting(*args: Any) -> Any:
        builds.append(1)
        return real(*args)

    monkeypatch.setattr(calllog, "standard_payload", counting)
    payloads: list[Any] = []
    llmrelay.success_callback = [lambda kw, r, s, e: None]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert builds == []  # nobody read it: never built
    llmrelay.success_callback = [
        lambda kw, r, s, e: payloads.append(kw["standard_logging_object"]),
        lambda kw, r, s, e: payloads.append(kw.get("standard_logging_object")),
        lambda kw, r, s, e: payloads.append(dict(kw)["standard_logging_object"]),
    ]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert builds == [1]
    assert payloads[0] is payloads[1] is payloads[2] and payloads[0]["status"] == "success"


def test_a_slow_async_hook_loses_no_event_at_exit_and_one_handler_runs(tmp_path: Path) -> None:
    out_file = tmp_path / "events.txt"
    script = f"""
        import asyncio, time
        import llmrelay
        from llmrelay.integrations.custom_logger import CustomLogger

        class Slow(CustomLogger):
            async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
                await asyncio.sleep(2)
                with open({str(out_file)!r}, "a") as f:
                    f.write(kwargs["litellm_call_id"] + "\\n")

        llmrelay.callbacks = [Slow()]

        async def main():
            await asyncio.gather(*[
                llmrelay.acompletion(model="gpt-4o", messages=[{{"role": "user", "content": "x"}}],
                                     mock_response="hi") for _ in range(100)])

        asyncio.run(main())
        print("calls-done", time.monotonic(), flush=True)
    """
    t0 = time.monotonic()
    result = run_script(script, tmp_path)
    took = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert len(set(out_file.read_text().splitlines())) == 100
    assert "undelivered" not in result.stderr
    assert took < 10  # well within the 10 s exit deadline


def test_the_exit_deadline_is_applied_once(tmp_path: Path) -> None:
    script = """
        import time
        import llmrelay
        llmrelay.callback_exit_timeout = 1.0
        llmrelay.success_callback = [lambda kw, r, s, e: time.sleep(60)]
        llmrelay.completion(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                            mock_response="hi")
    """
    t0 = time.monotonic()
    result = run_script(script, tmp_path)
    took = time.monotonic() - t0
    assert result.returncode == 0
    assert result.stderr.count("exit deadline") == 1
    assert took < 1.0 + 5.0  # one deadline (plus interpreter start-up), not two
