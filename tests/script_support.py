"""Run a Python script in a fresh interpreter with this checkout's ``src`` on the path (for
tests of what happens at process exit, after fork, or with a patched runtime)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")


def run_script(script: str, tmp_path: Path, timeout: float = 120
               ) -> subprocess.CompletedProcess[str]:
    """Write ``script`` (dedented) to ``tmp_path`` and run it; its completed process."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          env=env, timeout=timeout)
