"""The callback system's CPU cost: the reference doc's six-hook class on mock calls.

    python bench/callback_cost.py [--rounds 3] [--n 3000] [--litellm PYTHON]
    python bench/callback_cost.py --instructions     # needs valgrind

``--instructions`` counts machine instructions per call under callgrind instead (the
difference between a short and a long run, garbage collection off, fixed hash seed), for
llmrelay and LiteLLM: the same figures every run, free of the shared machine's noise and
of cache and collector effects, to set beside the CPU times.

Each round runs llmrelay and LiteLLM in fresh interpreters (``_worker.py callbacks``); each
worker first checks that the hooks really run (the class uses the documented parameter
names, which LiteLLM passes as keywords), then interleaves 9 pairs of rounds without and
with the logger and reports CPU time (``time.process_time``: every thread of the process,
delivery included; the caller's own thread with ``time.thread_time``). The added cost is
the median of the pairs' differences, shown with the quartiles, since the shared machine
makes absolute times drift. The time the garbage collector takes per call is shown beside them
(``gc.callbacks``): events waiting for delivery keep their objects alive, so the
collector runs during a loop with the logger and not without it. LiteLLM's Python comes from ``--litellm`` (default:
bench/.venv-litellm, created by run.py); it runs with ``LITELLM_LOCAL_MODEL_COST_MAP``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import LITELLM_VENV, litellm_python, run_worker  # noqa: E402


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


DRIVER = """
import gc, os, sys, time
gc.disable()
lib_name, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if lib_name == "llmrelay":
    sys.path.insert(0, {src!r})
lib = __import__(lib_name)
custom = __import__(lib_name + ".integrations.custom_logger", fromlist=["CustomLogger"])
class Handler(custom.CustomLogger):
    success = 0
    def log_pre_api_call(self, model, messages, kwargs): pass
    def log_post_api_call(self, kwargs, response_obj, start_time, end_time): pass
    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.success += 1
    def log_failure_event(self, kwargs, response_obj, start_time, end_time): pass
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time): pass
    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time): pass
handler = Handler()
if mode != "none":
    lib.callbacks = [handler]
if mode == "caller":
    from llmrelay.callbacks.dispatcher import dispatcher
    dispatcher.submit = lambda job: None  # the caller's work alone: jobs dropped
def call():
    lib.completion(model="gpt-4o-mini", messages=[{{"role": "user", "content": "Hi"}}],
                   mock_response="Hello there")
def settle(expected):
    if lib_name == "llmrelay":
        lib.flush(60)
    if mode == "six":  # LiteLLM delivers sync success hooks on a thread pool
        while handler.success < expected:
            time.sleep(0.05)
for _ in range(20):
    call()
settle(20)
for _ in range(n):
    call()
settle(20 + n)
"""

PYTHONS: dict[str, str] = {"llmrelay": sys.executable}


def instructions(lib: str, mode: str, n: int, driver: str) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0", LITELLM_LOCAL_MODEL_COST_MAP="True")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          "--fair-sched=yes", PYTHONS[lib], driver, lib, mode, str(n)],
                         capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert found, out.stderr[-2000:]
    return int(found.group(1))


def instruction_table(litellm: str | None) -> None:
    """Instructions per call: the difference between a long and a short run (start-up
    cancels out), garbage collection off (its cost depends on timing, see the CPU
    figures), fixed hash seed."""
    if litellm is not None:
        PYTHONS["litellm"] = litellm
    runs = {"llmrelay": (300, 900), "litellm": (30, 90)}
    with tempfile.TemporaryDirectory() as tmp:
        driver = os.path.join(tmp, "driver.py")
        Path(driver).write_text(DRIVER.format(src=str(HERE.parent / "src")))
        per: dict[str, dict[str, float]] = {}
        for lib in PYTHONS:
            short, long = runs[lib]
            modes = ("none", "caller", "six") if lib == "llmrelay" else ("none", "six")
            per[lib] = {m: (instructions(lib, m, long, driver)
                            - instructions(lib, m, short, driver)) / (long - short)
                        for m in modes}
    ours = per["llmrelay"]
    base = ours["none"]
    lines = ["| instructions per mock call | llmrelay | vs no callbacks | LiteLLM |",
             "|---|---|---|---|"]
    theirs = per.get("litellm")
    lines.append(f"| no callbacks | {base:,.0f} | 1.00x | "
                 f"{theirs['none'] if theirs else 0:,.0f} |")
    lines.append(f"| six-hook class: caller's work alone | +{ours['caller'] - base:,.0f} | "
                 f"{ours['caller'] / base:.2f}x | - |")
    lines.append(f"| six-hook class: total, delivery included | +{ours['six'] - base:,.0f} | "
                 f"{ours['six'] / base:.2f}x | "
                 + (f"+{theirs['six'] - theirs['none']:,.0f} |" if theirs else "- |"))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="worker processes per library")
    ap.add_argument("--n", type=int, default=3000, help="llmrelay calls per round")
    ap.add_argument("--litellm", default=None, help="python of a LiteLLM virtualenv")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions under callgrind instead of CPU time")
    args = ap.parse_args()
    theirs = args.litellm or (str(LITELLM_VENV / "bin" / "python")
                              if (LITELLM_VENV / "bin" / "python").exists() else litellm_python())
    if args.instructions:
        instruction_table(theirs)
        return
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no network fetch at import
    ours: list[dict[str, Any]] = []
    lite: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        ours.append(run_worker(sys.executable, "callbacks", "llmrelay", "-", args.n))
        lite.append(run_worker(theirs, "callbacks", "litellm", "-", max(300, args.n // 5)))
    print("\n".join(table(ours, lite)))


def table(ours: list[dict[str, Any]], lite: list[dict[str, Any]]) -> list[str]:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def spread(rows: list[dict[str, Any]], key: str) -> str:
        lo = min(r[key + "_q"][0] for r in rows)
        hi = max(r[key + "_q"][1] for r in rows)
        return f"{us(med(rows, key + '_s'))} ({lo * 1e6:,.1f} to {hi * 1e6:,.1f})"

    o_none, o_six = med(ours, "none_total_s"), med(ours, "six_total_s")
    l_none, l_six = med(lite, "none_total_s"), med(lite, "six_total_s")
    return [
        "| CPU per mock call | llmrelay | LiteLLM |", "|---|---|---|",
        f"| no callbacks | {us(o_none)} | {us(l_none)} |",
        f"| six-hook class, total (all threads, delivery included) | {us(o_six)} | "
        f"{us(l_six)} |",
        f"| added by the six-hook class, total (quartiles of the paired rounds) | "
        f"**{spread(ours, 'added_total')}** | {spread(lite, 'added_total')} |",
        f"| added, on the caller's thread (tight loop, delivery running) | "
        f"{spread(ours, 'added_caller')} | {spread(lite, 'added_caller')} |",
        f"| added, work on the caller's path alone (events dropped when handed over) | "
        f"**{us(med(ours, 'caller_path_s'))}** | - |",
        f"| time in the garbage collector per call, no callbacks / six-hook class | "
        f"{us(med(ours, 'gc_none_s'))} / {us(med(ours, 'gc_six_s'))} | "
        f"{us(med(lite, 'gc_none_s'))} / {us(med(lite, 'gc_six_s'))} |",
        "",
        f"Ratios: the six-hook class makes an llmrelay call cost {o_six / o_none:.2f}x a "
        f"call without it (LiteLLM: {l_six / l_none:.2f}x, within its noise); an llmrelay "
        f"call with it costs {l_six / o_six:.0f}x less CPU than the same LiteLLM call. "
        f"LiteLLM's added cost is the difference of two ~{l_none * 1e3:.1f} ms figures: "
        f"see --instructions for a noise-free count.",
    ]


if __name__ == "__main__":
    main()
