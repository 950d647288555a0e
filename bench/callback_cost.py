"""The callback system's CPU cost: the reference doc's six-hook class on mock calls.

    python bench/callback_cost.py [--rounds 3] [--n 3000] [--litellm PYTHON]
    python bench/callback_cost.py --instructions     # needs valgrind; llmrelay only

``--instructions`` counts machine instructions per call under callgrind instead (the
difference between 300 and 900 calls, garbage collection off, fixed hash seed): the same
figures every run, free of the shared machine's noise and of cache effects, to set beside
the CPU times.

Each round runs llmrelay and LiteLLM in fresh interpreters (``_worker.py callbacks``); each
worker interleaves 5 rounds with and without the logger and reports medians of CPU time
(``time.process_time``: every thread of the process, delivery included; the caller's own
thread with ``time.thread_time``). Figures are per call and shown as the added cost and as
ratios, since the shared machine makes absolute times drift. LiteLLM's Python comes from
``--litellm`` (default: bench/.venv-litellm, created by run.py).
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import LITELLM_VENV, litellm_python, run_worker  # noqa: E402


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


DRIVER = """
import gc, sys
gc.disable()
sys.path.insert(0, {src!r})
import llmrelay
from llmrelay.callbacks.dispatcher import dispatcher
from llmrelay.integrations.custom_logger import CustomLogger
class Handler(CustomLogger):
    def log_pre_api_call(self, model, messages, kwargs): pass
    def log_post_api_call(self, kwargs, r, s, e): pass
    def log_success_event(self, kwargs, r, s, e): pass
    def log_failure_event(self, kwargs, r, s, e): pass
    async def async_log_success_event(self, kwargs, r, s, e): pass
    async def async_log_failure_event(self, kwargs, r, s, e): pass
mode, n = sys.argv[1], int(sys.argv[2])
if mode != "none":
    llmrelay.callbacks = [Handler()]
if mode == "caller":
    dispatcher.submit = lambda job: None  # the caller's work alone: jobs dropped
def call():
    llmrelay.completion(model="gpt-4o-mini", messages=[{{"role": "user", "content": "Hi"}}],
                        mock_response="Hello there")
for _ in range(50):
    call()
llmrelay.flush(10)
for _ in range(n):
    call()
llmrelay.flush(30)
"""


def instructions(mode: str, n: int, driver: str) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          "--fair-sched=yes", sys.executable, driver, mode, str(n)],
                         capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert found, out.stderr[-2000:]
    return int(found.group(1))


def instruction_table() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        driver = os.path.join(tmp, "driver.py")
        Path(driver).write_text(DRIVER.format(src=str(HERE.parent / "src")))
        per = {m: (instructions(m, 900, driver) - instructions(m, 300, driver)) / 600
               for m in ("none", "caller", "six")}
    base = per["none"]
    print("| instructions per mock call | count | vs no callbacks |", "|---|---|---|",
          f"| no callbacks | {per['none']:,.0f} | 1.00x |",
          f"| six-hook class: caller's work alone | +{per['caller'] - base:,.0f} | "
          f"{per['caller'] / base:.2f}x |",
          f"| six-hook class: total, delivery included | +{per['six'] - base:,.0f} | "
          f"{per['six'] / base:.2f}x |", sep="\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--litellm", default=None, help="python of a LiteLLM virtualenv")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions under callgrind (llmrelay only)")
    args = ap.parse_args()
    if args.instructions:
        instruction_table()
        return
    theirs = args.litellm or (str(LITELLM_VENV / "bin" / "python")
                              if (LITELLM_VENV / "bin" / "python").exists() else litellm_python())
    ours: list[dict[str, float]] = []
    lite: list[dict[str, float]] = []
    for _ in range(args.rounds):
        ours.append(run_worker(sys.executable, "callbacks", "llmrelay", "-", args.n))
        lite.append(run_worker(theirs, "callbacks", "litellm", "-", max(200, args.n // 10)))

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    o_none, o_six = med(ours, "none_total_s"), med(ours, "six_total_s")
    o_nc, o_sc = med(ours, "none_caller_s"), med(ours, "six_caller_s")
    o_held = med(ours, "caller_path_s")
    l_none, l_six = med(lite, "none_total_s"), med(lite, "six_total_s")
    added, l_added = o_six - o_none, l_six - l_none
    lines = [
        "| CPU per mock call | llmrelay | LiteLLM |", "|---|---|---|",
        f"| no callbacks | {us(o_none)} | {us(l_none)} |",
        f"| six-hook class, total (all threads, delivery included) | {us(o_six)} | "
        f"{us(l_six)} |",
        f"| added by the six-hook class, total | **{us(added)}** | {us(l_added)} |",
        f"| added, on the caller's thread (tight loop, delivery running) | "
        f"{us(o_sc - o_nc)} | - |",
        f"| added, work on the caller's path alone (events dropped when handed over) | "
        f"**{us(o_held - o_nc)}** | - |",
        "",
        f"Ratios: with the six-hook class an llmrelay call costs {o_six / o_none:.2f}x a "
        f"call with no callbacks, and {l_six / o_six:.0f}x less CPU than the same LiteLLM "
        f"call ({l_six / l_none:.2f}x its own call without callbacks; LiteLLM's added "
        f"{us(l_added)} is the difference of two ~{l_none * 1e3:.1f} ms figures, so it "
        f"moves by tens of µs between runs).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
