"""The fake OpenAI upstream for benchmarks, in its own process: prints its URL, then serves
until stdin closes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.openai_server import FakeOpenAI


def _content(body: dict[str, Any]) -> str:
    n = body.get("max_tokens")
    return " w".join([""] * (int(n) + 1)).strip() if n else "Hello from the fake upstream"


def main() -> None:
    srv = FakeOpenAI(record=False)
    # 7 chunks when streamed; a request with ``max_tokens: N`` gets N words instead, so a
    # benchmark can compare short and long streams and take the per-chunk slope.
    srv.default_content = _content
    srv.start()
    print(srv.url, flush=True)
    sys.stdin.read()
    srv.stop()


if __name__ == "__main__":
    main()
