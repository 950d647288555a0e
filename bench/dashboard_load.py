"""The dashboard's first load: bytes and requests, measured in headless Chromium.

    python bench/dashboard_load.py [--screenshot docs/dashboard.png] [--no-litellm]

Starts ``llmrelay serve`` (SQLite, mock models, a few teams, keys and requests), then in a
fresh browser context each time (empty cache) loads:

1. the sign-in page (``/ui``): what anyone opening the dashboard downloads;
2. the sign-in page, then signing in with the master key (the keys page);
3. that, then opening the spend page (its plots fetch the vendored uPlot);
4. the same page again in the same context (warm: ETag revalidation).

Bytes are the response bodies as received (Chromium's count; the proxy does not
compress), headers not counted; "no body" counts answers that carried none (a 304 after
an ETag revalidation, or a 400 without content). As a baseline in the same run,
LiteLLM's own dashboard (the Next.js export in its wheel, ``litellm/proxy/_experimental/
out``) is served from its files by a static server on loopback and its sign-in page
(``/ui/login``) loaded the same way (its API calls answered 404 at once); LiteLLM comes
from bench/.venv-litellm (run.py creates it) unless ``--litellm-ui DIR`` names the folder.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests" / "proxy"), str(HERE)]

from proxy_harness import MASTER_KEY, Proxy, start_proxy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PRICED = {"input_cost_per_token": 0.0005, "output_cost_per_token": 0.0015}  # illustrative


def seed(proxy: Proxy) -> None:
    """Teams, keys and some traffic, so the pages have something to show."""
    h = proxy.headers()
    keys = []
    for team, n in (("research", 14), ("support", 9), ("growth", 5)):
        made = proxy.http.post("/team/new", headers=h, json={"team_alias": team,
                                                              "max_budget": 25})
        team_id = made.json()["team_id"]
        for i in range(2):
            keys.append((proxy.create_key(key_alias=f"{team}-app-{i}", team_id=team_id,
                                          max_budget=10)["key"], n * (i + 1)))
    for key, n in keys:
        client = proxy.client(key)
        for j in range(n):
            client.chat.completions.create(
                model="gpt-4o" if j % 3 else "gpt-4o-mini",
                messages=[{"role": "user", "content": "summarise the ticket " * (1 + j % 5)}])
    proxy.spend_logs(sum(n for _, n in keys))


class Meter:
    """Requests and body bytes a page received."""

    def __init__(self, page: Any) -> None:
        self.finished: list[Any] = []
        page.on("requestfinished", lambda request: self.finished.append(request))

    def take(self) -> tuple[int, int, int]:
        """(requests, body bytes received, answers without a body) since the last take."""
        got, self.finished = self.finished, []
        # as received: no body for a 304 (ETag revalidation) or a 400 without content
        sizes = [int(r.sizes()["responseBodySize"]) for r in got if r.response() is not None]
        return len(sizes), sum(sizes), sum(1 for b in sizes if b == 0)


def dashboard(chromium: Any, proxy: Proxy, shot: Path | None) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    meter = Meter(page)
    page.goto(proxy.url + "/ui", wait_until="networkidle")
    out["sign-in page"] = meter.take()
    page.get_by_label("API key").fill(MASTER_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("table", name="Virtual keys").wait_for()
    page.wait_for_load_state("networkidle")
    out["+ sign in (keys page)"] = meter.take()
    page.get_by_role("link", name="Spend", exact=True).click()
    page.locator("figure.chart canvas").nth(1).wait_for()
    page.wait_for_load_state("networkidle")
    out["+ spend page (plots)"] = meter.take()
    if shot is not None:
        page.wait_for_timeout(300)
        page.screenshot(path=str(shot))
    page.reload(wait_until="networkidle")
    page.locator("figure.chart canvas").nth(1).wait_for()
    page.wait_for_load_state("networkidle")
    out["spend page reloaded (warm)"] = meter.take()
    ctx.close()
    return out


def litellm_ui_dir(given: str | None) -> Path | None:
    if given:
        return Path(given)
    from run import litellm_python

    where = subprocess.run([litellm_python(), "-c", "import importlib.util, os; print(os.path"
                            ".dirname(importlib.util.find_spec('litellm').origin))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    found = Path(where) / "proxy" / "_experimental" / "out"
    return found if found.is_dir() else None


def serve_static(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """LiteLLM's exported UI from its files: ``/litellm-asset-prefix/...`` and ``/ui/...``
    map onto the folder (as its proxy mounts it); everything else is 404 at once."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path: str) -> str:
            path = path.split("?", 1)[0]
            for prefix in ("/litellm-asset-prefix/", "/ui/"):
                if path.startswith(prefix):
                    rest = path[len(prefix):]
                    target = folder / rest
                    if target.is_dir():
                        target = target / "index.html"
                    elif not target.exists() and (folder / (rest + ".html")).exists():
                        target = folder / (rest + ".html")
                    return str(target)
            return str(folder / "__missing__")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def litellm_login(chromium: Any, folder: Path) -> tuple[int, int, int]:
    server, url = serve_static(folder)
    try:
        ctx = chromium.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        meter = Meter(page)
        page.goto(url + "/ui/login", wait_until="networkidle")
        page.wait_for_timeout(500)
        found = meter.take()
        ctx.close()
        return found
    finally:
        server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--screenshot", type=Path, help="save the spend page here (PNG)")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--litellm-ui", help="LiteLLM's _experimental/out folder")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    models = [{"model_name": name, "litellm_params": {"model": f"mock/{name}",
                                                      "mock_response": "Done."},
               "model_info": {"id": f"dep-{name}", **PRICED}}
              for name in ("gpt-4o", "gpt-4o-mini")]
    with tempfile.TemporaryDirectory() as tmp:
        proxy = start_proxy(Path(tmp), {"model_list": models, "general_settings": {
            "store_prompts_in_spend_logs": True}}, master_key=MASTER_KEY)
        try:
            seed(proxy)
            with sync_playwright() as p:
                chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
                ours = dashboard(chromium, proxy, args.screenshot)
                theirs = None
                if not args.no_litellm:
                    folder = litellm_ui_dir(args.litellm_ui)
                    theirs = litellm_login(chromium, folder) if folder else None
                chromium.close()
        finally:
            proxy.stop()
    print("| load | requests | bytes | no body |\n|---|---|---|---|")
    for name, (n, size, revalidated) in ours.items():
        print(f"| llmrelay: {name} | {n} | {size:,} | {revalidated} |")
    if theirs is not None:
        n, size, _ = theirs
        print(f"| LiteLLM: sign-in page (/ui/login) | {n} | {size:,} | |")
        first = ours["sign-in page"]
        print(f"\nsign-in page: llmrelay / LiteLLM = {first[1] / size:.3f} of the bytes, "
              f"{first[0]}/{n} requests")
        total = sum(v[1] for k, v in ours.items() if "warm" not in k)
        print(f"whole first visit (sign-in + keys + spend): {total:,} bytes = "
              f"{total / size:.3f} of LiteLLM's sign-in page alone")


if __name__ == "__main__":
    main()
