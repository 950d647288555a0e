"""The app's short path for the LLM endpoints keeps Starlette's error and middleware
behaviour."""

from __future__ import annotations

import httpx
import pytest
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from llmrelay.proxy.app import ProxyApp, create_app


async def _broken(request: Request) -> Response:
    raise RuntimeError("handler bug")


async def _post(app: ProxyApp, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        return await client.post(path, json={"model": "m", "messages": []})


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/embeddings"])
async def test_an_error_escaping_the_handler_is_an_openai_500(
        monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    app = create_app()
    assert isinstance(app, ProxyApp)
    monkeypatch.setitem(ProxyApp._fast, path, _broken)
    r = await _post(app, path)
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "api_error"
    assert "RuntimeError" in r.json()["error"]["message"]


async def test_added_middleware_sees_the_llm_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app()
    monkeypatch.setitem(ProxyApp._fast, "/v1/chat/completions", _broken)
    seen: list[str] = []

    async def mark(request: Request, call_next: object) -> Response:
        seen.append(request.url.path)
        return Response("from middleware", status_code=418)

    app.add_middleware(BaseHTTPMiddleware, dispatch=mark)
    r = await _post(app, "/v1/chat/completions")
    assert (r.status_code, r.text, seen) == (418, "from middleware", ["/v1/chat/completions"])
