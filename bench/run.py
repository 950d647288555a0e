"""Benchmarks: llmrelay beside the fastest bare client and beside LiteLLM, in one run.

    python bench/run.py [--quick] [--no-litellm]

Creates bench/.venv-litellm (LiteLLM from PyPI) on first use. Every measurement runs in a
fresh interpreter against a fake OpenAI upstream in its own process on 127.0.0.1. Figures
are reported as ratios and differences against baselines measured in the same run, since
the machine is shared and noisy. Writes bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LITELLM_VENV = HERE / ".venv-litellm"


def litellm_python() -> str:
    py = LITELLM_VENV / "bin" / "python"
    if not py.exists():
        print("creating", LITELLM_VENV, "with LiteLLM (first run only)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "litellm"], check=True)
    return str(py)


def run_worker(python: str, scenario: str, target: str, url: str, n: int) -> dict[str, float]:
    # LiteLLM fetches its price map from GitHub at import unless told not to: offline that
    # is seconds of retries, which no LiteLLM user with a network pays
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), LITELLM_LOCAL_MODEL_COST_MAP="True")
    out = subprocess.run([python, str(HERE / "_worker.py"), scenario, target, url, str(n)],
                         capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{scenario}/{target} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


IMPORT_PROBE = (
    "import resource, sys, time; base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
    "t = time.perf_counter(); import {mod}; dt = time.perf_counter() - t; "
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; print(dt, rss - base, rss)"
)


def import_cost(python: str, mod: str, rounds: int = 5) -> tuple[float, float, float]:
    # no price-map fetch at LiteLLM's import (see run_worker)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), LITELLM_LOCAL_MODEL_COST_MAP="True")
    samples = []
    for _ in range(rounds):
        out = subprocess.run([python, "-c", IMPORT_PROBE.format(mod=mod)], capture_output=True,
                             text=True, env=env, check=True)
        dt, drss, rss = out.stdout.split()
        samples.append((float(dt), float(drss) / 1024, float(rss) / 1024))
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
            statistics.median(s[2] for s in samples))


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM columns")
    args = ap.parse_args()
    ours = sys.executable
    theirs = None if args.no_litellm else litellm_python()
    scale = 0.2 if args.quick else 1.0

    up = subprocess.Popen([ours, str(HERE / "_upstream.py")], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    assert up.stdout is not None
    url = up.stdout.readline().strip()
    lines = ["# Benchmark results", "",
             f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; upstream: fake "
             f"OpenAI server in its own process on loopback.", ""]
    try:
        imp = import_cost(ours, "llmrelay")
        lines += ["## import", "", "| | wall time | RSS added | RSS total |", "|---|---|---|---|",
                  f"| llmrelay | {imp[0] * 1000:.0f} ms | {imp[1]:.1f} MB | {imp[2]:.1f} MB |"]
        if theirs:
            lit = import_cost(theirs, "litellm", rounds=3)
            lines.append(f"| LiteLLM | {lit[0] * 1000:.0f} ms | {lit[1]:.1f} MB | "
                         f"{lit[2]:.1f} MB |")
            lines += ["", f"llmrelay imports {lit[0] / imp[0]:.0f}x faster."]
        lines += [""]

        n_mock = int(20000 * scale)
        m = run_worker(ours, "mock", "llmrelay", url, n_mock)
        cb = run_worker(ours, "callbacks", "llmrelay", url, int(5000 * scale))
        lines += ["## mock calls (no network)", "",
                  "| | per call | vs llmrelay |", "|---|---|---|",
                  f"| llmrelay `completion(mock_response=...)` | {us(m['s'])} | 1.0x |"]
        if theirs:
            lm = run_worker(theirs, "mock", "litellm", url, int(1000 * scale))
            lines.append(f"| LiteLLM | {us(lm['s'])} | {lm['s'] / m['s']:.0f}x slower |")
        lines += ["", "## callback system cost (mock calls, CPU)", "",
                  "Total = CPU of every thread per call, delivery included; caller's path = "
                  "the callback system's work on the caller's thread alone (see "
                  "bench/callback_cost.py).",
                  "", "| | per call | added by callbacks |", "|---|---|---|",
                  f"| llmrelay, no callbacks | {us(cb['none_total_s'])} | - |",
                  f"| llmrelay, six-hook class, total | {us(cb['six_total_s'])} | "
                  f"{us(cb['added_total_s'])} |",
                  f"| llmrelay, six-hook class, caller's path | - | "
                  f"{us(cb['caller_path_s'])} |"]
        if theirs:
            lcb = run_worker(theirs, "callbacks", "litellm", url, int(500 * scale))
            lines += [f"| LiteLLM, no callbacks | {us(lcb['none_total_s'])} | - |",
                      f"| LiteLLM, reference six-hook class | {us(lcb['six_total_s'])} | "
                      f"{us(lcb['added_total_s'])} |"]
        lines += [""]

        lines += ["## calls over HTTP to the fake upstream", "",
                  "Added = time per call minus the bare client's (httpx for sync, aiohttp for "
                  "async) in the same run. Streams are 7 chunks; `_long` streams 200 words.", "",
                  "| call | bare client | llmrelay | llmrelay added | LiteLLM | LiteLLM added |",
                  "|---|---|---|---|---|---|"]
        added: dict[str, tuple[float, float | None]] = {}
        for scen, n in (("sync", 2000), ("sync_stream", 1000), ("sync_stream_long", 200),
                        ("async", 2000), ("async_stream", 1000), ("async_stream_long", 200)):
            k = max(30, int(n * scale))
            bare = run_worker(ours, scen, "bare", url, k)["s"]
            mine = run_worker(ours, scen, "llmrelay", url, k)["s"]
            row = f"| {scen} | {us(bare)} | {us(mine)} | {us(mine - bare)} |"
            lit_added = None
            if theirs:
                lit_s = run_worker(theirs, scen, "litellm", url, max(20, k // 4))["s"]
                lit_added = lit_s - bare
                row += f" {us(lit_s)} | {us(lit_added)} |"
            else:
                row += " - | - |"
            added[scen] = (mine - bare, lit_added)
            lines.append(row)
            print(row, flush=True)
        # Per streamed chunk: the slope between a 7-chunk and a LONG-chunk stream, so the
        # fixed per-call cost cancels out (the long stream has LONG - 5 more chunks).
        extra_chunks = 200 - 5
        lines += ["", "Per streamed chunk (slope between the short and the long stream, "
                  f"{extra_chunks} more chunks):", "",
                  "| mode | llmrelay added per chunk | LiteLLM added per chunk |",
                  "|---|---|---|"]
        for mode in ("sync", "async"):
            short, long_ = added[f"{mode}_stream"], added[f"{mode}_stream_long"]
            mine_c = (long_[0] - short[0]) / extra_chunks
            lit_c = ("-" if short[1] is None or long_[1] is None
                     else us((long_[1] - short[1]) / extra_chunks))
            lines.append(f"| {mode} | {us(mine_c)} | {lit_c} |")
    finally:
        assert up.stdin is not None
        up.stdin.close()
        up.wait(timeout=10)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    (out_dir / "latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
