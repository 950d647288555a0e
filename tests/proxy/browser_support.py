"""Browser tests' support: Debian's chromium (``/usr/bin/chromium``, installed by
``make test``'s set-up, ``scripts/ensure_chromium.sh``) driven by Playwright for Python,
and the directory screenshots go to (``$LLMRELAY_TEST_ARTIFACTS``, else
``tests/artifacts/``, git-ignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("LLMRELAY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LLMRELAY_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / "artifacts")


def _unavailable(message: str) -> None:
    if os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def browser() -> Iterator[Any]:
    """A generator for a fixture: headless chromium, closed afterwards; skips (fails
    with ``LLMRELAY_REQUIRE_SERVICES=1``) when the browser or Playwright is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Any, name: str, full: bool = True) -> Path:
    """Save a screenshot as a test artifact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


class Watch:
    """What a page did that it must not: requests leaving the proxy's origin, Content
    Security Policy violations, uncaught script errors."""

    def __init__(self, page: Any, origin: str) -> None:
        self.external: list[str] = []
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("request", self._request(origin))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _request(self, origin: str) -> Any:
        def seen(request: Any) -> None:
            self.requests.append(request.url)
            if not request.url.startswith((origin + "/", "data:", "blob:")):
                self.external.append(request.url)
        return seen

    def _console(self, message: Any) -> None:
        text = str(message.text)
        if "Content Security Policy" in text or "Refused to" in text:
            self.problems.append(f"CSP: {text}")

    def check(self) -> None:
        assert not self.external, f"requests outside the proxy: {self.external}"
        assert not self.problems, self.problems
