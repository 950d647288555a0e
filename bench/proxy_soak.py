"""Soak test: ``llmrelay serve`` (1 worker) under constant load for a long time, RSS over time.

    python bench/proxy_soak.py [--minutes 10] [--every 30] [--connections 50] [--stream]
                               [--virtual-key] [--env NAME=VALUE ...]

Starts the fake upstream (bench/proxy_upstream.py) and one ``llmrelay serve`` on 127.0.0.1
with a fresh SQLite database, then runs wrk back to back in ``--every``-second slices for
``--minutes``. After each slice it prints one markdown table row: elapsed time, requests/s
in the slice, server CPU ms per request, RSS of the server (MB), and the size of the
database plus its WAL (MB). Issue 6 asks for RSS under 100 MB and flat over 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from proxy_bench import CHAT, HEALTH, MASTER_KEY, Bench, _virtual_key, _write_config  # noqa: E402
from proxy_load import run_load  # noqa: E402
from proxy_procs import free_port  # noqa: E402


def _db_mb(tmp: Path) -> float:
    return sum(p.stat().st_size for p in tmp.glob("llmrelay.db*")) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds per load slice")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--virtual-key", action="store_true",
                    help="master key configured; requests carry a generated key")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the server (repeatable)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.env)
    with tempfile.TemporaryDirectory(prefix="proxy-soak-") as d:
        tmp = Path(d)
        bench = Bench(argparse.Namespace(), tmp)
        try:
            py = sys.executable
            up_port = free_port()
            up = bench.spawn("upstream", [py, str(HERE / "proxy_upstream.py"), "--port",
                                          str(up_port)], up_port, {}, keep_stdin=True)
            up.wait_ready("/v1/models", timeout=30)
            cfg = _write_config(tmp / "config.yaml", up_port,
                                MASTER_KEY if args.virtual_key else None)
            port = free_port()
            env = {"PYTHONPATH": str(ROOT / "src"), "LLMRELAY_DATA_DIR": str(tmp), **extra}
            srv = bench.spawn("llmrelay", [py, "-m", "llmrelay.cli", "serve", "--config",
                                           str(cfg), "--port", str(port), "--workers", "1"],
                              port, env)
            srv.wait_ready(HEALTH)
            time.sleep(0.5)
            key = _virtual_key(port) if args.virtual_key else None
            url = f"http://127.0.0.1:{port}{CHAT}"
            rows = [{"t_s": 0.0, "rps": 0.0, "cpu_ms": 0.0, "rss_mb": srv.rss_mb(),
                     "db_mb": _db_mb(tmp), "errors": 0}]
            print(f"soak: {args.minutes:g} min, {args.connections} connections, "
                  f"{'stream' if args.stream else 'non-stream'}"
                  f"{', virtual key' if key else ''}{', env ' + str(extra) if extra else ''}")
            print("| elapsed s | requests/s | CPU ms / request | RSS MB | DB + WAL MB | errors |")
            print("|---|---|---|---|---|---|")
            print(f"| 0 | - | - | {rows[0]['rss_mb']:.0f} | {rows[0]['db_mb']:.1f} | 0 |",
                  flush=True)
            start = time.monotonic()
            while time.monotonic() - start < args.minutes * 60:
                cpu0 = srv.cpu()
                load = run_load(url, args.connections, args.every, args.stream, key)
                cpu = (srv.cpu() - cpu0) * 1000 / load.requests if load.requests else 0.0
                row = {"t_s": time.monotonic() - start, "rps": load.rps, "cpu_ms": cpu,
                       "rss_mb": srv.rss_mb(), "db_mb": _db_mb(tmp), "errors": load.errors}
                rows.append(row)
                print(f"| {row['t_s']:.0f} | {load.rps:,.0f} | {cpu:.3f} | "
                      f"{row['rss_mb']:.0f} | {row['db_mb']:.1f} | {load.errors} |", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        finally:
            bench.stop_all()


if __name__ == "__main__":
    main()
