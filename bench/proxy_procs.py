"""Process handling for the proxy benchmark: spawn servers in their own process groups,
wait until they answer, read CPU time and RSS of their whole process tree from /proc, and
stop them (the group, TERM then KILL). Linux only."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Server", "free_port", "post_json", "tree_cpu_seconds", "tree_pids", "tree_rss_mb"]

_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state, 1 = ppid)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (by parent pid), alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of every live process in the tree (all threads included)."""
    total = 0
    for pid in tree_pids(root):
        st = _stat(pid)
        if st is not None:
            total += int(st[11]) + int(st[12])
    return total / _TICK


def tree_rss_mb(root: int) -> float:
    """Sum of VmRSS over the tree, in MB (shared pages of forked workers count twice)."""
    kb = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
        except OSError:
            pass
    return kb / 1024


def post_json(port: int, path: str, body: dict[str, Any], key: str | None = None,
              timeout: float = 30.0) -> tuple[int, bytes]:
    """One POST to 127.0.0.1:port; returns (status, raw body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@dataclass
class Server:
    """A server process started in its own session; output goes to ``log``."""

    name: str
    cmd: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    keep_stdin: bool = False  # give it a pipe as stdin (closed by stop())
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    startup_s: float | None = None

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.started_at = time.perf_counter()
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.PIPE if self.keep_stdin
                                         else subprocess.DEVNULL, env=self.env or None,
                                         cwd=self.cwd, start_new_session=True)

    def wait_ready(self, path: str, timeout: float = 90.0) -> float:
        """Poll ``GET path`` until 200; returns seconds since spawn. Raises RuntimeError
        (with the log's tail) when the process exits or ``timeout`` passes first."""
        assert self.proc is not None
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.tail()}")
            try:
                if _get_status(self.port, path) == 200:
                    self.startup_s = time.perf_counter() - self.started_at
                    return self.startup_s
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not answer {path} within {timeout:.0f} s:\n"
                           f"{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return tree_cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return tree_rss_mb(self.pid)

    def stop(self, grace: float = 8.0) -> None:
        """TERM the process group, KILL it after ``grace`` seconds; never raises."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2.0)
                return
            except subprocess.TimeoutExpired:
                pass
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # a worker that outlived its parent is still in the group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
