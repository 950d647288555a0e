"""The fake OpenAI upstream for benchmarks, in its own process: prints its URL, then serves
until stdin closes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.openai_server import FakeOpenAI


def main() -> None:
    srv = FakeOpenAI(record=False)
    srv.default_content = "Hello from the fake upstream"  # 7 chunks when streamed
    srv.start()
    print(srv.url, flush=True)
    sys.stdin.read()
    srv.stop()


if __name__ == "__main__":
    main()
