"""Helpers for the integration tests: child interpreters that import this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import llmrelay

SRC = str(Path(llmrelay.__file__).resolve().parents[1])


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that imports this checkout's llmrelay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_"))}
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def start_python(code: str, **extra: str) -> subprocess.Popen[str]:
    """Start ``code`` in a child interpreter (collect it with ``.communicate()``)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            env=python_env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{out}\n{err}"
    return out
