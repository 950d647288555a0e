"""The admin dashboard at ``/ui``: static files shipped in the package (``proxy/ui/``).

The dashboard is plain HTML, CSS and JavaScript modules (no build step) that call the
proxy's own JSON API with the key the user signs in with as a Bearer token; what a key
may see and change is decided by the API's role checks, not here. These routes serve the
files only and need no key.

* ``GET /ui`` (and ``/ui/``): the page; ``GET /ui/<file>``: its scripts, styles and the
  vendored plotting library. Unknown files are 404; nothing outside ``proxy/ui/`` is read.
* Every answer carries a strict Content-Security-Policy (same-origin scripts, styles and
  requests only: the dashboard makes no external request), ``nosniff``, no referrer, no
  framing. Files are read once and answered with an ``ETag``; ``Cache-Control: no-cache``
  makes browsers revalidate (a 304 without the body) so an upgrade is seen at once.
* ``DISABLE_ADMIN_UI=true`` (LiteLLM's variable) or ``general_settings.disable_admin_ui``
  turns the routes off (404). ``general_settings.allowed_routes`` applies as to every
  route: listing ``/ui`` (or the group ``ui_routes``) lets the dashboard's files through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["CSP", "ui_routes"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
          ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
_SECURITY = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
             "referrer-policy": "no-referrer", "x-frame-options": "DENY",
             "cross-origin-opener-policy": "same-origin",
             "cross-origin-resource-policy": "same-origin"}


@dataclass(frozen=True)
class _File:
    body: bytes
    media_type: str
    etag: str


def _load() -> dict[str, _File]:
    """Every servable file under ``proxy/ui/``, by its path below ``/ui/``."""
    from importlib import resources  # on first use, as the files are read

    files: dict[str, _File] = {}
    root = resources.files("llmrelay.proxy").joinpath("ui")

    def walk(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            name = child.name
            if name.startswith((".", "_")):
                continue
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
                continue
            suffix = name[name.rfind("."):] if "." in name else ""
            media = _TYPES.get(suffix)
            if media is None:
                continue
            body = child.read_bytes()
            tag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            files[prefix + name] = _File(body, media, tag)

    walk(root, "")
    return files


class _Assets:
    """The files, read on first use (not at import: a proxy without the dashboard never
    reads them)."""

    def __init__(self) -> None:
        self._files: dict[str, _File] | None = None

    def get(self, path: str) -> _File | None:
        if self._files is None:
            self._files = _load()
        return self._files.get(path)


_ASSETS = _Assets()


def _not_found(path: str) -> Response:
    from ..errors import error_body
    from ..sse import json_response

    return json_response(error_body(f"Invalid URL (GET {path})", "invalid_request_error",
                                    None, "404"), 404, dict(_SECURITY))


def _answer(request: Request, name: str) -> Response:
    found = _ASSETS.get(name)
    if found is None:
        return _not_found(request.url.path)
    headers = {**_SECURITY, "etag": found.etag, "cache-control": "no-cache"}
    asked = request.headers.get("if-none-match", "")
    if found.etag in (tag.strip() for tag in asked.split(",")) or asked.strip() == "*":
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers,
                        "content-length": str(len(found.body))}, media_type=found.media_type)
    return Response(found.body, media_type=found.media_type, headers=headers)


async def index(request: Request) -> Response:
    return _answer(request, "index.html")


async def asset(request: Request) -> Response:
    name = str(request.path_params["name"])
    if not name or ".." in name.split("/") or name.startswith("/"):
        return _not_found(request.url.path)
    return _answer(request, name)


def ui_routes(enabled: bool = True) -> list[BaseRoute]:
    """The dashboard's routes (none when it is turned off)."""
    if not enabled:
        return []
    methods = ["GET", "HEAD"]
    return [Route("/ui", index, methods=methods), Route("/ui/", index, methods=methods),
            Route("/ui/{name:path}", asset, methods=methods)]
