"""Instructions per request of ``llmrelay serve`` under callgrind: a load-independent
figure for before/after comparisons on a shared machine.

    python bench/proxy_instructions.py [--requests 200] [--warmup 40] [--stream]
        [--relay NAME=SRC_DIR ...]

For each relay (this checkout as ``llmrelay``, plus any ``--relay``), starts
bench/proxy_upstream.py (not measured) and ``llmrelay serve`` (one worker, the config
bench/proxy_rounds.py uses) under ``valgrind --tool=callgrind`` with instrumentation off,
sends ``--warmup`` requests one at a time on one keep-alive connection, switches
instrumentation on (``callgrind_control -i on``), sends ``--requests`` more, dumps the
counters (``callgrind_control -d``) and prints the user-space instructions per request,
all threads of the process together (the key store's SQLite thread included), and those
of the event loop's thread alone (the request path and the spend writer's batching; less
noisy: the SQLite work per request depends on how the writer's batches fell).
Needs valgrind.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from proxy_procs import Server, free_port  # noqa: E402

MODEL = "gpt-4o-mini"


def _body(stream: bool) -> bytes:
    body: dict[str, object] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(body).encode()


def _send(conn: http.client.HTTPConnection, n: int, stream: bool) -> None:
    body = _body(stream)
    for _ in range(n):
        conn.request("POST", "/v1/chat/completions", body,
                     {"content-type": "application/json", "authorization": "Bearer sk-x"})
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"answer {resp.status}: {raw[:300]!r}")


def _control(pid: int, *args: str) -> str:
    out = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True,
                         text=True, timeout=120, check=False)
    return out.stdout + out.stderr


def measure(src: str, up_port: int, tmp: Path, name: str, args: argparse.Namespace) -> float:
    cfg = tmp / "config.yaml"
    cfg.write_text("\n".join([
        "model_list:", f"  - model_name: {MODEL}", "    litellm_params:",
        f"      model: openai/{MODEL}", f"      api_base: http://127.0.0.1:{up_port}/v1",
        "      api_key: sk-upstream"]) + "\n")
    data = tmp / f"data-{name}"
    data.mkdir()
    out = tmp / f"callgrind-{name}.out"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(PYTHONPATH=str(Path(src) / "src"), LLMRELAY_DATA_DIR=str(data),
               LLMRELAY_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",
               PYTHONHASHSEED="0", NO_PROXY="127.0.0.1")
    port = free_port()
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
           f"--callgrind-out-file={out}",
           sys.executable, "-m", "llmrelay.cli", "serve", "--config", str(cfg),
           "--port", str(port)]
    srv = Server(name, cmd, port, tmp / f"{name}.log", env=env, cwd=str(tmp))
    srv.start()
    try:
        srv.wait_ready("/health/liveliness", timeout=600)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        _send(conn, args.warmup, args.stream)
        _control(srv.pid, "-i", "on")
        _send(conn, args.requests, args.stream)
        time.sleep(0.5)  # the spend writer's batch for the last requests
        _control(srv.pid, "-d")
        conn.close()
    finally:
        srv.stop()
    if os.environ.get("KEEP"):
        import shutil
        shutil.copytree(tmp, os.environ["KEEP"], dirs_exist_ok=True)
    main = total = 0
    for dump in tmp.glob(f"callgrind-{name}.out.1-*"):  # the dump (not the exit's counts)
        text = dump.read_text(errors="replace")
        found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        thread = re.search(r"^thread: (\d+)", text, re.M)
        if found:
            total += int(found.group(1))
            if thread is not None and thread.group(1) == "1":
                main = int(found.group(1))
    if not total:
        raise RuntimeError(f"no callgrind totals for {name}:\n{srv.tail()}")
    return main / args.requests, total / args.requests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--stream", action="store_true",
                    help="streamed requests (7 chunks + usage) instead of whole answers")
    ap.add_argument("--relay", action="append", default=[], metavar="NAME=SRC_DIR")
    args = ap.parse_args()
    relays = [("llmrelay", str(HERE.parent))] + [tuple(r.split("=", 1)) for r in args.relay]
    with tempfile.TemporaryDirectory(prefix="proxy-instr-") as t:
        tmp = Path(t)
        up_port = free_port()
        up = Server("upstream", [sys.executable, str(HERE / "proxy_upstream.py"), "--port",
                                 str(up_port)], up_port, tmp / "upstream.log", keep_stdin=True)
        up.start()
        try:
            up.wait_ready("/v1/models", timeout=30)
            for name, src in relays:
                main, total = measure(src, up_port, tmp, name, args)
                print(f"{name}: {total:,.0f} instructions per "
                      f"{'stream' if args.stream else 'non-stream'} request, all threads; "
                      f"{main:,.0f} on the event loop's thread", flush=True)
        finally:
            up.stop()


if __name__ == "__main__":
    main()
