"""No event lost at process exit or across fork; stream events; async pre-call hooks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

import llmrelay
from llmrelay.integrations.custom_logger import CustomLogger
from script_support import run_script

MSGS = [{"role": "user", "content": "Hi"}]


def test_no_event_lost_when_exiting_right_after_100_async_calls(tmp_path: Path) -> None:
    out_file = tmp_path / "events.txt"
    script = f"""
        import asyncio, time
        import llmrelay
        from llmrelay.integrations.custom_logger import CustomLogger

        class Slowish(CustomLogger):
            async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
                await asyncio.sleep(0.01)
                with open({str(out_file)!r}, "a") as f:
                    f.write(kwargs["litellm_call_id"] + "\\n")

        def sync_fn(kwargs, response, start, end):
            time.sleep(0.005)
            with open({str(out_file)!r}, "a") as f:
                f.write("fn\\n")

        llmrelay.callbacks = [Slowish()]
        llmrelay.success_callback = [sync_fn]

        async def main():
            await asyncio.gather(*[
                llmrelay.acompletion(model="gpt-4o", messages=[{{"role": "user", "content": "x"}}],
                                     mock_response="hi")
                for _ in range(100)])

        asyncio.run(main())
        # exits at once: no flush() here
    """
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = out_file.read_text().splitlines()
    assert len([line for line in lines if line != "fn"]) == 100
    assert lines.count("fn") == 100
    assert len(set(lines)) == 101  # 100 distinct call ids + "fn"


def test_exit_deadline_is_bounded(tmp_path: Path) -> None:
    script = """
        import time
        import llmrelay
        llmrelay.callback_exit_timeout = 0.5
        llmrelay.success_callback = [lambda kw, r, s, e: time.sleep(60)]
        llmrelay.completion(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                            mock_response="hi")
        t0 = time.monotonic()
        import atexit
        atexit.register(lambda: print("exit-started", flush=True))
    """
    result = run_script(script, tmp_path)
    assert result.returncode == 0
    assert "undelivered after the 0.5s exit deadline" in result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_callbacks_work_after_fork(tmp_path: Path) -> None:
    out_file = tmp_path / "fork.txt"
    script = f"""
        import os
        import llmrelay

        def record(kwargs, response, start, end):
            with open({str(out_file)!r}, "a") as f:
                f.write(f"{{os.getpid()}}:{{response.choices[0].message.content}}\\n")

        llmrelay.success_callback = [record]
        llmrelay.completion(model="gpt-4o", messages=[{{"role": "user", "content": "x"}}],
                            mock_response="parent")
        llmrelay.flush(5)
        pid = os.fork()
        if pid == 0:
            llmrelay.completion(model="gpt-4o", messages=[{{"role": "user", "content": "x"}}],
                                mock_response="child")
            llmrelay.flush(5)
            os._exit(0)
        os.waitpid(pid, 0)
        llmrelay.completion(model="gpt-4o", messages=[{{"role": "user", "content": "x"}}],
                            mock_response="parent-again")
    """
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = out_file.read_text().splitlines()
    contents = sorted(line.split(":", 1)[1] for line in lines)
    assert contents == ["child", "parent", "parent-again"]
    pids = {line.split(":", 1)[0] for line in lines}
    assert len(pids) == 2


def test_stream_events_per_chunk_and_async_pre_call() -> None:
    class Streamer(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.chunks: list[Any] = []
            self.pre: list[str] = []
            self.success = 0

        async def async_log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            self.pre.append(kwargs["additional_args"]["complete_input_dict"]["model"])

        def log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                             end_time: Any) -> None:
            self.chunks.append(response_obj)

        async def async_log_stream_event(self, kwargs: Any, response_obj: Any,
                                         start_time: Any, end_time: Any) -> None:
            self.chunks.append(response_obj)

        async def async_log_success_event(self, kwargs: Any, response_obj: Any,
                                          start_time: Any, end_time: Any) -> None:
            self.success += 1

    s = Streamer()
    llmrelay.callbacks = [s]

    async def main() -> int:
        r = await llmrelay.acompletion(model="gpt-4o", messages=MSGS, stream=True,
                                       mock_response="one two three")
        return len([c async for c in r])

    seen = asyncio.run(main())
    assert llmrelay.flush(5)
    assert s.pre == ["gpt-4o"]
    assert len(s.chunks) >= seen  # every chunk, the hidden usage chunk included
    assert s.success == 1
    for _ in llmrelay.completion(model="gpt-4o", messages=MSGS, stream=True,
                                 mock_response="a b"):
        pass
    assert llmrelay.flush(5)
    assert s.success == 2 and s.pre == ["gpt-4o", "gpt-4o"]


def test_flush_inside_a_hook_does_not_deadlock() -> None:
    results: list[bool] = []
    llmrelay.success_callback = [lambda kw, r, s, e: results.append(llmrelay.flush(1))]
    llmrelay.completion(model="gpt-4o", messages=MSGS, mock_response="x")
    assert llmrelay.flush(5)
    assert len(results) == 1


def test_aflush_waits_without_blocking_loop() -> None:
    got: list[int] = []

    async def slow(kwargs: Any, resp: Any, start: Any, end: Any) -> None:
        await asyncio.sleep(0.05)
        got.append(1)

    llmrelay.success_callback = [slow]

    async def main() -> bool:
        await llmrelay.acompletion(model="gpt-4o", messages=MSGS, mock_response="x")
        return await llmrelay.aflush(5)

    assert asyncio.run(main()) and got == [1]


def test_events_delivered_when_no_thread_can_start(tmp_path: Path) -> None:
    """At interpreter shutdown Python 3.12+ refuses new threads; a logger whose runner
    thread cannot start still gets its events (sync and async hooks), exit flush included.
    Simulated on any version by making runner threads fail to start."""
    out_file = tmp_path / "events.txt"
    script = f"""
        import asyncio, threading
        import llmrelay
        from llmrelay.integrations.custom_logger import CustomLogger

        real_start = threading.Thread.start
        def start(self):
            if self.name.startswith("llmrelay-cb-"):
                raise RuntimeError("can't create new thread at interpreter shutdown")
            real_start(self)
        threading.Thread.start = start

        def write(line):
            with open({str(out_file)!r}, "a") as f:
                f.write(line + "\\n")

        class Both(CustomLogger):
            def log_success_event(self, kwargs, response_obj, start_time, end_time):
                write("sync " + response_obj.choices[0].message.content)
            async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
                await asyncio.sleep(0.01)
                write("async " + response_obj.choices[0].message.content)

        def broken(kwargs, response_obj, start_time, end_time):
            raise ValueError("counted, not raised")

        llmrelay.callbacks = [Both()]
        llmrelay.success_callback = [broken]
        llmrelay.completion("gpt-4o-mini", [{{"role": "user", "content": "x"}}],
                            mock_response="one")
        assert llmrelay.flush(10)
        async def main():
            await llmrelay.acompletion("gpt-4o-mini", [{{"role": "user", "content": "x"}}],
                                       mock_response="two")
        asyncio.run(main())
        stats = llmrelay.callback_stats()
        assert stats["broken"]["failed"] >= 1, stats
        llmrelay.completion("gpt-4o-mini", [{{"role": "user", "content": "x"}}],
                            mock_response="three")  # left to the exit flush
    """
    proc = run_script(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "undelivered" not in proc.stderr
    lines = out_file.read_text().splitlines()
    assert sorted(lines) == ["async two", "sync one", "sync three"]
