"""How the proxy serves the dashboard's files at /ui (no browser): content types, the
Content-Security-Policy and other headers, ETag revalidation, no way out of the folder,
the switches that turn it off (DISABLE_ADMIN_UI, general_settings.disable_admin_ui),
general_settings.allowed_routes, and the files being in the built wheel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from asgi_support import MOCK, in_process

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "src" / "llmrelay" / "proxy" / "ui"


async def test_page_and_files_with_their_types_and_headers(tmp_path: Path) -> None:
    async with in_process(tmp_path, {"model_list": [MOCK]}) as proxy:
        for path in ("/ui", "/ui/"):
            r = await proxy.http.get(path)
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert '<script type="module" src="/ui/main.js">' in r.text
        csp = r.headers["content-security-policy"]
        for rule in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                     "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
            assert rule in csp
        assert "unsafe" not in csp and "http" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-cache"
        for path, kind in (("/ui/main.js", "text/javascript; charset=utf-8"),
                           ("/ui/pages/keys.js", "text/javascript; charset=utf-8"),
                           ("/ui/app.css", "text/css; charset=utf-8"),
                           ("/ui/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
                           ("/ui/vendor/uPlot.LICENSE.txt", "text/plain; charset=utf-8"),
                           ("/ui/icon.svg", "image/svg+xml")):
            r = await proxy.http.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"] == kind, path
            assert r.headers["content-security-policy"] == csp
        head = await proxy.http.head("/ui/main.js")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len((UI / "main.js").read_bytes())


async def test_etag_revalidation(tmp_path: Path) -> None:
    async with in_process(tmp_path, {"model_list": [MOCK]}) as proxy:
        first = await proxy.http.get("/ui/app.css")
        tag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{20}"', tag)
        again = await proxy.http.get("/ui/app.css", headers={"if-none-match": tag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == tag
        other = await proxy.http.get("/ui/app.css", headers={"if-none-match": '"stale"'})
        assert other.status_code == 200 and other.content == first.content
        page = await proxy.http.get("/ui")
        assert page.headers["etag"] != tag


@pytest.mark.parametrize("path", ["/ui/nothing.js", "/ui/../pyproject.toml",
                                  "/ui/%2e%2e/app.py", "/ui/pages/../../routes/ui.py",
                                  "/ui/pages", "/ui/__init__.py"])
async def test_nothing_outside_the_files(tmp_path: Path, path: str) -> None:
    async with in_process(tmp_path, {"model_list": [MOCK]}) as proxy:
        r = await proxy.http.get(path)
        assert r.status_code == 404, (path, r.text[:200])
        assert r.json()["error"]["code"] == "404"


async def test_no_key_is_needed_for_the_files_but_the_api_still_wants_one(
        tmp_path: Path) -> None:
    async with in_process(tmp_path, {"model_list": [MOCK]}) as proxy:
        assert (await proxy.http.get("/ui/main.js")).status_code == 200
        assert (await proxy.http.get("/key/list")).status_code == 401


async def test_turned_off_by_config(tmp_path: Path) -> None:
    config = {"model_list": [MOCK], "general_settings": {"disable_admin_ui": True}}
    async with in_process(tmp_path, config) as proxy:
        assert (await proxy.http.get("/ui")).status_code == 404
        assert (await proxy.http.get("/ui/main.js")).status_code == 404
        assert (await proxy.http.get("/health/liveliness")).status_code == 200


async def test_turned_off_by_litellms_variable(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISABLE_ADMIN_UI", "True")
    async with in_process(tmp_path, {"model_list": [MOCK]}) as proxy:
        assert (await proxy.http.get("/ui")).status_code == 404
    monkeypatch.setenv("DISABLE_ADMIN_UI", "False")
    async with in_process(tmp_path / "on", {"model_list": [MOCK]}) as proxy:
        assert (await proxy.http.get("/ui")).status_code == 200


async def test_allowed_routes_apply(tmp_path: Path) -> None:
    closed = {"model_list": [MOCK], "general_settings": {
        "allowed_routes": ["/chat/completions", "/key/list"]}}
    async with in_process(tmp_path / "closed", closed) as proxy:
        for path in ("/ui", "/ui/main.js"):
            r = await proxy.http.get(path)
            assert r.status_code == 403 and r.json()["error"]["code"] == "route_not_allowed"
    for listed in ("/ui", "ui_routes"):
        open_ = {"model_list": [MOCK], "general_settings": {
            "allowed_routes": ["/chat/completions", listed]}}
        async with in_process(tmp_path / listed.strip("/"), open_) as proxy:
            for path in ("/ui", "/ui/", "/ui/main.js", "/ui/vendor/uPlot.min.css"):
                assert (await proxy.http.get(path)).status_code == 200, (listed, path)
            assert (await proxy.http.get("/key/list")).status_code == 403
            assert (await proxy.http.get("/uix")).status_code == 403


def test_every_file_is_package_data() -> None:
    """Every file under proxy/ui/ matches a pattern of pyproject.toml's package-data, so
    the wheel ships it."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["llmrelay"]
    package = ROOT / "src" / "llmrelay"
    files = [p.relative_to(package).as_posix() for p in UI.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert "proxy/ui/index.html" in files and "proxy/ui/vendor/uPlot.iife.min.js" in files
    # setuptools' globs: "*" stays within one folder
    missing = [f for f in files if not any(
        fnmatch.fnmatch(f, pat) and f.count("/") == pat.count("/") for pat in patterns)]
    assert not missing, f"not in package-data: {missing}"
